//! The signed manifest that closes every export: what was exported, how
//! many events, and where each stream's exported run starts and ends.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::event::format_at;
use crate::hash::EventHash;

/// Version of the export format described in `docs/audit-format.md`.
pub const FORMAT_VERSION: u64 = 1;

/// Which events an export holds. Unset fields are left out of the manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportFilter {
    pub stream: Option<String>,
    pub case: Option<String>,
    pub account: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl ExportFilter {
    pub fn to_value(&self) -> Value {
        let mut map = Map::new();
        let mut put = |key: &str, value: Option<String>| {
            if let Some(v) = value {
                map.insert(key.to_owned(), Value::String(v));
            }
        };
        put("stream", self.stream.clone());
        put("case", self.case.clone());
        put("account", self.account.clone());
        put("from", self.from.as_ref().map(format_at));
        put("to", self.to.as_ref().map(format_at));
        Value::Object(map)
    }
}

/// One stream's run in an export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSummary {
    pub stream: String,
    pub first_seq: u64,
    pub last_seq: u64,
    /// `prev` of the first exported event: 64 zeros when the run starts
    /// at seq 1, else the hash of the event before the run.
    pub first_prev: EventHash,
    /// Hash of the last exported event.
    pub head: EventHash,
}

impl StreamSummary {
    pub fn to_value(&self) -> Value {
        json!({
            "stream": self.stream,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "first_prev": self.first_prev.to_hex(),
            "head": self.head.to_hex(),
        })
    }
}

/// Where an export came from, written into its manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportMeta {
    pub exported_at: DateTime<Utc>,
    /// The installation id, so an auditor knows which system produced it.
    pub instance: String,
    pub filter: ExportFilter,
    /// The newest signed checkpoint of the whole log, kept in the signed
    /// manifest so a later export can be shown to extend this one.
    pub checkpoint: Option<Value>,
}

/// Builds the manifest object.
pub fn manifest_value(
    meta: &ExportMeta,
    format: &str,
    event_count: u64,
    streams: &[StreamSummary],
) -> Value {
    let mut manifest = json!({
        "format_version": FORMAT_VERSION,
        "format": format,
        "exported_at": format_at(&meta.exported_at),
        "instance": meta.instance,
        "filter": meta.filter.to_value(),
        "event_count": event_count,
        "streams": streams.iter().map(StreamSummary::to_value).collect::<Vec<_>>(),
    });
    if let (Some(c), Some(m)) = (&meta.checkpoint, manifest.as_object_mut()) {
        m.insert("checkpoint".into(), c.clone());
    }
    manifest
}
