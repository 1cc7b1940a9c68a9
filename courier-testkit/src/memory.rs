//! Another process's memory, searched for byte strings while it runs (Linux: its
//! readable mappings from `/proc/PID/maps`, their bytes from `/proc/PID/mem`).
//!
//! Reading another process's memory takes the right to trace it: root, or the same user
//! with Yama's `ptrace_scope` at 0, or (at 1) the process being our own child. Without
//! it [`search`] says [`Refused`]; the caller decides whether that fails the test
//! (see [`crate::not_run`]).

use std::fs::File;
use std::io::{self, ErrorKind};
use std::os::unix::fs::FileExt;

/// Bytes read at once; a match may straddle two reads, so reads overlap by the longest
/// needle.
const CHUNK: usize = 1 << 20;

/// One place a needle was found.
#[derive(Debug, Clone)]
pub struct Found {
    /// Which of the needles (its index in the list given to [`search`]).
    pub needle: usize,
    /// Its address in the process.
    pub address: u64,
    /// The mapping it lies in, as `/proc/PID/maps` names it (`[heap]`, a file, or empty
    /// for an anonymous mapping).
    pub mapping: String,
    /// Up to 48 bytes either side of it, printable ASCII kept and the rest as `.`, to say
    /// what held it.
    pub context: String,
}

/// What one search read.
#[derive(Debug, Clone, Default)]
pub struct Searched {
    /// Every match, in address order per needle.
    pub found: Vec<Found>,
    /// Bytes read and searched.
    pub bytes: u64,
    /// Readable mappings that could not be read (the kernel's `[vvar]`, mappings that went
    /// away meanwhile); named, so a report can say what was left out.
    pub skipped: Vec<String>,
}

/// The process's memory could not be read at all.
#[derive(Debug)]
pub struct Refused {
    /// What was refused (`/proc/PID/mem`, `/proc/PID/maps`).
    pub what: String,
    /// Why.
    pub error: io::Error,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot read {}: {} (reading another process's memory needs root or the right \
             to trace it: ptrace_scope 0, or the process being this one's child)",
            self.what, self.error
        )
    }
}

/// Searches every readable mapping of process `pid` for each of `needles` (as bytes,
/// exactly), while it runs.
///
/// # Errors
///
/// [`Refused`] when its mappings or its memory cannot be opened, or not one mapping
/// could be read (no permission to trace it).
pub fn search(pid: u32, needles: &[&[u8]]) -> Result<Searched, Refused> {
    let maps_path = format!("/proc/{pid}/maps");
    let maps = std::fs::read_to_string(&maps_path).map_err(|error| Refused {
        what: maps_path.clone(),
        error,
    })?;
    let mem_path = format!("/proc/{pid}/mem");
    let mem = File::open(&mem_path).map_err(|error| Refused {
        what: mem_path.clone(),
        error,
    })?;
    let longest = needles.iter().map(|n| n.len()).max().unwrap_or(0);
    let mut out = Searched::default();
    let mut denied = None;
    let mut buf = vec![0u8; CHUNK + longest];
    for line in maps.lines() {
        let Some(region) = Region::parse(line) else {
            continue;
        };
        if !region.readable || region.name == "[vvar]" || region.name == "[vsyscall]" {
            continue;
        }
        match search_region(&mem, &region, needles, longest, &mut buf, &mut out) {
            Ok(()) => {}
            Err(e) if matches!(e.kind(), ErrorKind::PermissionDenied) => {
                out.skipped.push(region.name.clone());
                denied = Some(e);
            }
            Err(_) => out.skipped.push(region.name.clone()),
        }
    }
    if out.bytes == 0 {
        return Err(Refused {
            what: mem_path,
            error: denied
                .unwrap_or_else(|| io::Error::other("not one readable mapping could be read")),
        });
    }
    Ok(out)
}

/// One line of `/proc/PID/maps`.
struct Region {
    start: u64,
    end: u64,
    readable: bool,
    name: String,
}

impl Region {
    /// `start-end perms offset dev inode [name]`.
    fn parse(line: &str) -> Option<Self> {
        let mut fields = line.split_whitespace();
        let (start, end) = fields.next()?.split_once('-')?;
        let perms = fields.next()?;
        let name = fields.nth(3).unwrap_or("").to_owned();
        Some(Self {
            start: u64::from_str_radix(start, 16).ok()?,
            end: u64::from_str_radix(end, 16).ok()?,
            readable: perms.starts_with('r'),
            name,
        })
    }
}

