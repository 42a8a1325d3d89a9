//! Offline verification of an export: every hash, every link, seq
//! contiguity, the manifest's counts and heads, and its signature. Reads
//! the file once, line by line, in constant memory (plus one small summary
//! per stream).

use std::fmt;
use std::io::{BufRead, BufReader, Read};

use serde_json::{Map, Value};

use crate::canonical;
use crate::event::hash_of_unhashed;
use crate::export::{CSV_HEADER, CSV_MANIFEST_MARKER, ExportFormat};
use crate::hash::EventHash;
use crate::manifest::StreamSummary;
use crate::signing::AuditPublicKey;

/// A verified export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub format: ExportFormat,
    pub events: u64,
    pub streams: u64,
    pub key_id: String,
    pub exported_at: String,
    /// The signed checkpoint of the whole log the export was made under
    /// (`tree_size`, `root_hash`, …), when the server had one.
    pub checkpoint: Option<Value>,
}

/// The first thing wrong with an export: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyFailure {
    /// 1-based line of the file; `None` for problems of the file as a whole.
    pub line: Option<u64>,
    pub reason: String,
}

impl fmt::Display for VerifyFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

impl std::error::Error for VerifyFailure {}

fn fail<T>(line: Option<u64>, reason: impl Into<String>) -> Result<T, VerifyFailure> {
    Err(VerifyFailure {
        line,
        reason: reason.into(),
    })
}

/// Verifies a JSON Lines or CSV export (told apart by the first byte)
/// against `key`.
pub fn verify_export<R: Read>(
    reader: R,
    key: &AuditPublicKey,
) -> Result<VerifyReport, VerifyFailure> {
    let mut reader = BufReader::with_capacity(256 * 1024, reader);
    let first = reader
        .fill_buf()
        .map_err(|e| VerifyFailure {
            line: None,
            reason: format!("cannot read the file: {e}"),
        })?
        .first()
        .copied();
    match first {
        None => fail(None, "the file is empty"),
        Some(b'{') => verify_jsonl(reader, key),
        Some(_) => verify_csv(reader, key),
    }
}

fn verify_jsonl<R: BufRead>(
    mut reader: R,
    key: &AuditPublicKey,
) -> Result<VerifyReport, VerifyFailure> {
    let mut checker = ChainChecker::default();
    let mut buf = String::new();
    let mut line_no = 0u64;
    let mut report = None;
    loop {
        buf.clear();
        let read = reader.read_line(&mut buf).map_err(|e| VerifyFailure {
            line: Some(line_no + 1),
            reason: format!("cannot read: {e}"),
        })?;
        if read == 0 {
            break;
        }
        line_no += 1;
        let line = Some(line_no);
        if report.is_some() {
            if buf.trim().is_empty() {
                continue;
            }
            return fail(
                line,
                "content after the manifest line: the file was appended to",
            );
        }
        if !buf.ends_with('\n') {
            return fail(
                line,
                "the line is cut off (no newline): the file is truncated",
            );
        }
        let value: Value = serde_json::from_str(&buf).map_err(|e| VerifyFailure {
            line,
            reason: format!("not valid JSON ({e}): the file is truncated or corrupt"),
        })?;
        let Value::Object(object) = value else {
            return fail(line, "not a JSON object");
        };
        if object.contains_key("manifest") {
            report = Some(checker.finish(line, object, key, ExportFormat::Jsonl)?);
        } else {
            checker.event(line_no, object)?;
        }
    }
    report.map_or_else(
        || {
            fail(
                None,
                "the file ends without a manifest line: it is truncated",
            )
        },
        Ok,
    )
}

fn verify_csv<R: BufRead>(reader: R, key: &AuditPublicKey) -> Result<VerifyReport, VerifyFailure> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(reader);
    let mut checker = ChainChecker::default();
    let mut record = csv::StringRecord::new();
    let mut report = None;
    let mut header_seen = false;
    loop {
        let more = csv.read_record(&mut record).map_err(|e| VerifyFailure {
            line: e.position().map(|p| p.line()),
            reason: format!("not valid CSV ({e}): the file is truncated or corrupt"),
        })?;
        if !more {
            break;
        }
        let line_no = record.position().map_or(0, |p| p.line());
        let line = Some(line_no);
        if !header_seen {
            if record.iter().ne(CSV_HEADER.iter().copied()) {
                return fail(line, format!("the header must be {}", CSV_HEADER.join(",")));
            }
            header_seen = true;
            continue;
        }
        if report.is_some() {
            return fail(
                line,
                "content after the manifest row: the file was appended to",
            );
        }
        if record.len() != CSV_HEADER.len() {
            return fail(
                line,
                format!(
                    "expected {} columns, found {}",
                    CSV_HEADER.len(),
                    record.len()
                ),
            );
        }
        if &record[0] == CSV_MANIFEST_MARKER {
            let trailer: Value = serde_json::from_str(&record[1]).map_err(|e| VerifyFailure {
                line,
                reason: format!("the manifest cell is not valid JSON ({e})"),
            })?;
            let Value::Object(trailer) = trailer else {
                return fail(line, "the manifest cell is not a JSON object");
            };
            report = Some(checker.finish(line, trailer, key, ExportFormat::Csv)?);
        } else {
            checker.event(line_no, csv_event(&record, line)?)?;
        }
    }
    report.map_or_else(
        || {
            fail(
                None,
                "the file ends without a #manifest row: it is truncated",
            )
        },
        Ok,
    )
}

