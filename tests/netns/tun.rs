//! A TUN device opened by this process: IP packets the kernel routes to the
//! interface are read from it, packets written to it are received by the
//! kernel as if they arrived on the interface. The impairment forwarder
//! moves packets between two of them.
//!
//! Opening one takes the `TUNSETIFF` ioctl, which std does not wrap; this
//! module is the suite's only unsafe code (one ioctl on a file it owns, with
//! a correctly sized `struct ifreq`).
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

/// `_IOW('T', 202, int)` from <linux/if_tun.h>.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const IFF_TUN: libc::c_short = 0x0001;
/// Packets without the 4-byte protocol header.
const IFF_NO_PI: libc::c_short = 0x1000;

/// `struct ifreq` with the name and flags members used by `TUNSETIFF`.
#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    /// The rest of the 40-byte union.
    _pad: [u8; 22],
}

/// A non-blocking TUN device; it disappears when dropped.
pub struct Tun {
    file: File,
    pub name: String,
}

impl Tun {
    /// Create TUN interface `name` (at most 15 bytes) in this process's
    /// network namespace, down and without addresses.
    pub fn create(name: &str) -> io::Result<Tun> {
        if name.len() >= libc::IFNAMSIZ {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("interface name {name} is too long")));
        }
        let file = OpenOptions::new().read(true).write(true).custom_flags(libc::O_NONBLOCK).open("/dev/net/tun")?;
        let mut req = IfReq { name: [0; libc::IFNAMSIZ], flags: IFF_TUN | IFF_NO_PI, _pad: [0; 22] };
        req.name[..name.len()].copy_from_slice(name.as_bytes());
        // SAFETY: the fd is an open /dev/net/tun file owned by `file`, and
        // `req` is a live, writable `struct ifreq` of the size the kernel reads.
        let r = unsafe { libc::ioctl(file.as_raw_fd(), TUNSETIFF, &mut req as *mut IfReq) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Tun { file, name: name.to_owned() })
    }

    /// One packet, or `None` when none is waiting.
    pub fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        match self.file.read(buf) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Hand one packet to the kernel. A full queue drops it, as a wire would.
    pub fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        match self.file.write(packet) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(e),
        }
    }
}
