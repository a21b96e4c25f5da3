//! One-shot mDNS queries (RFC 6762 §5.1, §6.7): a PTR query for
//! `_edgefleet._tcp.local.` sent from an ephemeral port. Responders answer
//! such a "legacy unicast" query at once and by unicast: without the
//! 20–120 ms delay of shared answers, and outside the once-a-second limit on
//! multicasting a record — which otherwise silences every agent for up to a
//! second after another console (or our own last scan) asked. One round trip
//! finds the agents that are there now; the continuous browse beside it
//! finds those that join later.
//!
//! Also the parser of what comes back (PTR, SRV, TXT, A records with name
//! compression), bounded against malformed packets.

use super::{Discovered, device_from_txt};
use edgefleet_core::wire::SERVICE_TYPE;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// When the query is (re)sent, from the start: one packet can be lost.
const SEND_AT_MS: [u64; 3] = [0, 120, 400];
/// How long answers are listened for.
const LISTEN: Duration = Duration::from_millis(1200);
const MDNS_GROUP: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(224, 0, 0, 251)), 5353);
const TYPE_A: u16 = 1;
const TYPE_PTR: u16 = 12;
const TYPE_TXT: u16 = 16;
const TYPE_SRV: u16 = 33;
/// Compression pointers followed in one name before it is called malformed.
const MAX_JUMPS: usize = 32;

/// A DNS packet that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed mDNS packet: {0}")]
pub struct ParseError(&'static str);

/// One resource record of a response (only the kinds discovery reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Ptr { name: String, target: String },
    Srv { name: String, port: u16, target: String },
    Txt { name: String, entries: Vec<(String, String)> },
    A { name: String, ip: Ipv4Addr },
}

/// The query packet: one PTR question for our service type.
pub fn query_packet(id: u16) -> Vec<u8> {
    let mut p = Vec::with_capacity(48);
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]); // flags 0, 1 question
    for label in SERVICE_TYPE.trim_end_matches('.').split('.') {
        p.push(label.len() as u8);
        p.extend_from_slice(label.as_bytes());
    }
    p.push(0);
    p.extend_from_slice(&TYPE_PTR.to_be_bytes());
    p.extend_from_slice(&1u16.to_be_bytes()); // class IN
    p
}

struct Reader<'a> {
    p: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ParseError> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.p.len()).ok_or(ParseError("truncated"))?;
        let s = &self.p[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u16(&mut self) -> Result<u16, ParseError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// A possibly compressed name, lowercased, with a trailing dot.
    fn name(&mut self) -> Result<String, ParseError> {
        let mut out = String::new();
        let mut pos = self.at;
        let mut resume: Option<usize> = None;
        for _ in 0..MAX_JUMPS {
            loop {
                let len = *self.p.get(pos).ok_or(ParseError("name runs off the end"))? as usize;
                match len {
                    0 => {
                        self.at = resume.unwrap_or(pos + 1);
                        if out.is_empty() {
                            out.push('.');
                        }
                        return Ok(out);
                    }
                    l if l & 0xc0 == 0xc0 => {
                        let lo = *self.p.get(pos + 1).ok_or(ParseError("pointer runs off the end"))? as usize;
                        resume.get_or_insert(pos + 2);
                        pos = ((l & 0x3f) << 8) | lo;
                        break;
                    }
                    l if l & 0xc0 != 0 => return Err(ParseError("unknown label type")),
                    l => {
                        let label = self.p.get(pos + 1..pos + 1 + l).ok_or(ParseError("label runs off the end"))?;
                        out.push_str(&String::from_utf8_lossy(label).to_ascii_lowercase());
                        out.push('.');
                        if out.len() > 255 {
                            return Err(ParseError("name longer than 255 bytes"));
                        }
                        pos += 1 + l;
                    }
                }
            }
        }
        Err(ParseError("too many compression pointers"))
    }
}

/// The records of a response packet (answers, authority and additionals).
pub fn parse_response(packet: &[u8]) -> Result<Vec<Record>, ParseError> {
    let mut r = Reader { p: packet, at: 0 };
    let _id = r.u16()?;
    let flags = r.u16()?;
    if flags & 0x8000 == 0 {
        return Err(ParseError("a query, not a response"));
    }
    let questions = r.u16()?;
    let records = [r.u16()?, r.u16()?, r.u16()?].iter().map(|&n| usize::from(n)).sum::<usize>();
    for _ in 0..questions {
        r.name()?;
        r.take(4)?;
    }
    let mut out = Vec::new();
    for _ in 0..records {
        let name = r.name()?;
        let rtype = r.u16()?;
        r.take(6)?; // class, TTL
        let len = usize::from(r.u16()?);
        let start = r.at;
        let rdata = r.take(len)?;
        let end = r.at;
        let record = match rtype {
            TYPE_PTR => {
                r.at = start;
                let target = r.name()?;
                Some(Record::Ptr { name, target })
            }
            TYPE_SRV if len >= 7 => {
                let port = u16::from_be_bytes([rdata[4], rdata[5]]);
                r.at = start + 6;
                let target = r.name()?;
                Some(Record::Srv { name, port, target })
            }
            TYPE_TXT => Some(Record::Txt { name, entries: txt_entries(rdata) }),
            TYPE_A if len == 4 => Some(Record::A { name, ip: Ipv4Addr::new(rdata[0], rdata[1], rdata[2], rdata[3]) }),
            _ => None,
        };
        r.at = end;
        out.extend(record);
    }
    Ok(out)
}

