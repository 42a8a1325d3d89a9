//! Typed values at the storage boundary: every kind of column (typed ids,
//! text enums, JSON, UTC times, nulls) reads back as written on both
//! backends, and a value damaged in the database fails the read with a
//! clear error instead of turning into a default.

use chrono::{Duration, Utc};
use diesel::RunQueryDsl;
use rapport_domain::{CasePriority, CaseStatus, Channel, ContactFunction, Domain, LifecycleStage};
use rapport_store::account::AccountFields;
use rapport_store::case::Case;
use rapport_store::{PoolOptions, Store, StoreError};
use rapport_tests::{TestDatabase, e2e_test};
use serde_json::{Map, json};

fn migrated(db: &TestDatabase) -> Store {
    let url = rapport_store::DatabaseUrl::parse(&db.url).unwrap();
    let store = Store::connect(&url, &PoolOptions::default()).unwrap();
    store.migrate().unwrap();
    store
}

fn account(store: &Store) -> rapport_store::account::Account {
    let mut custom = Map::new();
    custom.insert("erp".into(), json!({"id": 4711, "region": "EMEA"}));
    let fields = AccountFields {
        name: "Acme Manufacturing".into(),
        domains: vec![Domain::parse("acme.example").unwrap()],
        tier: "gold".into(),
        lifecycle: LifecycleStage::parse("customer").unwrap(),
        team_id: None,
        owner_id: None,
        notes: "Quarterly billing".into(),
        custom_fields: custom,
        external_id: Some("CRM-4711".into()),
        parent_id: None,
        team_inherited: false,
    };
    let mut conn = store.conn().unwrap();
    rapport_store::account::insert(&mut conn, &fields).unwrap()
}

e2e_test!(every_kind_of_column_reads_back_as_written_and_damage_is_an_error);
async fn every_kind_of_column_reads_back_as_written_and_damage_is_an_error(db: &TestDatabase) {
    let store = migrated(db);
    let account = account(&store);
    let mut conn = store.conn().unwrap();
    assert_eq!(
        rapport_store::account::find(&mut conn, account.id).unwrap(),
        Some(account.clone()),
        "an account with JSON fields and a domain reads back whole"
    );
    let contact = rapport_store::contact::insert(
        &mut conn,
        account.id,
        &rapport_store::contact::ContactFields {
            name: rapport_domain::PersonName::parse("Dana Roth").unwrap(),
            emails: vec![rapport_domain::EmailAddress::parse("dana@acme.example").unwrap()],
            phone: None,
            function: ContactFunction::parse("finance").unwrap(),
            title: Some("Bookkeeper".into()),
            is_primary: true,
            portal_access: true,
            visibility: rapport_domain::ContactVisibility::parse("own_cases").unwrap(),
            preferred_channel: rapport_domain::PreferredChannel::parse("email").unwrap(),
            active: true,
            external_id: None,
            case_notices: rapport_domain::CaseNotices::Digest,
        },
    )
    .unwrap();
    assert_eq!(
        rapport_store::contact::find(&mut conn, contact.id).unwrap(),
        Some(contact.clone())
    );

    let now = Utc::now();
    let case = Case {
        id: rapport_domain::CaseId::new(),
        number: rapport_store::case::next_number(&mut conn).unwrap(),
        account_id: account.id,
        opened_by_contact_id: Some(contact.id),
        opened_by_staff_id: None,
        subject: "Invoice 7781 charged twice".into(),
        team_id: None,
        assignee_id: None,
        status: CaseStatus::PendingClient,
        priority: CasePriority::High,
        category: Some("billing".into()),
        tags: vec!["refund".into(), "vip".into()],
        channel: Channel::Email,
        merged_into_id: None,
        follows_case_id: None,
        reopen_count: 2,
        first_response_at: Some(rapport_audit::to_micros(now - Duration::hours(3))),
        resolved_at: None,
        closed_at: None,
        last_activity_at: rapport_audit::to_micros(now),
        created_at: rapport_audit::to_micros(now - Duration::days(2)),
        updated_at: rapport_audit::to_micros(now),
        routing_note: Some("Routed to Ana in Key Accounts: billing skill.".into()),
    };
    rapport_store::case::insert(&mut conn, &case).unwrap();
    assert_eq!(
        rapport_store::case::find(&mut conn, case.id).unwrap(),
        Some(case.clone()),
        "ids, enums, tags, set and unset times and references read back as written"
    );
    // Enums are guarded by CHECK constraints in both schemas; a JSON
    // list and an id without a foreign key are not: damage them, and each
    // read fails and says what it could not read.
    let damage = |conn: &mut rapport_store::DbConnection, sql: &str| {
        diesel::sql_query(sql).execute(conn).unwrap();
    };
    damage(
        &mut conn,
        &format!(
            "UPDATE cases SET tags = '{{not json' WHERE id = '{}'",
            case.id
        ),
    );
    assert!(matches!(
        rapport_store::case::find(&mut conn, case.id),
        Err(StoreError::Corrupt(_))
    ));
    damage(
        &mut conn,
        &format!("UPDATE cases SET tags = '[]' WHERE id = '{}'", case.id),
    );
    // An id that is not a UUID, where no foreign key guards it.
    let before = rapport_store::changes::last_id(&mut conn).unwrap();
    damage(
        &mut conn,
        "INSERT INTO committed_changes (origin, kind, case_id, entry_id, data, created_at) \
         VALUES ('test', 'case_opened', 'nobody', NULL, '{}', CURRENT_TIMESTAMP)",
    );
    match rapport_store::changes::after(&mut conn, before, 10) {
        Err(StoreError::Corrupt(why)) => assert!(why.contains("nobody"), "{why}"),
        other => panic!("a damaged id read as {other:?}"),
    }
    damage(
        &mut conn,
        "DELETE FROM committed_changes WHERE case_id = 'nobody'",
    );
    assert_eq!(
        rapport_store::case::find(&mut conn, case.id)
            .unwrap()
            .map(|c| c.tags),
        Some(Vec::new()),
        "repaired, the case reads again"
    );
}