/// Rebuilds the event object from its CSV columns.
fn csv_event(
    r: &csv::StringRecord,
    line: Option<u64>,
) -> Result<Map<String, Value>, VerifyFailure> {
    let optional = |s: &str| {
        if s.is_empty() {
            Value::Null
        } else {
            Value::String(s.to_owned())
        }
    };
    let seq: u64 = r[1].parse().map_err(|_| VerifyFailure {
        line,
        reason: format!("seq {:?} is not a positive integer", &r[1]),
    })?;
    let data: Value = serde_json::from_str(&r[9]).map_err(|e| VerifyFailure {
        line,
        reason: format!("data is not valid JSON ({e})"),
    })?;
    let mut actor = Map::new();
    actor.insert("kind".into(), Value::String(r[4].to_owned()));
    actor.insert("id".into(), optional(&r[5]));
    let mut subject = Map::new();
    subject.insert("kind".into(), Value::String(r[7].to_owned()));
    subject.insert("id".into(), optional(&r[8]));
    let mut event = Map::new();
    event.insert("stream".into(), Value::String(r[0].to_owned()));
    event.insert("seq".into(), Value::from(seq));
    event.insert("id".into(), Value::String(r[2].to_owned()));
    event.insert("at".into(), Value::String(r[3].to_owned()));
    event.insert("actor".into(), Value::Object(actor));
    event.insert("action".into(), Value::String(r[6].to_owned()));
    event.insert("subject".into(), Value::Object(subject));
    event.insert("data".into(), data);
    event.insert("prev".into(), Value::String(r[10].to_owned()));
    event.insert("hash".into(), Value::String(r[11].to_owned()));
    Ok(event)
}

/// A seq jump seen on one line, judged on the next: if the skipped seq
/// follows at once the pair was swapped, otherwise events are missing.
#[derive(Debug)]
struct PendingGap {
    line: u64,
    stream: String,
    expected: u64,
    found: u64,
}

impl PendingGap {
    fn missing(&self) -> VerifyFailure {
        VerifyFailure {
            line: Some(self.line),
            reason: format!(
                "stream {}: seq {} follows seq {}: {} event(s) missing",
                self.stream,
                self.found,
                self.expected - 1,
                self.found - self.expected
            ),
        }
    }
}

#[derive(Debug, Default)]
struct ChainChecker {
    streams: Vec<StreamSummary>,
    count: u64,
    gap: Option<PendingGap>,
}

