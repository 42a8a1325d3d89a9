//! Running an audit export: parse what the caller asked for, read the
//! events page by page and stream them through the export writer. Shared
//! by `rapport audit export` and `GET /api/v1/audit/export`.

use std::io::Write;

use chrono::{DateTime, Utc};
use rapport_audit::{
    AuditSigner, ExportFilter, ExportFormat, ExportMeta, ExportWriter, StreamName,
};
use rapport_store::DbConnection;
use rapport_store::audit::{ExportQuery, StreamSelection, export_page};

/// Events read per database round trip: large enough to amortise the
/// query, small enough that memory stays flat.
const PAGE_SIZE: i64 = 1_000;

/// A request for an export that failed to parse, naming the parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExportRequestError {
    #[error("give at most one of stream, case and account")]
    SeveralSelectors,
    #[error("{param}: {reason}")]
    Param { param: &'static str, reason: String },
}

/// A validated export request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRequest {
    pub query: ExportQuery,
    pub filter: ExportFilter,
    pub format: ExportFormat,
}

impl ExportRequest {
    pub fn parse(
        stream: Option<&str>,
        case: Option<&str>,
        account: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
        format: Option<&str>,
    ) -> Result<ExportRequest, ExportRequestError> {
        let given = [stream, case, account]
            .iter()
            .filter(|s| s.is_some())
            .count();
        if given > 1 {
            return Err(ExportRequestError::SeveralSelectors);
        }
        let param =
            |param: &'static str, reason: String| ExportRequestError::Param { param, reason };
        let selection = if let Some(s) = stream {
            StreamSelection::One(StreamName::parse(s).map_err(|e| param("stream", e.to_string()))?)
        } else if let Some(id) = case {
            StreamSelection::One(
                StreamName::parse(&format!("case:{id}"))
                    .map_err(|_| param("case", format!("{id:?} is not a case id")))?,
            )
        } else if let Some(id) = account {
            StreamName::parse(&format!("account:{id}"))
                .map_err(|_| param("account", format!("{id:?} is not an account id")))?;
            StreamSelection::Account(id.to_owned())
        } else {
            StreamSelection::All
        };
        let time = |name: &'static str, value: Option<&str>| {
            value
                .map(|v| {
                    DateTime::parse_from_rfc3339(v)
                        .map(|t| rapport_audit::to_micros(t.with_timezone(&Utc)))
                        .map_err(|e| {
                            param(name, format!("{v:?} is not an RFC 3339 time such as 2026-11-01T00:00:00Z ({e})"))
                        })
                })
                .transpose()
        };
        let from = time("from", from)?;
        let to = time("to", to)?;
        if let (Some(f), Some(t)) = (from, to)
            && f >= t
        {
            return Err(param("to", "must be later than from".to_owned()));
        }
        let format = match format {
            None => ExportFormat::Jsonl,
            Some(f) => ExportFormat::parse(f)
                .ok_or_else(|| param("format", format!("{f:?} is not jsonl or csv")))?,
        };
        Ok(ExportRequest {
            query: ExportQuery {
                streams: selection,
                from,
                to,
            },
            filter: ExportFilter {
                stream: stream.map(str::to_owned),
                case: case.map(str::to_owned),
                account: account.map(str::to_owned),
                from,
                to,
            },
            format,
        })
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportRunError {
    #[error(transparent)]
    Store(#[from] rapport_store::StoreError),
    #[error(transparent)]
    Export(#[from] rapport_audit::ExportError),
}

/// Streams the export into `out` and returns it with the signed manifest.
/// `progress` is called after each page with the events written so far.
pub fn run<W: Write>(
    conn: &mut DbConnection,
    request: &ExportRequest,
    signer: &AuditSigner,
    instance: &str,
    out: W,
    mut progress: impl FnMut(u64),
) -> Result<(W, serde_json::Value), ExportRunError> {
    let mut writer = ExportWriter::new(out, request.format)?;
    let mut cursor = None;
    loop {
        let (events, next) = export_page(conn, &request.query, cursor.as_ref(), PAGE_SIZE)?;
        for event in &events {
            writer.write(event)?;
        }
        progress(writer.count());
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let checkpoint = rapport_store::audit_tree::latest(conn)?
        .map(|c| crate::usecase::audit_tree::as_json(instance, &c));
    let meta = ExportMeta {
        exported_at: Utc::now(),
        instance: instance.to_owned(),
        filter: request.filter.clone(),
        checkpoint,
    };
    Ok(writer.finish(&meta, signer)?)
}

/// Whether the export selects something that exists (a typo in a case id
/// should be a 404, not an empty file).
pub fn selection_exists(
    conn: &mut rapport_store::DbConnection,
    selection: &StreamSelection,
) -> Result<bool, rapport_store::StoreError> {
    match selection {
        StreamSelection::One(stream) => rapport_store::audit::stream_exists(conn, stream),
        StreamSelection::All | StreamSelection::Account(_) => Ok(true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_selector_at_most() {
        assert_eq!(
            ExportRequest::parse(Some("system"), Some("c1"), None, None, None, None),
            Err(ExportRequestError::SeveralSelectors)
        );
    }

    #[test]
    fn bad_parameters_are_named() {
        let err = ExportRequest::parse(None, None, None, Some("yesterday"), None, None)
            .expect_err("bad time");
        assert!(err.to_string().starts_with("from: "), "{err}");
        let err =
            ExportRequest::parse(None, Some("a b"), None, None, None, None).expect_err("bad id");
        assert!(err.to_string().starts_with("case: "), "{err}");
        let err = ExportRequest::parse(None, None, None, None, None, Some("xml"))
            .expect_err("bad format");
        assert!(err.to_string().starts_with("format: "), "{err}");
        let err = ExportRequest::parse(
            None,
            None,
            None,
            Some("2026-02-01T00:00:00Z"),
            Some("2026-01-01T00:00:00Z"),
            None,
        )
        .expect_err("inverted window");
        assert!(err.to_string().starts_with("to: "), "{err}");
    }

    #[test]
    fn account_selection_covers_its_case_streams() {
        let req =
            ExportRequest::parse(None, None, Some("acme"), None, None, Some("csv")).expect("valid");
        assert_eq!(req.query.streams, StreamSelection::Account("acme".into()));
        assert_eq!(req.format, ExportFormat::Csv);
    }
}
