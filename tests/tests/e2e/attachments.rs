use rapport_tests::TestDatabase;
use rapport_tests::{TestApp, e2e_test};

use super::directory::world;

const BOUNDARY: &str = "rapport-test-boundary-7f3a";

/// A multipart/form-data body: text fields, then files (name, bytes).
pub(crate) fn multipart(fields: &[(&str, &str)], files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    for (filename, bytes) in files {
        out.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: text/plain\r\n\r\n").as_bytes(),
        );
        out.extend_from_slice(bytes);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

pub(crate) fn content_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

const PDF: &[u8] =
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";

e2e_test!(a_contact_attaches_a_file_that_downloads_only_as_an_attachment);
async fn a_contact_attaches_a_file_that_downloads_only_as_an_attachment(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let path = format!("/api/v1/cases/{}/attachments", w.acme_case);
    // The client claims text; the content says PDF, and the name carries a path.
    let body = multipart(
        &[("body", "Here is the purchase order.")],
        &[("../../PO 7781.txt", PDF)],
    );
    let res = app
        .send_raw(&path, &content_type(), body, Some(&w.contact_in))
        .await;
    assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
    let posted = res.json();
    let file = &posted["entry"]["attachments"][0];
    assert_eq!(file["filename"], "PO 7781.txt");
    assert_eq!(file["content_type"], "application/pdf");
    assert_eq!(file["size"], PDF.len());
    let url = file["url"].as_str().unwrap().to_owned();

    for token in [&w.contact_in, &w.agent_in, &w.auditor] {
        let got = app.get_as(token, &url).await;
        assert_eq!(got.status, 200);
        assert_eq!(got.body, PDF);
        assert_eq!(got.header("content-type"), Some("application/pdf"));
        assert!(
            got.header("content-disposition")
                .unwrap()
                .starts_with("attachment"),
            "never inline"
        );
    }
    for token in [&w.contact_out, &w.agent_out] {
        app.get_as(token, &url)
            .await
            .assert_problem(404, "not_found");
    }
    app.get(&url).await.assert_problem(401, "unauthenticated");
    // The thread lists the file with the entry.
    let thread = app
        .get_as(
            &w.contact_in,
            &format!("/api/v1/cases/{}/entries", w.acme_case),
        )
        .await
        .json();
    let entry = thread["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["body"] == "Here is the purchase order.")
        .unwrap()
        .clone();
    assert_eq!(entry["attachments"][0]["url"], url.as_str());
    // Stored once, by content, with no leftovers.
    let tmp = db.data_dir().join("attachments/tmp");
    assert_eq!(std::fs::read_dir(tmp).unwrap().count(), 0);
}

e2e_test!(page_like_files_and_note_attachments_are_handled_safely);
async fn page_like_files_and_note_attachments_are_handled_safely(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let path = format!("/api/v1/cases/{}/attachments", w.acme_case);
    let html = b"<html><script>alert(document.cookie)</script></html>";
    let res = app
        .send_raw(
            &path,
            &content_type(),
            multipart(&[("kind", "note")], &[("x.html", html)]),
            Some(&w.agent_in),
        )
        .await;
    assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
    let url = res.json()["entry"]["attachments"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let got = app.get_as(&w.agent_in, &url).await;
    assert_eq!(
        got.header("content-type"),
        Some("application/octet-stream"),
        "never served as a page"
    );
    assert!(
        got.header("content-disposition")
            .unwrap()
            .starts_with("attachment")
    );
    // A note's file is as internal as the note.
    app.get_as(&w.contact_in, &url)
        .await
        .assert_problem(404, "not_found");
    // Contacts cannot attach to notes, nor to other companies' cases.
    let res = app
        .send_raw(
            &path,
            &content_type(),
            multipart(&[("kind", "note")], &[("a.pdf", PDF)]),
            Some(&w.contact_in),
        )
        .await;
    res.assert_problem(422, "validation_failed");
    let res = app
        .send_raw(
            &path,
            &content_type(),
            multipart(&[], &[("a.pdf", PDF)]),
            Some(&w.contact_out),
        )
        .await;
    res.assert_problem(404, "not_found");
    let res = app
        .send_raw(
            &path,
            &content_type(),
            multipart(&[("colour", "red")], &[("a.pdf", PDF)]),
            Some(&w.contact_in),
        )
        .await;
    res.assert_problem(400, "invalid_multipart");
    let res = app
        .send_raw(
            &path,
            &content_type(),
            multipart(&[("body", "no file")], &[]),
            Some(&w.contact_in),
        )
        .await;
    res.assert_problem(400, "invalid_multipart");
    assert_eq!(
        std::fs::read_dir(db.data_dir().join("attachments/tmp"))
            .unwrap()
            .count(),
        0,
        "rejected uploads leave nothing"
    );
}

e2e_test!(an_oversized_file_is_refused_and_leaves_nothing);
async fn an_oversized_file_is_refused_and_leaves_nothing(db: &TestDatabase) {
    let app = TestApp::spawn_with(db, |s| s.cases.max_attachment_bytes = 4_096).await;
    let w = world(&app, db).await;
    let path = format!("/api/v1/cases/{}/attachments", w.acme_case);
    let big = vec![b'x'; 10_000];
    let res = app
        .send_raw(
            &path,
            &content_type(),
            multipart(&[], &[("big.bin", &big)]),
            Some(&w.contact_in),
        )
        .await;
    res.assert_problem(413, "payload_too_large");
    assert_eq!(
        std::fs::read_dir(db.data_dir().join("attachments/tmp"))
            .unwrap()
            .count(),
        0
    );
    let thread = app
        .get_as(
            &w.agent_in,
            &format!("/api/v1/cases/{}/entries", w.acme_case),
        )
        .await
        .json();
    assert_eq!(
        thread["items"].as_array().unwrap().len(),
        1,
        "no entry was made"
    );
}

e2e_test!(a_large_file_downloads_byte_for_byte_in_chunks);
async fn a_large_file_downloads_byte_for_byte_in_chunks(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let data: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let res = app
        .send_raw(
            &format!("/api/v1/cases/{}/attachments", w.acme_case),
            &content_type(),
            multipart(&[], &[("data.bin", &data)]),
            Some(&w.agent_in),
        )
        .await;
    assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
    let url = res.json()["entry"]["attachments"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let got = app.get_as(&w.contact_in, &url).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.header("content-length"), Some("300000"));
    assert!(got.body == data, "content differs");
}

/// Sets a file's modification time into the past.
fn age(path: &std::path::Path, hours: u32) {
    let status = std::process::Command::new("touch")
        .arg("-d")
        .arg(format!("{hours} hours ago"))
        .arg(path)
        .status()
        .expect("touch runs");
    assert!(status.success());
}

e2e_test!(unreferenced_attachment_content_is_swept_after_an_hour);
async fn unreferenced_attachment_content_is_swept_after_an_hour(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let path = format!("/api/v1/cases/{}/attachments", w.acme_case);
    let body = multipart(
        &[("body", "The signed contract.")],
        &[("contract.pdf", PDF)],
    );
    let res = app
        .send_raw(&path, &content_type(), body, Some(&w.contact_in))
        .await;
    assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
    let url = res.json()["entry"]["attachments"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();

    // What a rolled-back write leaves: content placed, no row. And an
    // upload abandoned mid-way.
    let root = db.data_dir().join("attachments");
    let orphan_sha = "ab".repeat(32);
    let orphan = root.join("ab/ab").join(&orphan_sha);
    std::fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    std::fs::write(&orphan, b"left behind").unwrap();
    let abandoned = root.join("tmp/abandoned-upload");
    std::fs::write(&abandoned, b"half a file").unwrap();
    let sweep = || rapport_server::usecase::case::sweep_attachment_files(&app.state).unwrap();
    assert_eq!(sweep(), 0, "nothing young is touched");
    assert!(orphan.exists() && abandoned.exists());

    // An hour later both go; the file the thread refers to stays.
    for dir in [root.join("ab/ab"), root.join("tmp")] {
        for f in std::fs::read_dir(&dir).unwrap().flatten() {
            age(&f.path(), 2);
        }
    }
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(PDF));
    let kept = root.join(&sha[..2]).join(&sha[2..4]).join(&sha);
    age(&kept, 2);
    assert_eq!(sweep(), 2);
    assert!(!orphan.exists() && !abandoned.exists());
    assert!(kept.exists());
    let got = app.get_as(&w.agent_in, &url).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, PDF);
}
