//! Exports are verified offline; every kind of tampering must be caught
//! and named.

#![allow(clippy::unwrap_used)]

use chrono::{TimeZone, Utc};
use rapport_audit::*;
use serde_json::{Map, Value, json};

fn signer(seed: u8) -> AuditSigner {
    AuditSigner::from_seed_hex(&format!("{seed:02x}").repeat(32)).unwrap()
}

/// Three streams, sealed as storage would.
fn history() -> Vec<AuditEvent> {
    let mut events = Vec::new();
    let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
    for (s, stream) in ["account:acme", "case:c1", "case:c2"].iter().enumerate() {
        let mut head = ChainHead::EMPTY;
        for i in 0..5u32 {
            let mut data = Map::new();
            data.insert("step".into(), json!(i));
            data.insert(
                "note".into(),
                json!(format!("ünïcode, \"quotes\", commas, newline\n{i}")),
            );
            let new = NewEvent::new(
                StreamName::parse(stream).unwrap(),
                Actor::new(ActorKind::Staff, "agent-7").unwrap(),
                Action::parse("case.status_changed").unwrap(),
                Subject::new("case", Some("c1")).unwrap(),
                data,
            )
            .unwrap();
            let at = t0 + chrono::Duration::seconds(i64::from(i) * 60 + s as i64);
            let event = seal(new, &head, format!("id-{s}-{i}"), at).unwrap();
            head = event.head();
            events.push(event);
        }
    }
    events
}

fn export(events: &[AuditEvent], format: ExportFormat, key: &AuditSigner) -> String {
    let mut writer = ExportWriter::new(Vec::new(), format).unwrap();
    for e in events {
        writer.write(e).unwrap();
    }
    let meta = ExportMeta {
        exported_at: Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap(),
        instance: "inst-1".into(),
        filter: ExportFilter::default(),
        checkpoint: None,
    };
    let (bytes, _) = writer.finish(&meta, key).unwrap();
    String::from_utf8(bytes).unwrap()
}

fn verify(text: &str) -> Result<VerifyReport, VerifyFailure> {
    verify_export(text.as_bytes(), &signer(1).public_key())
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_owned).collect()
}

