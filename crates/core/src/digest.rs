//! SHA-256 in lowercase hex, the form model files are identified by
//! everywhere (the agent's `X-Content-Sha256` header, the library, the
//! rollout's default version). Over bytes, over any reader, or fed piece by
//! piece while the bytes stream past, so nothing has to be read twice.

use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};

/// SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// SHA-256 of everything `reader` yields, lowercase hex.
pub fn sha256_reader(reader: impl Read) -> io::Result<String> {
    let mut hasher = Sha256Hasher::new();
    hasher.consume(reader)?;
    Ok(hasher.finish())
}

/// A running SHA-256: feed it the bytes as they go by, read the hex at the
/// end. Also an [`io::Write`] sink, so `io::copy` can feed it.
#[derive(Debug, Clone, Default)]
pub struct Sha256Hasher {
    inner: Sha256,
    hashed_bytes: u64,
}

impl Sha256Hasher {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.inner.update(bytes);
        self.hashed_bytes += bytes.len() as u64;
    }

    /// Feed everything `reader` yields; returns how many bytes that was.
    pub fn consume(&mut self, mut reader: impl Read) -> io::Result<u64> {
        io::copy(&mut reader, self)
    }

    /// How many bytes went in so far.
    pub fn hashed_bytes(&self) -> u64 {
        self.hashed_bytes
    }

    /// The digest of everything fed in, lowercase hex.
    pub fn finish(self) -> String {
        hex::encode(self.inner.finalize())
    }
}

impl Write for Sha256Hasher {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SHA-256 of the empty string and of "abc" (FIPS 180-2 examples).
    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn known_digests() {
        assert_eq!(sha256_hex(b""), EMPTY);
        assert_eq!(sha256_hex(b"abc"), ABC);
        assert_eq!(sha256_reader(&b"abc"[..]).unwrap(), ABC);
    }

    #[test]
    fn pieces_hash_like_the_whole() {
        let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut hasher = Sha256Hasher::new();
        for piece in bytes.chunks(7_777) {
            hasher.update(piece);
        }
        assert_eq!(hasher.hashed_bytes(), bytes.len() as u64);
        assert_eq!(hasher.finish(), sha256_hex(&bytes));

        let mut resumed = Sha256Hasher::new();
        assert_eq!(resumed.consume(&bytes[..100_000]).unwrap(), 100_000);
        resumed.update(&bytes[100_000..]);
        assert_eq!(resumed.finish(), sha256_reader(bytes.as_slice()).unwrap());
    }

    #[test]
    fn reader_errors_are_passed_on() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk gone"))
            }
        }
        assert_eq!(sha256_reader(Broken).unwrap_err().to_string(), "disk gone");
    }
}