/// TXT rdata: length-prefixed `key=value` strings (RFC 6763 §6); a key
/// without `=` has an empty value; later duplicates of a key are ignored.
pub fn txt_entries(rdata: &[u8]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut rest = rdata;
    while let Some((&len, tail)) = rest.split_first() {
        let (entry, tail) = tail.split_at(usize::from(len).min(tail.len()));
        rest = tail;
        let entry = String::from_utf8_lossy(entry);
        let (k, v) = entry.split_once('=').unwrap_or((&entry, ""));
        if !k.is_empty() && !out.iter().any(|(seen, _)| seen.eq_ignore_ascii_case(k)) {
            out.push((k.to_owned(), v.to_owned()));
        }
    }
    out
}

/// The agents a response describes; `from` is the responder's address,
/// used when the response carries no A record for the host.
pub fn discovered_in(records: &[Record], from: IpAddr) -> Vec<Discovered> {
    let service = SERVICE_TYPE.to_ascii_lowercase();
    let mut out = Vec::new();
    for r in records {
        let Record::Ptr { name, target: instance } = r else { continue };
        if *name != service {
            continue;
        }
        let srv = records.iter().find_map(|r| match r {
            Record::Srv { name, port, target } if name == instance => Some((*port, target)),
            _ => None,
        });
        let txt = records.iter().find_map(|r| match r {
            Record::Txt { name, entries } if name == instance => Some(entries),
            _ => None,
        });
        let (Some((port, host)), Some(entries)) = (srv, txt) else { continue };
        let ip = records
            .iter()
            .find_map(|r| match r {
                Record::A { name, ip } if name == host => Some(IpAddr::V4(*ip)),
                _ => None,
            })
            .unwrap_or(from);
        let props: HashMap<String, String> = entries.iter().cloned().collect();
        match device_from_txt(&props) {
            Ok(device) => out.push(Discovered { device, addr: SocketAddr::new(ip, port), fullname: instance.clone() }),
            Err(e) => tracing::warn!("skipping mDNS answer for {instance}: {e}"),
        }
    }
    out
}

/// IPv4 addresses to query from: those of `interfaces`, or of every
/// non-loopback interface that is up when the list is empty.
fn local_addresses(interfaces: &[String]) -> Vec<Ipv4Addr> {
    let Ok(all) = if_addrs::get_if_addrs() else { return Vec::new() };
    all.into_iter()
        .filter(
            |i| {
                if interfaces.is_empty() { !i.is_loopback() && i.is_oper_up() } else { interfaces.contains(&i.name) }
            },
        )
        .filter_map(|i| match i.ip() {
            IpAddr::V4(ip) => Some(ip),
            IpAddr::V6(_) => None,
        })
        .collect()
}

