//! Streaming export writers: events go out one by one as they are read
//! from storage, so an export of millions of events needs constant memory
//! (plus one small summary per stream).

use std::io::Write;

use serde_json::{Value, json};

use crate::canonical;
use crate::event::{AuditEvent, EventError, format_at};
use crate::manifest::{ExportMeta, StreamSummary, manifest_value};
use crate::signing::AuditSigner;

/// Columns of the CSV export, in order.
pub const CSV_HEADER: [&str; 12] = [
    "stream",
    "seq",
    "id",
    "at",
    "actor_kind",
    "actor_id",
    "action",
    "subject_kind",
    "subject_id",
    "data",
    "prev",
    "hash",
];

/// First cell of the CSV row that carries the signed manifest.
pub const CSV_MANIFEST_MARKER: &str = "#manifest";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One canonical JSON event per line, then the manifest line.
    Jsonl,
    /// One row per event, then a `#manifest` row.
    Csv,
}

impl ExportFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Jsonl => "jsonl",
            ExportFormat::Csv => "csv",
        }
    }

    pub fn parse(s: &str) -> Option<ExportFormat> {
        match s {
            "jsonl" => Some(ExportFormat::Jsonl),
            "csv" => Some(ExportFormat::Csv),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Jsonl => "application/jsonl",
            ExportFormat::Csv => "text/csv; charset=utf-8",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    #[error("write failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("CSV write failed: {0}")]
    Csv(#[from] csv::Error),
    #[error(transparent)]
    Event(#[from] EventError),
    #[error("events must be written ordered by stream then seq without gaps: {0}")]
    Order(String),
}

enum Sink<W: Write> {
    Jsonl(W),
    // Boxed: the CSV writer carries its own buffer state; one per export.
    Csv(Box<csv::Writer<W>>),
}

/// Writes an export event by event and closes it with a signed manifest.
pub struct ExportWriter<W: Write> {
    sink: Sink<W>,
    format: ExportFormat,
    streams: Vec<StreamSummary>,
    count: u64,
}

impl<W: Write> std::fmt::Debug for ExportWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportWriter")
            .field("format", &self.format)
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

impl<W: Write> ExportWriter<W> {
    pub fn new(out: W, format: ExportFormat) -> Result<Self, ExportError> {
        let sink = match format {
            ExportFormat::Jsonl => Sink::Jsonl(out),
            ExportFormat::Csv => {
                let mut writer = csv::Writer::from_writer(out);
                writer.write_record(CSV_HEADER)?;
                Sink::Csv(Box::new(writer))
            }
        };
        Ok(ExportWriter {
            sink,
            format,
            streams: Vec::new(),
            count: 0,
        })
    }

    /// Events written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Appends one event. Refuses anything that would not verify: an
    /// event out of stream order, a gap, or a broken link.
    pub fn write(&mut self, event: &AuditEvent) -> Result<(), ExportError> {
        self.track(event)?;
        match &mut self.sink {
            Sink::Jsonl(out) => {
                let mut line = event.to_canonical_line()?;
                line.push('\n');
                out.write_all(line.as_bytes())?;
            }
            Sink::Csv(out) => {
                let data = canonical::to_canonical_string(&Value::Object(event.data.clone()))
                    .map_err(EventError::from)?;
                out.write_record([
                    event.stream.as_str(),
                    &event.seq.to_string(),
                    &event.id,
                    &format_at(&event.at),
                    event.actor.kind.as_str(),
                    event.actor.id.as_deref().unwrap_or(""),
                    event.action.as_str(),
                    &event.subject.kind,
                    event.subject.id.as_deref().unwrap_or(""),
                    &data,
                    &event.prev.to_hex(),
                    &event.hash.to_hex(),
                ])?;
            }
        }
        self.count += 1;
        Ok(())
    }

    fn track(&mut self, event: &AuditEvent) -> Result<(), ExportError> {
        let stream = event.stream.as_str();
        match self.streams.last_mut() {
            Some(last) if last.stream == stream => {
                if event.seq != last.last_seq + 1 || event.prev != last.head {
                    return Err(ExportError::Order(format!(
                        "{stream} seq {} after seq {}",
                        event.seq, last.last_seq
                    )));
                }
                last.last_seq = event.seq;
                last.head = event.hash;
            }
            previous => {
                if let Some(previous) = previous
                    && previous.stream.as_str() >= stream
                {
                    return Err(ExportError::Order(format!(
                        "stream {stream} after {}",
                        previous.stream
                    )));
                }
                self.streams.push(StreamSummary {
                    stream: stream.to_owned(),
                    first_seq: event.seq,
                    last_seq: event.seq,
                    first_prev: event.prev,
                    head: event.hash,
                });
            }
        }
        Ok(())
    }

    /// Writes the signed manifest and returns the output and the manifest.
    pub fn finish(
        self,
        meta: &ExportMeta,
        signer: &AuditSigner,
    ) -> Result<(W, Value), ExportError> {
        let manifest = manifest_value(meta, self.format.as_str(), self.count, &self.streams);
        let trailer = signed_trailer(&manifest, signer)?;
        let out = match self.sink {
            Sink::Jsonl(mut out) => {
                out.write_all(trailer.as_bytes())?;
                out.write_all(b"\n")?;
                out.flush()?;
                out
            }
            Sink::Csv(mut out) => {
                let mut row = vec![String::new(); CSV_HEADER.len()];
                row[0] = CSV_MANIFEST_MARKER.to_owned();
                row[1] = trailer;
                out.write_record(&row)?;
                out.flush()?;
                out.into_inner()
                    .map_err(|e| ExportError::Io(e.into_error()))?
            }
        };
        Ok((out, manifest))
    }
}

/// `{"key_id":…,"manifest":{…},"signature":…}` as canonical JSON; the
/// signature covers the canonical JSON of the manifest object.
fn signed_trailer(manifest: &Value, signer: &AuditSigner) -> Result<String, ExportError> {
    let canonical_manifest = canonical::to_canonical_string(manifest).map_err(EventError::from)?;
    let trailer = json!({
        "manifest": manifest,
        "signature": signer.sign(canonical_manifest.as_bytes()),
        "key_id": signer.public_key().key_id(),
    });
    Ok(canonical::to_canonical_string(&trailer).map_err(EventError::from)?)
}
