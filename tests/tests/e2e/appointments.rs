use chrono::{Duration, Timelike, Utc};
use rapport_tests::TestDatabase;
use rapport_tests::{TestApp, e2e_test};
use serde_json::{Value, json};

use super::directory::{ok, world};

/// Properties by name, in order.
type Properties = Vec<(String, String)>;

/// Parses an iCalendar file with a real parser; returns the calendar's
/// properties and its one event's.
fn parse_ics(bytes: &[u8]) -> (Properties, Properties) {
    let mut calendars = ical::IcalParser::new(std::io::BufReader::new(bytes));
    let cal = calendars.next().expect("one calendar").expect("it parses");
    assert!(calendars.next().is_none());
    assert_eq!(cal.events.len(), 1);
    let props = |list: &[ical::property::Property]| {
        list.iter()
            .map(|p| (p.name.clone(), p.value.clone().unwrap_or_default()))
            .collect::<Vec<_>>()
    };
    (props(&cal.properties), props(&cal.events[0].properties))
}

fn value<'a>(props: &'a [(String, String)], name: &str) -> &'a str {
    props
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("{name} missing: {props:?}"))
}

e2e_test!(a_booked_slot_sends_both_sides_an_invitation_that_parses);
async fn a_booked_slot_sends_both_sides_an_invitation_that_parses(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let start = (Utc::now() + Duration::days(3))
        .with_second(0)
        .unwrap()
        .with_nanosecond(0)
        .unwrap();
    let slots = json!([
        {"start": start, "end": start + Duration::minutes(30)},
        {"start": start + Duration::days(1), "end": start + Duration::days(1) + Duration::minutes(45)},
    ]);
    let path = format!("/api/v1/cases/{}/appointments", w.acme_case);
    // Bad input names the field and stores nothing.
    let past =
        json!([{"start": Utc::now() - Duration::hours(2), "end": Utc::now() - Duration::hours(1)}]);
    let bad = app
        .post_as(
            &w.agent_in,
            &path,
            &json!({"title": "Review", "slots": past}),
        )
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(bad["field"], "slots");
    app.post_as(
        &w.contact_out,
        &path,
        &json!({"title": "Review", "slots": slots}),
    )
    .await
    .assert_problem(404, "not_found");
    app.post_as(
        &w.auditor,
        &path,
        &json!({"title": "Review", "slots": slots}),
    )
    .await
    .assert_problem(403, "forbidden");

    let proposal = json!({"title": "Invoice walkthrough", "note": "We go through the corrected invoice together.", "slots": slots, "client_request_id": "walkthrough-1"});
    let proposed = ok(app.post_as(&w.agent_in, &path, &proposal).await, 201).await;
    assert_eq!(proposed["status"], "proposed");
    // A retry with the same request id proposes nothing new.
    let again = ok(app.post_as(&w.agent_in, &path, &proposal).await, 200).await;
    assert_eq!(again["id"], proposed["id"]);
    assert_eq!(
        app.get_as(&w.agent_in, &path)
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let thread = app
        .get_as(
            &w.agent_in,
            &format!("/api/v1/cases/{}/entries", w.acme_case),
        )
        .await
        .json();
    assert_eq!(
        thread["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["body"].as_str().unwrap_or("").contains("proposed times"))
            .count(),
        1
    );
    let id = proposed["id"].as_str().unwrap().to_owned();
    let book = format!("{path}/{id}/book");
    // The side that proposed does not book its own proposal.
    let own = app
        .post_as(&w.agent_in, &book, &json!({"slot": 0}))
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(own["field"], "slot");
    app.post_as(&w.contact_in, &book, &json!({"slot": 7}))
        .await
        .assert_problem(422, "validation_failed");
    let booked = ok(
        app.post_as(&w.contact_in, &book, &json!({"slot": 1})).await,
        200,
    )
    .await;
    assert_eq!(booked["status"], "booked");
    app.post_as(&w.contact_in, &book, &json!({"slot": 0}))
        .await
        .assert_problem(409, "conflict");

    // Both sides receive the invitation; a real iCalendar parser reads it.
    let mailbox = db.data_dir().join("mailbox");
    let chosen = start + Duration::days(1);
    for address in [
        "anna@acme.example".to_owned(),
        app.get_as(&w.agent_in, "/api/v1/me").await.json()["email"]
            .as_str()
            .unwrap()
            .to_owned(),
    ] {
        let (mail, _) = rapport_tests::http::wait_for_mail_matching(&mailbox, |m| {
            m.subject.contains("Booked: Invoice walkthrough")
                && m.to.iter().any(|t| t.address == address)
        })
        .await;
        let ics = mail
            .attachments
            .iter()
            .find(|a| a.filename.ends_with(".ics"))
            .expect("an .ics attachment");
        assert!(
            ics.content_type.starts_with("text/calendar"),
            "{}",
            ics.content_type
        );
        let (calendar, event) = parse_ics(&ics.data);
        assert_eq!(value(&calendar, "METHOD"), "REQUEST");
        assert_eq!(value(&calendar, "VERSION"), "2.0");
        assert!(value(&calendar, "PRODID").contains("Rapport"));
        assert_eq!(
            value(&event, "DTSTART"),
            chosen.format("%Y%m%dT%H%M%SZ").to_string()
        );
        assert_eq!(
            value(&event, "DTEND"),
            (chosen + Duration::minutes(45))
                .format("%Y%m%dT%H%M%SZ")
                .to_string()
        );
        assert!(value(&event, "SUMMARY").starts_with("Invoice walkthrough [#"));
        assert_eq!(value(&event, "STATUS"), "CONFIRMED");
        assert!(
            event
                .iter()
                .any(|(n, v)| n == "ATTENDEE" && v == "mailto:anna@acme.example"),
            "{event:?}"
        );
    }
    // The booking shows on the case, in the account timeline and in the account's appointments.
    let list = app.get_as(&w.contact_in, &path).await.json();
    assert_eq!(
        list[0]["booked"]["start"]
            .as_str()
            .map(|s| s.parse::<chrono::DateTime<Utc>>().unwrap()),
        Some(chosen)
    );
    let timeline = app
        .get_as(
            &w.agent_in,
            &format!("/api/v1/accounts/{}/timeline", w.acme),
        )
        .await
        .json();
    let texts: Vec<&str> = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["body"].as_str())
        .collect();
    assert!(
        texts
            .iter()
            .any(|t| t.contains("booked \"Invoice walkthrough\"")),
        "{texts:?}"
    );
    let upcoming = app
        .get_as(
            &w.agent_in,
            &format!("/api/v1/accounts/{}/appointments", w.acme),
        )
        .await
        .json();
    assert_eq!(upcoming.as_array().unwrap().len(), 1);
    app.get_as(
        &w.contact_out,
        &format!("/api/v1/accounts/{}/appointments", w.acme),
    )
    .await
    .assert_problem(404, "not_found");
    // The calendar file can be fetched again.
    let file = app.get_as(&w.contact_in, &format!("{path}/{id}/ics")).await;
    assert_eq!(file.status, 200);
    parse_ics(&file.body);

    // A contact proposes; the team books; a cancellation reaches calendars.
    let from_client: Value = ok(app.post_as(&w.contact_in, &path, &json!({"title": "Contract call", "slots": [{"start": start + Duration::days(2), "end": start + Duration::days(2) + Duration::hours(1)}]})).await, 201).await;
    let id2 = from_client["id"].as_str().unwrap();
    app.post_as(
        &w.contact_in,
        &format!("{path}/{id2}/book"),
        &json!({"slot": 0}),
    )
    .await
    .assert_problem(422, "validation_failed");
    ok(
        app.post_as(
            &w.agent_in,
            &format!("{path}/{id2}/book"),
            &json!({"slot": 0}),
        )
        .await,
        200,
    )
    .await;
    let cancelled = ok(
        app.post_as(&w.contact_in, &format!("{path}/{id2}/cancel"), &json!({}))
            .await,
        200,
    )
    .await;
    assert_eq!(cancelled["status"], "cancelled");
    let (mail, _) = rapport_tests::http::wait_for_mail_matching(&mailbox, |m| {
        m.subject.contains("Cancelled: Contract call")
            && m.to.iter().any(|t| t.address == "anna@acme.example")
    })
    .await;
    let (calendar, event) = parse_ics(
        &mail
            .attachments
            .iter()
            .find(|a| a.filename.ends_with(".ics"))
            .unwrap()
            .data,
    );
    assert_eq!(value(&calendar, "METHOD"), "CANCEL");
    assert_eq!(value(&event, "STATUS"), "CANCELLED");
    app.post_as(&w.agent_in, &format!("{path}/{id2}/cancel"), &json!({}))
        .await
        .assert_problem(409, "conflict");
}