/// Query on `interfaces` for a little over a second on a thread of its
/// own, handing each agent found (once per instance and address) to `found`.
/// Returns at once; the thread ends by itself, or when `found` says stop.
pub fn spawn(interfaces: &[String], found: impl Fn(Discovered) -> bool + Send + 'static) -> std::io::Result<()> {
    let mut sockets = Vec::new();
    for ip in local_addresses(interfaces) {
        // Bound to the interface's address: the kernel sends the multicast
        // out of that interface, and the unicast answers come back to it.
        let s = UdpSocket::bind((ip, 0))?;
        s.set_nonblocking(true)?;
        sockets.push(s);
    }
    if sockets.is_empty() {
        return Ok(());
    }
    std::thread::Builder::new().name("edgefleet-mdns-query".into()).spawn(move || {
        let started = Instant::now();
        let query = query_packet(0);
        let mut sent = 0;
        let mut seen: HashSet<(String, SocketAddr)> = HashSet::new();
        let mut buf = vec![0u8; 9000];
        while started.elapsed() < LISTEN {
            if sent < SEND_AT_MS.len() && started.elapsed() >= Duration::from_millis(SEND_AT_MS[sent]) {
                for s in &sockets {
                    if let Err(e) = s.send_to(&query, MDNS_GROUP) {
                        tracing::debug!("one-shot mDNS query not sent: {e}");
                    }
                }
                sent += 1;
            }
            let mut idle = true;
            for s in &sockets {
                while let Ok((n, from)) = s.recv_from(&mut buf) {
                    idle = false;
                    let Ok(records) = parse_response(&buf[..n]) else { continue };
                    for d in discovered_in(&records, from.ip()) {
                        if seen.insert((d.fullname.clone(), d.addr)) && !found(d) {
                            return;
                        }
                    }
                }
            }
            if idle {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(out: &mut Vec<u8>, n: &str) {
        for l in n.trim_end_matches('.').split('.') {
            out.push(l.len() as u8);
            out.extend_from_slice(l.as_bytes());
        }
        out.push(0);
    }

    fn rr(out: &mut Vec<u8>, owner: &[u8], rtype: u16, rdata: &[u8]) {
        out.extend_from_slice(owner);
        out.extend_from_slice(&rtype.to_be_bytes());
        out.extend_from_slice(&[0, 1, 0, 0, 0, 120]);
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(rdata);
    }

    /// A response as an agent sends it, with compression pointers.
    fn response() -> Vec<u8> {
        // id 0, flags: response + authoritative, 0 questions, 4 answers.
        let mut p = vec![0, 0, 0x84, 0, 0, 0, 0, 4, 0, 0, 0, 0];
        let service_at = p.len() as u8;
        name(&mut p, SERVICE_TYPE);
        p.extend_from_slice(&TYPE_PTR.to_be_bytes());
        p.extend_from_slice(&[0, 1, 0, 0, 0, 120]);
        let ptr = [3, b'c', b'a', b'm', 0xc0, service_at];
        p.extend_from_slice(&(ptr.len() as u16).to_be_bytes());
        let instance_at = p.len() as u8;
        p.extend_from_slice(&ptr);
        let inst = [0xc0, instance_at];
        let mut txt = Vec::new();
        for kv in ["id=cam-1", "type=smart_camera", "cores=4", "mem_mb=2048", "storage_gb=32", "api=v1", "flag"] {
            txt.push(kv.len() as u8);
            txt.extend_from_slice(kv.as_bytes());
        }
        rr(&mut p, &inst, TYPE_TXT, &txt);
        let mut srv = vec![0, 0, 0, 0, 0x21, 0x16];
        name(&mut srv, "cam-1.local.");
        rr(&mut p, &inst, TYPE_SRV, &srv);
        let mut host = Vec::new();
        name(&mut host, "cam-1.local.");
        rr(&mut p, &host, TYPE_A, &[10, 0, 0, 7]);
        p
    }

    #[test]
    fn a_response_becomes_a_device_at_its_address() {
        let records = parse_response(&response()).unwrap();
        assert_eq!(records.len(), 4, "{records:?}");
        let found = discovered_in(&records, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].device.device_id, "cam-1");
        assert_eq!(found[0].addr, "10.0.0.7:8470".parse().unwrap());
        assert_eq!(found[0].fullname, format!("cam.{}", SERVICE_TYPE.to_ascii_lowercase()));
    }

    #[test]
    fn the_query_asks_for_our_service() {
        let q = query_packet(7);
        assert_eq!(&q[..2], &[0, 7]);
        let mut r = Reader { p: &q, at: 12 };
        assert_eq!(r.name().unwrap(), SERVICE_TYPE.to_ascii_lowercase());
        assert_eq!(r.u16().unwrap(), TYPE_PTR);
    }

    #[test]
    fn malformed_packets_are_errors_not_panics() {
        let good = response();
        for cut in 0..good.len() {
            let _ = parse_response(&good[..cut]);
        }
        // A pointer loop.
        let mut looped = vec![0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0];
        looped.extend_from_slice(&[0xc0, 12]);
        assert!(parse_response(&looped).is_err());
        assert!(parse_response(&query_packet(1)).is_err(), "a query is not a response");
    }

    /// A bounded mutation fuzz (not coverage-guided; the libFuzzer target
    /// `mdns_response` under fuzz/ is): 20,000 corruptions of a valid
    /// response — flipped bytes, cuts, inserted pointers — never panic.
    #[test]
    fn corrupted_responses_never_panic() {
        let good = response();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let mut p = good.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() as usize) % p.len();
                match next() % 4 {
                    0 => p[at] = next() as u8,
                    1 => p.truncate(at.max(1)),
                    2 => p.insert(at, 0xc0 | (next() as u8 & 0x3f)),
                    _ => p[at] ^= 1 << (next() % 8),
                }
            }
            if let Ok(records) = parse_response(&p) {
                for d in discovered_in(&records, IpAddr::V4(Ipv4Addr::LOCALHOST)) {
                    assert!(d.device.validate().is_ok());
                }
            }
        }
    }

    #[test]
    fn txt_entries_keep_the_first_of_a_key() {
        let e = txt_entries(&[3, b'a', b'=', b'1', 3, b'A', b'=', b'2', 1, b'b', 9]);
        assert_eq!(e, vec![("a".to_owned(), "1".to_owned()), ("b".to_owned(), String::new())]);
    }
}