fn join(lines: &[String]) -> String {
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

#[test]
fn clean_exports_verify_in_both_formats() {
    for format in [ExportFormat::Jsonl, ExportFormat::Csv] {
        let report = verify(&export(&history(), format, &signer(1))).unwrap();
        assert_eq!(report.events, 15);
        assert_eq!(report.streams, 3);
        assert_eq!(report.format, format);
        assert_eq!(report.key_id, signer(1).public_key().key_id());
    }
}

#[test]
fn every_jsonl_line_is_canonical_json() {
    let text = export(&history(), ExportFormat::Jsonl, &signer(1));
    for line in text.lines() {
        let value: Value = serde_json::from_str(line).unwrap();
        assert_eq!(canonical::to_canonical_string(&value).unwrap(), line);
    }
}

#[test]
fn edited_data_field_is_detected() {
    let mut l = lines(&export(&history(), ExportFormat::Jsonl, &signer(1)));
    l[6] = l[6].replace("\"step\":1", "\"step\":9");
    let err = verify(&join(&l)).unwrap_err();
    assert_eq!(err.line, Some(7));
    assert!(err.reason.contains("the event was altered"), "{err}");
}

#[test]
fn edited_csv_cell_is_detected() {
    let text = export(&history(), ExportFormat::Csv, &signer(1));
    let tampered = text.replacen("agent-7", "agent-8", 1);
    let err = verify(&tampered).unwrap_err();
    assert_eq!(err.line, Some(2));
    assert!(err.reason.contains("the event was altered"), "{err}");
}

#[test]
fn deleted_line_in_the_middle_of_a_stream_is_detected() {
    let mut l = lines(&export(&history(), ExportFormat::Jsonl, &signer(1)));
    l.remove(7); // case:c1 seq 3
    let err = verify(&join(&l)).unwrap_err();
    assert_eq!(err.line, Some(8));
    assert_eq!(
        err.reason,
        "stream case:c1: seq 4 follows seq 2: 1 event(s) missing"
    );
}

#[test]
fn deleted_last_event_of_a_stream_is_detected_by_the_manifest() {
    let mut l = lines(&export(&history(), ExportFormat::Jsonl, &signer(1)));
    l.remove(9); // case:c1 seq 5
    let err = verify(&join(&l)).unwrap_err();
    assert!(
        err.reason
            .contains("the manifest counts 15 events but the file holds 14"),
        "{err}"
    );
}

#[test]
fn deleted_first_event_of_a_stream_is_detected_by_the_manifest() {
    let mut l = lines(&export(&history(), ExportFormat::Jsonl, &signer(1)));
    l.remove(5); // case:c1 seq 1
    let err = verify(&join(&l)).unwrap_err();
    assert!(err.reason.contains("events were added or removed"), "{err}");
}

#[test]
fn swapped_pair_is_detected_as_out_of_order() {
    let mut l = lines(&export(&history(), ExportFormat::Jsonl, &signer(1)));
    l.swap(11, 12); // case:c2 seq 2 and 3
    let err = verify(&join(&l)).unwrap_err();
    assert_eq!(err.line, Some(13));
    assert_eq!(
        err.reason,
        "stream case:c2: seq 2 comes after seq 3: events are out of order"
    );
}

#[test]
fn manifest_resigned_with_another_key_is_detected() {
    // Someone drops an event, then signs a fresh, consistent manifest
    // with a key of their own.
    let mut events = history();
    events.truncate(14);
    let forged = export(&events, ExportFormat::Jsonl, &signer(2));
    let err = verify(&forged).unwrap_err();
    assert_eq!(err.line, Some(15));
    assert!(err.reason.contains("not by the expected key"), "{err}");

    // Same, but claiming the genuine key id.
    let genuine_id = signer(1).public_key().key_id();
    let forged_id = signer(2).public_key().key_id();
    let spoofed = forged.replace(&forged_id, &genuine_id);
    let err = verify(&spoofed).unwrap_err();
    assert!(err.reason.contains("signature does not verify"), "{err}");
}

#[test]
fn edited_manifest_is_detected() {
    let text = export(&history(), ExportFormat::Jsonl, &signer(1));
    let tampered = text.replace("\"instance\":\"inst-1\"", "\"instance\":\"inst-2\"");
    assert_ne!(text, tampered);
    let err = verify(&tampered).unwrap_err();
    assert!(err.reason.contains("signature does not verify"), "{err}");
}

#[test]
fn truncated_files_are_detected() {
    let text = export(&history(), ExportFormat::Jsonl, &signer(1));
    // Cut in the middle of a line.
    let cut = &text[..text.len() / 2];
    let err = verify(cut).unwrap_err();
    assert!(err.reason.contains("truncated"), "{err}");
    // Cut cleanly before the manifest.
    let l = lines(&text);
    let err = verify(&join(&l[..l.len() - 1])).unwrap_err();
    assert_eq!(
        err.reason,
        "the file ends without a manifest line: it is truncated"
    );
    // CSV cut before its manifest row.
    let csv = export(&history(), ExportFormat::Csv, &signer(1));
    let rows: Vec<&str> = csv.lines().collect();
    let cut_csv = format!("{}\n", rows[..rows.len() - 1].join("\n"));
    let err = verify(&cut_csv).unwrap_err();
    assert!(err.reason.contains("truncated"), "{err}");
}

#[test]
fn appended_event_after_the_manifest_is_detected() {
    let text = export(&history(), ExportFormat::Jsonl, &signer(1));
    let first = text.lines().next().unwrap().to_owned();
    let err = verify(&format!("{text}{first}\n")).unwrap_err();
    assert!(err.reason.contains("after the manifest"), "{err}");
}

#[test]
fn a_time_window_export_verifies_from_its_first_prev() {
    let events: Vec<_> = history()
        .into_iter()
        .filter(|e| (2..=4).contains(&e.seq))
        .collect();
    let text = export(&events, ExportFormat::Jsonl, &signer(1));
    let report = verify(&text).unwrap();
    assert_eq!(report.events, 9);
    let manifest: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let first = &manifest["manifest"]["streams"][0];
    assert_eq!(first["first_seq"], 2);
    assert_ne!(first["first_prev"], "0".repeat(64));
}

#[test]
fn writer_refuses_to_produce_an_unverifiable_export() {
    let events = history();
    let mut writer = ExportWriter::new(Vec::new(), ExportFormat::Jsonl).unwrap();
    writer.write(&events[0]).unwrap();
    assert!(writer.write(&events[2]).is_err(), "gap must be refused");
}

#[test]
fn time_never_goes_backwards_within_a_stream() {
    let first = seal(
        NewEvent::new(
            StreamName::system(),
            Actor::system(),
            Action::parse("system.started").unwrap(),
            Subject::new("system", None).unwrap(),
            Map::new(),
        )
        .unwrap(),
        &ChainHead::EMPTY,
        "a".into(),
        Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap(),
    )
    .unwrap();
    let skewed_clock = Utc.with_ymd_and_hms(2026, 1, 1, 11, 59, 0).unwrap();
    let second = seal(
        NewEvent::new(
            StreamName::system(),
            Actor::system(),
            Action::parse("system.started").unwrap(),
            Subject::new("system", None).unwrap(),
            Map::new(),
        )
        .unwrap(),
        &first.head(),
        "b".into(),
        skewed_clock,
    )
    .unwrap();
    assert_eq!(second.at, first.at);
    assert_eq!(second.prev, first.hash);
    assert_eq!(second.seq, 2);
}

fn compare(older: &str, newer: &str) -> Result<CompareReport, VerifyFailure> {
    compare_exports(
        std::io::Cursor::new(older.to_owned().into_bytes()),
        std::io::Cursor::new(newer.to_owned().into_bytes()),
    )
}

/// History with one event of `case:c1` rewritten and the chain sealed
/// again from there, as an attacker with the database would.
fn rewritten(events: &[AuditEvent]) -> Vec<AuditEvent> {
    let mut out = Vec::new();
    let mut head = ChainHead::EMPTY;
    let mut stream = String::new();
    for e in events {
        if e.stream.as_str() != stream {
            stream = e.stream.as_str().to_owned();
            head = ChainHead::EMPTY;
        }
        let mut data = e.data.clone();
        if e.stream.as_str() == "case:c1" && e.seq == 2 {
            data.insert("step".into(), json!(99));
        }
        let new = NewEvent::new(
            e.stream.clone(),
            e.actor.clone(),
            e.action.clone(),
            e.subject.clone(),
            data,
        )
        .unwrap();
        let sealed = seal(new, &head, e.id.clone(), e.at).unwrap();
        head = sealed.head();
        out.push(sealed);
    }
    out
}

#[test]
fn a_later_export_that_extends_an_earlier_one_compares_clean() {
    let all = history();
    let key = signer(1);
    // The earlier export had the first three events of each stream.
    let earlier: Vec<AuditEvent> = all.iter().filter(|e| e.seq <= 3).cloned().collect();
    for format in [ExportFormat::Jsonl, ExportFormat::Csv] {
        let older = export(&earlier, format, &key);
        let newer = export(&all, format, &key);
        let report = compare(&older, &newer).unwrap();
        assert_eq!(report.unchanged, 9);
        assert_eq!(report.added, 6);
    }
}

#[test]
fn history_rewritten_and_resealed_since_an_earlier_export_is_named() {
    let all = history();
    let key = signer(1);
    let older = export(&all, ExportFormat::Jsonl, &key);
    // Sealed again and signed by the real key: it verifies on its own...
    let forged = export(&rewritten(&all), ExportFormat::Jsonl, &key);
    verify(&forged).unwrap();
    // ...but not against what the auditor exported before.
    let err = compare(&older, &forged).unwrap_err();
    assert!(
        err.reason.starts_with("case:c1 seq 2 (event id-1-1)"),
        "{err}"
    );
    assert!(err.reason.contains("rewritten"), "{err}");
}

#[test]
fn an_event_removed_since_an_earlier_export_is_named() {
    let all = history();
    let key = signer(1);
    let older = export(&all, ExportFormat::Csv, &key);
    // The last event of case:c2 dropped (and the stream head moved back).
    let fewer: Vec<AuditEvent> = all
        .iter()
        .filter(|e| !(e.stream.as_str() == "case:c2" && e.seq == 5))
        .cloned()
        .collect();
    let newer = export(&fewer, ExportFormat::Csv, &key);
    verify(&newer).unwrap();
    let err = compare(&older, &newer).unwrap_err();
    assert!(
        err.reason.starts_with("case:c2 seq 5 (event id-2-4)"),
        "{err}"
    );
    assert!(err.reason.contains("not in the newer one"), "{err}");
}
