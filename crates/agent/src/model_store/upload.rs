//! Receiving a model file over HTTP: the `X-Content-Sha256` and
//! `Content-Range` headers, the resumable part on disk, and installing the
//! part once its hash checks out.
//!
//! The SHA-256 runs while the body streams in (a resumed part is hashed
//! once when it is reopened), so a finished part is never read again. All
//! file work (writes, fsync, rename, directory sync) runs on the blocking
//! pool, never on the async workers.

use super::ModelStore;
use super::error::{ModelStoreError, Result, io_err};
use super::layout::{Layout, sync_dir};
use crate::identity::write_atomically;
use axum::body::{Body, Bytes};
use edgefleet_core::Sha256Hasher;
use edgefleet_core::wire::UploadResponse;
use futures_util::StreamExt;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Body bytes gathered before one blocking write: few handoffs to the
/// blocking pool, bounded memory per upload.
const WRITE_BATCH_BYTES: usize = 256 * 1024;

/// Lowercase a SHA-256 header value and check its form.
pub fn parse_sha256(value: Option<&str>) -> Result<String> {
    let v = value.ok_or(ModelStoreError::MissingHash)?.trim().to_ascii_lowercase();
    if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) { Ok(v) } else { Err(ModelStoreError::BadHash(v)) }
}

/// `Content-Range: bytes START-END/TOTAL` (END inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    pub start: u64,
    pub end: u64,
    pub total: u64,
}

impl ContentRange {
    pub fn parse(value: &str) -> Result<ContentRange> {
        let bad = || ModelStoreError::BadRange(value.to_owned());
        let rest = value.trim().strip_prefix("bytes ").ok_or_else(bad)?;
        let (span, total) = rest.split_once('/').ok_or_else(bad)?;
        let (start, end) = span.split_once('-').ok_or_else(bad)?;
        let num = |s: &str| s.trim().parse::<u64>().map_err(|_| bad());
        let (start, end, total) = (num(start)?, num(end)?, num(total)?);
        if start > end || end >= total {
            return Err(ModelStoreError::UnsatisfiableRange { start, end, total });
        }
        Ok(ContentRange { start, end, total })
    }

    fn len(&self) -> u64 {
        self.end - self.start + 1
    }
}

/// Run blocking file work off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await?
}

/// Removes an upload from the busy set when the upload ends, however it
/// ends (including the request future being dropped on disconnect).
struct BusyGuard<'a> {
    store: &'a ModelStore,
    key: (String, String),
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut busy) = self.store.busy.lock() {
            busy.remove(&self.key);
        }
    }
}

/// The part file of one upload and the running SHA-256 of every byte in
/// it. Blocking: used only on the blocking pool.
#[derive(Debug)]
struct PartWriter {
    path: PathBuf,
    file: std::fs::File,
    hasher: Sha256Hasher,
}

impl PartWriter {
    /// Open the part of `name`/`version` whose whole file hashes to `sha`.
    /// Without `resume_at` the upload starts over: this part and any stale
    /// part of the version are emptied. With it, the part must hold exactly
    /// that many bytes, which are hashed now, once.
    fn open(layout: &Layout, name: &str, version: &str, sha: &str, resume_at: Option<u64>) -> Result<PartWriter> {
        let path = layout.part_path(name, version, sha);
        let held = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let start = resume_at.unwrap_or(0);
        // Only a Content-Range resumes; a request without one starts over.
        if resume_at.is_some() && start != held {
            return Err(ModelStoreError::RangeMismatch { start, held });
        }
        if start == 0 {
            // A fresh upload: parts of other contents for this version are stale.
            for (stale, _) in layout.parts(name, version) {
                let _ = std::fs::remove_file(stale);
            }
        }
        let dir = layout.upload_dir(name);
        std::fs::create_dir_all(&dir).map_err(io_err(format!("cannot create {}", dir.display())))?;
        let mut hasher = Sha256Hasher::new();
        let opened = if start == 0 {
            std::fs::File::create(&path)
        } else {
            let held_bytes = std::fs::File::open(&path).map_err(io_err(format!("cannot open {}", path.display())))?;
            hasher
                .consume(std::io::BufReader::with_capacity(WRITE_BATCH_BYTES, held_bytes))
                .map_err(io_err(format!("cannot read {}", path.display())))?;
            std::fs::OpenOptions::new().append(true).open(&path)
        };
        let file = opened.map_err(io_err(format!("cannot open {}", path.display())))?;
        if hasher.hashed_bytes() != start {
            // Changed between the stat and the read: only someone outside the
            // agent can do that (uploads of one version are serialised).
            return Err(ModelStoreError::RangeMismatch { start, held: hasher.hashed_bytes() });
        }
        Ok(PartWriter { path, file, hasher })
    }