impl ChainChecker {
    fn event(&mut self, line_no: u64, mut event: Map<String, Value>) -> Result<(), VerifyFailure> {
        let line = Some(line_no);
        let Some(Value::String(stated)) = event.remove("hash") else {
            return fail(line, "the event has no hash");
        };
        let stated: EventHash = stated.parse().map_err(|e| VerifyFailure {
            line,
            reason: format!("hash: {e}"),
        })?;
        let stream = match event.get("stream") {
            Some(Value::String(s)) => s.clone(),
            _ => return fail(line, "the event has no stream"),
        };
        let seq = match event.get("seq").and_then(Value::as_u64) {
            Some(seq) if seq >= 1 => seq,
            _ => return fail(line, "the event has no seq (a positive integer)"),
        };
        let prev: EventHash = match event.get("prev") {
            Some(Value::String(p)) => p.parse().map_err(|e| VerifyFailure {
                line,
                reason: format!("prev: {e}"),
            })?,
            _ => return fail(line, "the event has no prev"),
        };
        let computed = hash_of_unhashed(&Value::Object(event)).map_err(|e| VerifyFailure {
            line,
            reason: e.to_string(),
        })?;
        if computed != stated {
            return fail(
                line,
                format!(
                    "stream {stream} seq {seq}: the hash does not match the event's content: the event was altered"
                ),
            );
        }
        if let Some(gap) = self.gap.take() {
            if gap.stream == stream && seq == gap.expected {
                return fail(
                    line,
                    format!(
                        "stream {stream}: seq {seq} comes after seq {}: events are out of order",
                        gap.found
                    ),
                );
            }
            return Err(gap.missing());
        }
        match self.streams.last_mut() {
            Some(current) if current.stream == stream => {
                let expected = current.last_seq + 1;
                if seq < expected {
                    return fail(
                        line,
                        format!(
                            "stream {stream}: seq {seq} comes after seq {}: events are out of order or repeated",
                            current.last_seq
                        ),
                    );
                }
                if seq > expected {
                    self.gap = Some(PendingGap {
                        line: line_no,
                        stream,
                        expected,
                        found: seq,
                    });
                    return Ok(());
                }
                if prev != current.head {
                    return fail(
                        line,
                        format!(
                            "stream {stream} seq {seq}: prev does not match the hash of seq {}: the chain is broken",
                            current.last_seq
                        ),
                    );
                }
                current.last_seq = seq;
                current.head = computed;
            }
            previous => {
                if let Some(previous) = previous
                    && previous.stream >= stream
                {
                    return fail(
                        line,
                        format!(
                            "stream {stream} comes after stream {}: streams are out of order or split",
                            previous.stream
                        ),
                    );
                }
                if seq == 1 && prev != EventHash::GENESIS {
                    return fail(
                        line,
                        format!("stream {stream} seq 1: prev must be 64 zeros"),
                    );
                }
                self.streams.push(StreamSummary {
                    stream,
                    first_seq: seq,
                    last_seq: seq,
                    first_prev: prev,
                    head: computed,
                });
            }
        }
        self.count += 1;
        Ok(())
    }

    /// Checks the manifest against `key` and against what was read.
    fn finish(
        &mut self,
        line: Option<u64>,
        mut trailer: Map<String, Value>,
        key: &AuditPublicKey,
        format: ExportFormat,
    ) -> Result<VerifyReport, VerifyFailure> {
        if let Some(gap) = self.gap.take() {
            return Err(gap.missing());
        }
        let key_id = match trailer.remove("key_id") {
            Some(Value::String(k)) => k,
            _ => return fail(line, "the manifest line has no key_id"),
        };
        let signature = match trailer.remove("signature") {
            Some(Value::String(s)) => s,
            _ => return fail(line, "the manifest line has no signature"),
        };
        let Some(manifest) = trailer.remove("manifest") else {
            return fail(line, "the manifest line has no manifest");
        };
        if key_id != key.key_id() {
            return fail(
                line,
                format!(
                    "the manifest is signed by key {key_id}, not by the expected key {}",
                    key.key_id()
                ),
            );
        }
        let canonical_manifest =
            canonical::to_canonical_string(&manifest).map_err(|e| VerifyFailure {
                line,
                reason: format!("manifest: {e}"),
            })?;
        match key.verify(canonical_manifest.as_bytes(), &signature) {
            Ok(true) => {}
            Ok(false) => {
                return fail(
                    line,
                    "the manifest signature does not verify: the manifest was altered or signed by another key",
                );
            }
            Err(e) => return fail(line, format!("the manifest signature is malformed: {e}")),
        }
        let stated_count = manifest.get("event_count").and_then(Value::as_u64);
        if stated_count != Some(self.count) {
            return fail(
                line,
                format!(
                    "the manifest counts {} events but the file holds {}: events were added or removed",
                    stated_count.map_or("no".to_owned(), |c| c.to_string()),
                    self.count
                ),
            );
        }
        let stated_streams = manifest
            .get("streams")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if stated_streams.len() != self.streams.len() {
            return fail(
                line,
                format!(
                    "the manifest lists {} streams but the file holds {}",
                    stated_streams.len(),
                    self.streams.len()
                ),
            );
        }
        for (stated, found) in stated_streams.iter().zip(&self.streams) {
            if *stated != found.to_value() {
                return fail(
                    line,
                    format!(
                        "stream {}: the file has seq {}..{} ending in {} but the manifest states {stated}: events were removed or altered",
                        found.stream, found.first_seq, found.last_seq, found.head
                    ),
                );
            }
        }
        Ok(VerifyReport {
            format,
            events: self.count,
            streams: self.streams.len() as u64,
            key_id,
            exported_at: manifest
                .get("exported_at")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            checkpoint: manifest
                .get("checkpoint")
                .filter(|c| c.is_object())
                .cloned(),
        })
    }
}