fn search_region(
    mem: &File,
    region: &Region,
    needles: &[&[u8]],
    longest: usize,
    buf: &mut [u8],
    out: &mut Searched,
) -> io::Result<()> {
    let mut at = region.start;
    // Bytes of the previous read kept at the front of `buf`, so that a match across
    // the boundary is seen.
    let mut kept = 0usize;
    while at < region.end {
        let want = CHUNK.min((region.end - at) as usize);
        let got = read_fully(mem, &mut buf[kept..kept + want], at)?;
        if got == 0 {
            break;
        }
        out.bytes += got as u64;
        let window = &buf[..kept + got];
        let base = at - kept as u64;
        for (n, needle) in needles.iter().enumerate() {
            for offset in find_all(window, needle) {
                // A match wholly inside the kept bytes was reported by the last read.
                if offset + needle.len() <= kept {
                    continue;
                }
                out.found.push(Found {
                    needle: n,
                    address: base + offset as u64,
                    mapping: region.name.clone(),
                    context: context(window, offset, needle.len()),
                });
            }
        }
        at += got as u64;
        let keep = longest.saturating_sub(1).min(kept + got);
        buf.copy_within(kept + got - keep..kept + got, 0);
        kept = keep;
    }
    Ok(())
}

/// Reads up to `buf.len()` bytes at `offset`; fewer only where the mapping ends early.
fn read_fully(mem: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match mem.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // The mapping ends (or shrank) part way: what was read counts.
            Err(_) if done > 0 => break,
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Every offset at which `needle` starts in `hay`.
fn find_all(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    let mut hits = Vec::new();
    let Some((&first, rest)) = needle.split_first() else {
        return hits;
    };
    let mut from = 0;
    while let Some(p) = hay[from..].iter().position(|&b| b == first) {
        let start = from + p;
        if hay[start + 1..].starts_with(rest) {
            hits.push(start);
        }
        from = start + 1;
    }
    hits
}

fn context(hay: &[u8], offset: usize, len: usize) -> String {
    let from = offset.saturating_sub(48);
    let to = (offset + len + 48).min(hay.len());
    hay[from..to]
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                char::from(b)
            } else {
                '.'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_all_finds_every_start_and_only_those() {
        assert_eq!(find_all(b"abcabcab", b"abc"), vec![0, 3]);
        assert_eq!(find_all(b"aaaa", b"aa"), vec![0, 1, 2]);
        assert!(find_all(b"ab", b"abc").is_empty());
    }

    /// A string this very process holds on its heap is found in its memory: the reader
    /// is not blind.
    #[test]
    fn search_finds_what_this_process_holds() {
        let held: Vec<u8> = format!("held-{}-{}", std::process::id(), 0x5eed_u32).into_bytes();
        let searched = search(std::process::id(), &[&held]).expect("reading its own memory");
        assert!(
            searched.found.iter().any(|f| f.needle == 0),
            "its own string not found in {} bytes",
            searched.bytes
        );
    }

    /// A match that straddles two reads is found, once; one inside the overlap is not
    /// reported twice (a plain file stands in for the memory: same `read_at`).
    #[test]
    fn matches_across_reads_are_found_once() {
        let dir = crate::TempDir::new("memory-chunks");
        let path = dir.join("mem");
        let mut bytes = vec![0u8; CHUNK * 2 + 100];
        // Wholly inside the bytes the second read keeps from the first.
        bytes[CHUNK - 6..CHUNK - 2].copy_from_slice(b"NEAR");
        bytes[2 * CHUNK - 3..2 * CHUNK + 5].copy_from_slice(b"STRADDLE");
        std::fs::write(&path, &bytes).unwrap();
        let file = File::open(&path).unwrap();
        let region = Region {
            start: 0,
            end: bytes.len() as u64,
            readable: true,
            name: "file".into(),
        };
        let mut out = Searched::default();
        let needles: [&[u8]; 2] = [b"STRADDLE", b"NEAR"];
        let mut buf = vec![0u8; CHUNK + 8];
        search_region(&file, &region, &needles, 8, &mut buf, &mut out).unwrap();
        let at: Vec<(usize, u64)> = out.found.iter().map(|f| (f.needle, f.address)).collect();
        assert_eq!(at, vec![(1, CHUNK as u64 - 6), (0, 2 * CHUNK as u64 - 3)]);
        assert_eq!(out.bytes, bytes.len() as u64);
    }
}