    /// Append `chunks` to the part and to the hash.
    fn append(&mut self, chunks: &[Bytes]) -> Result<()> {
        for chunk in chunks {
            self.file.write_all(chunk).map_err(io_err(format!("cannot write {}", self.path.display())))?;
            self.hasher.update(chunk);
        }
        Ok(())
    }

    /// Cut the part back to `len` bytes (what it held before this request).
    fn truncate(self, len: u64) -> Result<()> {
        self.file.set_len(len).map_err(io_err("cannot truncate the upload part"))
    }

    /// Make the part durable; returns how many bytes it holds and their hash.
    fn finish(self) -> Result<(u64, String)> {
        self.file.sync_all().map_err(io_err("cannot sync the upload part"))?;
        Ok((self.hasher.hashed_bytes(), self.hasher.finish()))
    }
}

/// Write one batch of the body on the blocking pool; hands the writer back.
async fn write_batch(mut writer: PartWriter, batch: Vec<Bytes>) -> Result<PartWriter> {
    blocking(move || {
        writer.append(&batch)?;
        Ok(writer)
    })
    .await
}

/// Move a verified part into place: hash sidecar first, then the atomic
/// rename that makes the version exist, then a directory fsync.
fn install(layout: &Layout, name: &str, version: &str, sha: &str, part: &Path) -> Result<()> {
    let dir = layout.model_dir(name);
    std::fs::create_dir_all(&dir).map_err(io_err(format!("cannot create {}", dir.display())))?;
    write_atomically(&layout.sha_path(name, version), sha.as_bytes(), false).map_err(|e| ModelStoreError::Io {
        context: "cannot write the hash sidecar".into(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let target = layout.model_path(name, version);
    std::fs::rename(part, &target).map_err(io_err(format!("cannot move the upload into {}", target.display())))?;
    sync_dir(&dir)
}

impl ModelStore {
    /// What is left of the storage budget, counted on the blocking pool.
    async fn storage_free_bytes_blocking(&self) -> Result<u64> {
        let (layout, budget) = (self.layout.clone(), self.storage_budget_bytes().unwrap_or(u64::MAX));
        blocking(move || Ok(budget.saturating_sub(super::storage_budget::used_bytes(&layout)))).await
    }

    fn no_space(&self, needs_bytes: u64, free_bytes: u64) -> ModelStoreError {
        let budget_bytes = self.storage_budget_bytes().unwrap_or(u64::MAX);
        ModelStoreError::NoSpace { needs_bytes, free_bytes, budget_bytes }
    }

    /// Receive (part of) an upload. `content_length` is the body length when
    /// the client announced it. Returns the new status; `complete` once the
    /// file is verified and installed.
    pub async fn upload(
        &self,
        name: &str,
        version: &str,
        sha: &str,
        range: Option<ContentRange>,
        content_length: Option<u64>,
        body: Body,
    ) -> Result<UploadResponse> {
        let response = |received_bytes, complete| UploadResponse {
            name: name.into(),
            version: version.into(),
            received_bytes,
            complete,
            sha256: sha.into(),
        };
        let owned = || (self.layout.clone(), name.to_owned(), version.to_owned(), sha.to_owned());

        let (layout, n, v, _) = owned();
        if let Some((installed_sha, size)) = blocking(move || layout.installed(&n, &v)).await? {
            return if installed_sha == sha {
                Ok(response(size, true))
            } else {
                Err(ModelStoreError::VersionExists { name: name.into(), version: version.into() })
            };
        }
        let start = range.map_or(0, |r| r.start);
        // The size the finished file will have, when the client told us.
        let total = range.map(|r| r.total).or(content_length);
        if let Some(size) = total.filter(|&t| t > self.limits.max_upload_bytes) {
            return Err(ModelStoreError::TooLarge { size, limit: self.limits.max_upload_bytes });
        }
        if let (Some(r), Some(len)) = (range, content_length)
            && len != r.len()
        {
            return Err(ModelStoreError::BadRange(format!(
                "bytes {}-{}/{} with a {len}-byte body",
                r.start, r.end, r.total
            )));
        }

        let key = (name.to_owned(), version.to_owned());
        let layout = self.layout.clone();
        let on_disk = blocking(move || Ok(layout.all_parts())).await?;
        // What the storage budget leaves (the held part of a resumed upload
        // is already counted as used).
        let free_for_this = match self.storage_budget_bytes() {
            Some(_) => Some(self.storage_free_bytes_blocking().await?),
            None => None,
        };
        // What this upload will hold when done (as far as it says), counted
        // against the parts quota together with everyone else's.
        let this_needs = total.unwrap_or(start).max(start);
        let others = {
            let mut busy = self.busy.lock().map_err(|_| ModelStoreError::Io {
                context: "upload registry poisoned".into(),
                source: std::io::Error::other("poisoned"),
            })?;
            if busy.contains_key(&key) {
                return Err(ModelStoreError::Busy { name: name.into(), version: version.into() });
            }
            let others = self.held_by_others(&on_disk, &busy, &key);
            if let Some(free) = free_for_this {
                // Other uploads in progress may still grow by what they declared.
                let reserved: u64 = busy.iter().filter(|(k, _)| **k != key).map(|(_, b)| *b).sum();
                let free = free.saturating_sub(reserved);
                let needs = this_needs.saturating_sub(start);
                if needs > free {
                    return Err(self.no_space(needs, free));
                }
            }
            if others + this_needs > self.limits.max_parts_bytes {
                return Err(ModelStoreError::QuotaExceeded {
                    would_hold: others + this_needs,
                    quota: self.limits.max_parts_bytes,
                });
            }
            busy.insert(key.clone(), this_needs);
            others
        };
        let _guard = BusyGuard { store: self, key };

        let (layout, n, v, s) = owned();
        let resume_at = range.map(|r| r.start);
        let mut writer = blocking(move || PartWriter::open(&layout, &n, &v, &s, resume_at)).await?;
        let part = writer.path.clone();

        let mut received = 0u64;
        let mut batch: Vec<Bytes> = Vec::new();
        let mut batch_bytes = 0usize;
        let mut stream = body.into_data_stream();
        let mut ended_early = false;
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!("upload body of {name}/{version} ended early: {e}");
                    ended_early = true;
                    break;
                }
            };
            let len = chunk.len() as u64;
            if start + received + len > self.limits.max_upload_bytes {
                drop(writer);
                let _ = tokio::fs::remove_file(&part).await;
                return Err(ModelStoreError::TooLarge {
                    size: start + received + len,
                    limit: self.limits.max_upload_bytes,
                });
            }
            if free_for_this.is_some_and(|free| received + len > free) {
                // Undeclared sizes meet the storage budget as the bytes come.
                blocking(move || writer.truncate(start)).await?;
                return Err(self.no_space(received + len, free_for_this.unwrap_or(0)));
            }
            if others + start + received + len > self.limits.max_parts_bytes {
                // Undeclared sizes are checked as the bytes come.
                blocking(move || writer.truncate(start)).await?;
                return Err(ModelStoreError::QuotaExceeded {
                    would_hold: others + start + received + len,
                    quota: self.limits.max_parts_bytes,
                });
            }
            if let Some(r) = range
                && received + len > r.len()
            {
                // Put the part back as it was before this request.
                blocking(move || writer.truncate(start)).await?;
                return Err(ModelStoreError::BodyLongerThanRange { expected: r.len() });
            }
            received += len;
            batch_bytes += chunk.len();
            batch.push(chunk);
            if batch_bytes >= WRITE_BATCH_BYTES {
                writer = write_batch(writer, std::mem::take(&mut batch)).await?;
                batch_bytes = 0;
            }
        }
        // What arrived before a broken body is kept (and synced) for a resume.
        let (held, actual) = blocking(move || {
            writer.append(&batch)?;
            writer.finish()
        })
        .await?;
        if ended_early {
            return Err(ModelStoreError::Truncated { held });
        }
        if let Some(t) = total
            && held < t
        {
            return Ok(response(held, false));
        }

        if actual != sha {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(ModelStoreError::HashMismatch { expected: sha.into(), actual });
        }
        let (layout, n, v, s) = owned();
        blocking(move || install(&layout, &n, &v, &s, &part)).await?;
        Ok(response(held, true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_parses_and_refuses_nonsense() {
        assert_eq!(ContentRange::parse("bytes 5-9/10").unwrap(), ContentRange { start: 5, end: 9, total: 10 });
        assert!(matches!(ContentRange::parse("bytes 5-4/10"), Err(ModelStoreError::UnsatisfiableRange { .. })));
        assert!(matches!(ContentRange::parse("bytes 5-10/10"), Err(ModelStoreError::UnsatisfiableRange { .. })));
        assert!(matches!(ContentRange::parse("5-9/10"), Err(ModelStoreError::BadRange(_))));
        assert!(matches!(ContentRange::parse("bytes 5-9/*"), Err(ModelStoreError::BadRange(_))));
    }

    #[test]
    fn sha_header_is_checked() {
        assert!(matches!(parse_sha256(None), Err(ModelStoreError::MissingHash)));
        assert!(matches!(parse_sha256(Some("abc")), Err(ModelStoreError::BadHash(_))));
        let h = "A".repeat(64);
        assert_eq!(parse_sha256(Some(&h)).unwrap(), "a".repeat(64));
    }

    #[test]
    fn a_resumed_part_hashes_like_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
        let sha = edgefleet_core::sha256_hex(&bytes);

        let mut first = PartWriter::open(&layout, "m", "1", &sha, None).unwrap();
        first.append(&[Bytes::copy_from_slice(&bytes[..30_000])]).unwrap();
        assert_eq!(first.finish().unwrap().0, 30_000);

        let err = PartWriter::open(&layout, "m", "1", &sha, Some(10)).unwrap_err();
        assert!(matches!(err, ModelStoreError::RangeMismatch { start: 10, held: 30_000 }), "{err}");

        let mut second = PartWriter::open(&layout, "m", "1", &sha, Some(30_000)).unwrap();
        second
            .append(&[Bytes::copy_from_slice(&bytes[30_000..70_000]), Bytes::copy_from_slice(&bytes[70_000..])])
            .unwrap();
        assert_eq!(second.finish().unwrap(), (bytes.len() as u64, sha.clone()));
        assert_eq!(std::fs::read(layout.part_path("m", "1", &sha)).unwrap(), bytes);
    }

    #[test]
    fn a_fresh_upload_drops_stale_parts_of_the_version() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        let (old, new) = ("a".repeat(64), "b".repeat(64));
        let mut stale = PartWriter::open(&layout, "m", "1", &old, None).unwrap();
        stale.append(&[Bytes::from_static(b"old bytes")]).unwrap();
        stale.finish().unwrap();
        let mut other_version = PartWriter::open(&layout, "m", "2", &old, None).unwrap();
        other_version.append(&[Bytes::from_static(b"keep")]).unwrap();
        other_version.finish().unwrap();

        let fresh = PartWriter::open(&layout, "m", "1", &new, None).unwrap();
        assert_eq!(fresh.finish().unwrap(), (0, edgefleet_core::sha256_hex(b"")));
        assert_eq!(layout.parts("m", "1"), vec![(layout.part_path("m", "1", &new), new.clone())]);
        assert_eq!(layout.parts("m", "2").len(), 1);
    }

    /// A body in `chunk_bytes` pieces, as the network would hand it over.
    fn chunked(bytes: &[u8], chunk_bytes: usize) -> Body {
        let chunks: Vec<Result<Bytes, std::io::Error>> =
            bytes.chunks(chunk_bytes).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        Body::from_stream(futures_util::stream::iter(chunks))
    }

    #[tokio::test]
    async fn uploads_in_many_batches_resume_and_install() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::open(dir.path(), 4 << 20).unwrap();
        let bytes: Vec<u8> = (0..1_300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let sha = edgefleet_core::sha256_hex(&bytes);
        let total = bytes.len() as u64;
        let cut = 700_000u64;

        let first = ContentRange { start: 0, end: cut - 1, total };
        let body = chunked(&bytes[..cut as usize], 10_000);
        let r = store.upload("m", "1", &sha, Some(first), Some(cut), body).await.unwrap();
        assert!(!r.complete && r.received_bytes == cut, "{r:?}");
        assert_eq!(store.upload_status("m", "1").unwrap().received_bytes, cut);

        let rest = ContentRange { start: cut, end: total - 1, total };
        let body = chunked(&bytes[cut as usize..], 16_384);
        let r = store.upload("m", "1", &sha, Some(rest), Some(total - cut), body).await.unwrap();
        assert!(r.complete && r.received_bytes == total, "{r:?}");
        assert_eq!(store.read_model("m", "1").unwrap(), bytes);
        assert_eq!(store.installed("m", "1").unwrap(), Some((sha.clone(), total)));
        assert!(store.layout.parts("m", "1").is_empty());
    }

    #[tokio::test]
    async fn a_wrong_hash_discards_the_part() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::open(dir.path(), 4 << 20).unwrap();
        let bytes = vec![7u8; 600_000];
        let wrong = edgefleet_core::sha256_hex(b"other");
        let err = store.upload("m", "1", &wrong, None, None, chunked(&bytes, 50_000)).await.unwrap_err();
        let actual = edgefleet_core::sha256_hex(&bytes);
        assert!(matches!(&err, ModelStoreError::HashMismatch { actual: a, .. } if *a == actual), "{err}");
        assert!(store.layout.parts("m", "1").is_empty());
        assert_eq!(store.installed("m", "1").unwrap(), None);
    }
}
