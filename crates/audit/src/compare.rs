//! Verification across time: an older export compared with a newer one.
//! Both must verify on their own first ([`crate::verify_export`]); then
//! every event of the older one must be in the newer one, unchanged, at
//! the same place of its stream, so nothing already exported was
//! rewritten, removed or reordered since. Both files are read once, side
//! by side (exports are ordered by stream, then seq), in constant memory.

use std::cmp::Ordering;
use std::io::{BufRead, BufReader, Read};

use serde_json::Value;

use crate::export::{CSV_HEADER, CSV_MANIFEST_MARKER};
use crate::verify::VerifyFailure;

/// What the comparison found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompareReport {
    /// Events of the older export found unchanged in the newer one.
    pub unchanged: u64,
    /// Events of the newer export after the older one's (new history).
    pub added: u64,
}

/// Where an event is and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    stream: String,
    seq: u64,
    id: String,
    hash: String,
}

impl Key {
    fn place(&self, other: &Key) -> Ordering {
        (self.stream.as_str(), self.seq).cmp(&(other.stream.as_str(), other.seq))
    }
}

fn failure(reason: String) -> VerifyFailure {
    VerifyFailure { line: None, reason }
}

/// The events of an export, in file order, without checking them again.
struct Events {
    rows: Box<dyn Iterator<Item = Result<Key, VerifyFailure>>>,
}

impl Events {
    fn open<R: Read + 'static>(reader: R, which: &'static str) -> Result<Events, VerifyFailure> {
        let mut reader = BufReader::with_capacity(256 * 1024, reader);
        let first = reader
            .fill_buf()
            .map_err(|e| failure(format!("cannot read the {which} export: {e}")))?
            .first()
            .copied();
        let rows: Box<dyn Iterator<Item = Result<Key, VerifyFailure>>> = if first == Some(b'{') {
            Box::new(reader.lines().filter_map(move |line| {
                let line = match line {
                    Ok(l) => l,
                    Err(e) => return Some(Err(failure(format!("the {which} export: {e}")))),
                };
                let v: Value = serde_json::from_str(&line).ok()?;
                if v.get("manifest").is_some() {
                    return None;
                }
                Some(key_of(
                    v["stream"].as_str(),
                    v["seq"].as_u64(),
                    v["id"].as_str(),
                    v["hash"].as_str(),
                    which,
                ))
            }))
        } else {
            let csv = csv::ReaderBuilder::new()
                .has_headers(true)
                .from_reader(reader);
            Box::new(csv.into_records().filter_map(move |r| {
                let r = match r {
                    Ok(r) => r,
                    Err(e) => return Some(Err(failure(format!("the {which} export: {e}")))),
                };
                if r.get(0) == Some(CSV_MANIFEST_MARKER) || r.len() != CSV_HEADER.len() {
                    return None;
                }
                Some(key_of(
                    r.get(0),
                    r.get(1).and_then(|s| s.parse().ok()),
                    r.get(2),
                    r.get(11),
                    which,
                ))
            }))
        };
        Ok(Events { rows })
    }

    fn next(&mut self) -> Result<Option<Key>, VerifyFailure> {
        self.rows.next().transpose()
    }
}

fn key_of(
    stream: Option<&str>,
    seq: Option<u64>,
    id: Option<&str>,
    hash: Option<&str>,
    which: &str,
) -> Result<Key, VerifyFailure> {
    match (stream, seq, id, hash) {
        (Some(stream), Some(seq), Some(id), Some(hash)) => Ok(Key {
            stream: stream.to_owned(),
            seq,
            id: id.to_owned(),
            hash: hash.to_owned(),
        }),
        _ => Err(failure(format!(
            "the {which} export holds an event without stream, seq, id or hash"
        ))),
    }
}

/// Compares two exports that each verified on their own. Fails on the
/// first event of the older export that the newer one does not hold
/// unchanged, naming it.
pub fn compare_exports<O: Read + 'static, N: Read + 'static>(
    older: O,
    newer: N,
) -> Result<CompareReport, VerifyFailure> {
    let mut old = Events::open(older, "older")?;
    let mut new = Events::open(newer, "newer")?;
    let mut report = CompareReport {
        unchanged: 0,
        added: 0,
    };
    let mut ahead = new.next()?;
    while let Some(o) = old.next()? {
        // Newer events before this one's place: history the older export
        // did not have (another stream, or events it was not asked for).
        while let Some(n) = &ahead
            && n.place(&o) == Ordering::Less
        {
            report.added += 1;
            ahead = new.next()?;
        }
        match &ahead {
            Some(n) if n.place(&o) == Ordering::Equal => {
                if n.hash != o.hash || n.id != o.id {
                    return Err(failure(format!(
                        "{} seq {} (event {}) was rewritten since the older export: its hash was {}, it is now {} (event {})",
                        o.stream, o.seq, o.id, o.hash, n.hash, n.id
                    )));
                }
                report.unchanged += 1;
                ahead = new.next()?;
            }
            _ => {
                return Err(failure(format!(
                    "{} seq {} (event {}) of the older export is not in the newer one: it was removed, or the newer export does not cover it (export the same streams and time range)",
                    o.stream, o.seq, o.id
                )));
            }
        }
    }
    while ahead.is_some() {
        report.added += 1;
        ahead = new.next()?;
    }
    Ok(report)
}
