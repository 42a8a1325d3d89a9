use actix_web::http::Method;
use rapport_tests::{TestApp, TestDatabase, e2e_test, seed};

use super::access::{MatrixRow, check_matrix, tokens};
use serde_json::{Value, json};

/// Everyone the matrix calls as, signed in against one server.
pub(crate) struct World {
    pub(crate) admin: String,
    pub(crate) agent_in: String,
    pub(crate) agent_out: String,
    pub(crate) auditor: String,
    pub(crate) contact_in: String,
    pub(crate) contact_out: String,
    pub(crate) agent_in_id: String,
    pub(crate) agent_out_id: String,
    pub(crate) admin_id: String,
    pub(crate) spare_id: String,
    pub(crate) team_in: String,
    pub(crate) team_out: String,
    pub(crate) acme: String,
    pub(crate) anna: String,
    pub(crate) acme_case: String,
}

impl World {
    /// A world of made-up ids, for listing the matrices' routes without a server.
    pub(crate) fn placeholder() -> World {
        let id = || uuid::Uuid::now_v7().to_string();
        World {
            admin: String::new(),
            agent_in: String::new(),
            agent_out: String::new(),
            auditor: String::new(),
            contact_in: String::new(),
            contact_out: String::new(),
            agent_in_id: id(),
            agent_out_id: id(),
            admin_id: id(),
            spare_id: id(),
            team_in: id(),
            team_out: id(),
            acme: id(),
            anna: id(),
            acme_case: id(),
        }
    }
}

pub(crate) async fn me_id(app: &TestApp, token: &str) -> String {
    app.get_as(token, "/api/v1/me").await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The names of a page's items, in order.
fn item_names(page: Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect()
}

pub(crate) async fn ok(res: rapport_tests::Response, status: u16) -> Value {
    assert_eq!(res.status, status, "{}", String::from_utf8_lossy(&res.body));
    if res.body.is_empty() {
        Value::Null
    } else {
        res.json()
    }
}

/// Signs a contact in the way contacts do: a magic link from the mailbox.
pub(crate) async fn contact_token(app: &TestApp, db: &TestDatabase, email: &str) -> String {
    rapport_tests::http::contact_token_by_link(
        &awc::Client::new(),
        &app.base_url,
        db.data_dir(),
        email,
    )
    .await
}

pub(crate) async fn world(app: &TestApp, db: &TestDatabase) -> World {
    let admin = app.token_for(db, "admin").await;
    let agent_in = app.token_for(db, "agent").await;
    let agent_out = app.token_for(db, "agent").await;
    let auditor = app.token_for(db, "auditor").await;
    let (agent_in_id, agent_out_id, admin_id) = (
        me_id(app, &agent_in).await,
        me_id(app, &agent_out).await,
        me_id(app, &admin).await,
    );
    let spare = app.token_for(db, "agent").await;
    let spare_id = me_id(app, &spare).await;

    let team_in = ok(
        app.post_as(&admin, "/api/v1/teams", &json!({"name": "Key Accounts"}))
            .await,
        201,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let team_out = ok(
        app.post_as(&admin, "/api/v1/teams", &json!({"name": "Mid Market"}))
            .await,
        201,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (team, staff) in [
        (&team_in, &agent_in_id),
        (&team_out, &agent_out_id),
        (&team_out, &spare_id),
    ] {
        let res = app
            .send(
                Method::PUT,
                &format!("/api/v1/teams/{team}/members/{staff}"),
                Some(json!({"role": "member"}).to_string()),
                Some(&admin),
            )
            .await;
        ok(res, 200).await;
    }
    let acme = ok(
        app.post_as(&admin, "/api/v1/accounts", &json!({"name": "Acme Manufacturing", "domains": ["acme.example"], "tier": "strategic", "team_id": team_in, "owner_id": agent_in_id, "notes": "Renewal in March"})).await,
        201,
    ).await["id"].as_str().unwrap().to_owned();
    let globex = ok(
        app.post_as(&admin, "/api/v1/accounts", &json!({"name": "Globex Logistics", "domains": ["globex.example"], "team_id": team_out})).await,
        201,
    ).await["id"].as_str().unwrap().to_owned();
    let anna = ok(
        app.post_as(&agent_in, &format!("/api/v1/accounts/{acme}/contacts"), &json!({"name": "Anna Finance", "emails": ["anna@acme.example"], "function": "finance", "is_primary": true, "phone": "+49 30 1234567"})).await,
        201,
    ).await["id"].as_str().unwrap().to_owned();
    ok(
        app.post_as(
            &agent_out,
            &format!("/api/v1/accounts/{globex}/contacts"),
            &json!({"name": "Gus Ops", "emails": ["gus@globex.example"], "function": "operations"}),
        )
        .await,
        201,
    )
    .await;
    let contact_in = contact_token(app, db, "anna@acme.example").await;
    let contact_out = contact_token(app, db, "gus@globex.example").await;
    let acme_case = ok(
        app.post_as(&contact_in, "/api/v1/cases", &json!({"subject": "Invoice 2026-114 does not match the PO", "body": "The invoice total differs from PO 7781.", "category": "billing"})).await,
        201,
    ).await["case"]["id"].as_str().unwrap().to_owned();
    World {
        admin,
        agent_in,
        agent_out,
        auditor,
        contact_in,
        contact_out,
        agent_in_id,
        agent_out_id,
        admin_id,
        spare_id,
        team_in,
        team_out,
        acme,
        anna,
        acme_case,
    }
}

/// The directory, cases and threads, called by every kind of caller (the
/// columns are [`super::access::CALLERS`]).
#[rustfmt::skip]
pub(crate) fn directory_rows(w: &World) -> Vec<MatrixRow> {
    let (acme, anna, team_in, team_out, case) =
        (&w.acme, &w.anna, &w.team_in, &w.team_out, &w.acme_case);
    vec![
        (Method::GET, "/api/v1/me".into(), None, [401, 200, 200, 200, 200, 200, 403, 403, 403, 403, 200]),
        (Method::GET, "/api/v1/audit/public-key".into(), None, [200; 11]),
        (Method::GET, "/api/v1/audit/export".into(), None, [401, 403, 403, 200, 403, 403, 200, 403, 403, 200, 200]),
        (Method::GET, "/api/v1/api-tokens".into(), None, [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200]),
        (Method::POST, "/api/v1/api-tokens".into(), Some(json!({"name": "ERP sync {n}", "scopes": ["directory:read"]})), [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 201]),
        (Method::GET, "/api/v1/staff".into(), None, [401, 200, 200, 200, 403, 403, 403, 200, 403, 200, 200]),
        (Method::POST, "/api/v1/staff".into(), Some(json!({"email": "new-{n}@support.example", "name": "New Person", "role": "agent"})), [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 201]),
        (Method::GET, format!("/api/v1/staff/{}", w.admin_id), None, [401, 200, 200, 200, 403, 403, 403, 200, 403, 200, 200]),
        (Method::PATCH, format!("/api/v1/staff/{}", w.agent_out_id), Some(json!({"display_name": "Otto"})), [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200]),
        (Method::POST, format!("/api/v1/staff/{}/invitation", w.spare_id), None, [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200]),
        (Method::GET, "/api/v1/directory/accounts.csv".into(), None, [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200]),
        (Method::GET, "/api/v1/directory/contacts.csv".into(), None, [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200]),
        (Method::POST, "/api/v1/directory/import?kind=accounts".into(), Some(json!({"$raw": "name,tier\nInitech {n},basic\n", "$type": "text/csv"})), [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200]),
        (Method::GET, "/api/v1/teams".into(), None, [401, 200, 200, 200, 403, 403, 403, 200, 403, 200, 200]),
        (Method::POST, "/api/v1/teams".into(), Some(json!({"name": "Team {n}"})), [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 201]),
        (Method::GET, format!("/api/v1/teams/{team_in}"), None, [401, 200, 200, 200, 403, 403, 403, 200, 403, 200, 200]),
        (Method::PATCH, format!("/api/v1/teams/{team_in}"), Some(json!({"name": "Key Accounts EMEA"})), [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200]),
        (Method::PUT, format!("/api/v1/teams/{team_in}/members/{}", w.agent_in_id), Some(json!({"role": "lead"})), [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200]),
        (Method::DELETE, format!("/api/v1/teams/{team_out}/members/{}", w.spare_id), None, [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 204]),
        (Method::GET, "/api/v1/accounts".into(), None, [401, 200, 200, 200, 403, 403, 403, 200, 403, 200, 200]),
        (Method::POST, "/api/v1/accounts".into(), Some(json!({"name": "Initech {n}"})), [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 201]),
        (Method::GET, format!("/api/v1/accounts/{acme}"), None, [401, 200, 404, 200, 200, 404, 403, 200, 403, 200, 200]),
        (Method::PATCH, format!("/api/v1/accounts/{acme}"), Some(json!({"notes": "Renewal in April"})), [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200]),
        (Method::GET, format!("/api/v1/accounts/{acme}/contacts"), None, [401, 200, 404, 200, 403, 404, 403, 200, 403, 200, 200]),
        (Method::POST, format!("/api/v1/accounts/{acme}/contacts"), Some(json!({"name": "Olaf Ops", "emails": ["olaf-{n}@acme.example"]})), [401, 201, 404, 403, 403, 404, 403, 403, 403, 403, 201]),
        (Method::GET, format!("/api/v1/contacts/{anna}"), None, [401, 200, 404, 200, 200, 404, 403, 200, 403, 200, 200]),
        (Method::PATCH, format!("/api/v1/contacts/{anna}"), Some(json!({"title": "Head of Finance"})), [401, 200, 404, 403, 403, 404, 403, 403, 403, 403, 200]),
        (Method::GET, "/api/v1/contacts?q=anna".into(), None, [401, 200, 200, 200, 403, 403, 403, 200, 403, 200, 200]),
        (Method::GET, "/api/v1/cases/views".into(), None, [401, 200, 200, 200, 403, 403, 403, 403, 403, 403, 200]),
        (Method::POST, "/api/v1/markdown".into(), Some(json!({"text": "**Heads-up {n}**"})), [401, 200, 200, 200, 403, 403, 403, 403, 403, 403, 200]),
        (Method::GET, "/api/v1/cases".into(), None, [401, 200, 200, 200, 200, 200, 403, 403, 403, 403, 200]),
        (Method::POST, "/api/v1/cases".into(), Some(json!({"account_id": acme, "subject": "Planned maintenance {n}", "body": "Heads-up"})), [401, 201, 404, 403, 201, 404, 403, 403, 403, 403, 201]),
        (Method::GET, format!("/api/v1/cases/{case}"), None, [401, 200, 404, 200, 200, 404, 403, 403, 403, 403, 200]),
        (Method::PATCH, format!("/api/v1/cases/{case}"), Some(json!({"priority": "high"})), [401, 200, 404, 403, 403, 404, 403, 403, 403, 403, 200]),
        (Method::GET, format!("/api/v1/cases/{case}/entries"), None, [401, 200, 404, 200, 200, 404, 403, 403, 403, 403, 200]),
        (Method::POST, format!("/api/v1/cases/{case}/entries"), Some(json!({"kind": "portal", "body": "Update {n}"})), [401, 201, 404, 403, 201, 404, 403, 403, 403, 403, 201]),
        (Method::POST, format!("/api/v1/cases/{case}/entries"), Some(json!({"kind": "note", "body": "Internal {n}"})), [401, 201, 404, 403, 422, 404, 403, 403, 403, 403, 201]),
        (Method::GET, format!("/api/v1/accounts/{acme}/timeline"), None, [401, 200, 404, 200, 200, 404, 403, 403, 403, 403, 200]),
        (Method::GET, "/api/v1/search?q=invoice%20PO".into(), None, [401, 200, 200, 200, 200, 200, 403, 403, 403, 403, 200]),
    ]
}

e2e_test!(every_endpoint_answers_each_kind_of_caller_exactly_as_intended);
async fn every_endpoint_answers_each_kind_of_caller_exactly_as_intended(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let t = tokens(&app, &w).await;
    // A directory token reads the account's record, never its conversations.
    check_matrix(&app, &w, &t, &directory_rows(&w), |who| {
        if who.starts_with("token") {
            &["Invoice 2026-114", "PO 7781", "Internal "]
        } else {
            &[
                "Acme",
                "anna@acme.example",
                "Renewal in",
                "+49 30",
                "Invoice 2026-114",
                "PO 7781",
                "Internal ",
            ]
        }
    })
    .await;
}

e2e_test!(lists_show_each_caller_only_what_they_may_see);
async fn lists_show_each_caller_only_what_they_may_see(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let names = item_names;
    assert_eq!(
        names(app.get_as(&w.agent_in, "/api/v1/accounts").await.json()),
        ["Acme Manufacturing"]
    );
    assert_eq!(
        names(app.get_as(&w.agent_out, "/api/v1/accounts").await.json()),
        ["Globex Logistics"]
    );
    assert_eq!(
        names(app.get_as(&w.auditor, "/api/v1/accounts").await.json()).len(),
        2
    );
    // Search by domain, filters, and pages of one.
    assert_eq!(
        names(
            app.get_as(&w.admin, "/api/v1/accounts?q=GLOBEX.ex")
                .await
                .json()
        ),
        ["Globex Logistics"]
    );
    assert_eq!(
        names(
            app.get_as(&w.admin, "/api/v1/accounts?tier=strategic")
                .await
                .json()
        ),
        ["Acme Manufacturing"]
    );
    let first = app
        .get_as(&w.admin, "/api/v1/accounts?limit=1")
        .await
        .json();
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let second = app
        .get_as(
            &w.admin,
            &format!("/api/v1/accounts?limit=1&cursor={cursor}"),
        )
        .await
        .json();
    assert_ne!(names(first), names(second.clone()));
    let last = app
        .get_as(
            &w.admin,
            &format!(
                "/api/v1/accounts?limit=1&cursor={}",
                second["next_cursor"].as_str().unwrap()
            ),
        )
        .await
        .json();
    assert!(last["items"].as_array().unwrap().is_empty() && last["next_cursor"].is_null());
    app.get_as(&w.admin, "/api/v1/accounts?limit=0")
        .await
        .assert_problem(400, "invalid_query");

    // A contact sees their company, its team and nothing internal.
    let own = app
        .get_as(&w.contact_in, &format!("/api/v1/accounts/{}", w.acme))
        .await
        .json();
    assert_eq!(own["name"], "Acme Manufacturing");
    assert_eq!(own["team"]["members"][0]["avatar"]["initials"], "TP");
    assert!(
        own.get("notes").is_none() && own.get("tier").is_none(),
        "{own}"
    );
    let staff_view = app
        .get_as(&w.agent_in, &format!("/api/v1/accounts/{}", w.acme))
        .await
        .json();
    assert_eq!(staff_view["contact_count"], 1);
    assert_eq!(staff_view["contacts"][0]["name"], "Anna Finance");
    assert_eq!(staff_view["contacts"][0]["function"], "finance");
    assert!(
        own.get("contacts").is_none(),
        "contacts do not list colleagues"
    );
    assert_eq!(staff_view["owner"]["id"], w.agent_in_id.as_str());
    assert_eq!(staff_view["notes"], "Renewal in March");
    let contacts = app
        .get_as(
            &w.agent_in,
            &format!("/api/v1/accounts/{}/contacts?q=ANNA", w.acme),
        )
        .await
        .json();
    assert_eq!(contacts["items"][0]["emails"][0], "anna@acme.example");
    assert_eq!(contacts["items"][0]["has_password"], false);
}

e2e_test!(the_account_list_shows_every_change_at_once);
/// The list is served from memory between changes: each change that
/// touches it (an account added, edited or moved, an agent's teams) shows
/// in the very next list.
async fn the_account_list_shows_every_change_at_once(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let names = item_names;
    let list = |token: &str| {
        let (app, token) = (&app, token.to_owned());
        async move { names(ok(app.get_as(&token, "/api/v1/accounts").await, 200).await) }
    };
    let patch = |id: &str, body: Value| {
        let (app, admin, id) = (&app, w.admin.clone(), id.to_owned());
        async move {
            ok(
                app.send(
                    Method::PATCH,
                    &format!("/api/v1/accounts/{id}"),
                    Some(body.to_string()),
                    Some(&admin),
                )
                .await,
                200,
            )
            .await
        }
    };
    assert_eq!(list(&w.agent_in).await, ["Acme Manufacturing"]);
    assert_eq!(list(&w.agent_in).await, ["Acme Manufacturing"]);
    assert_eq!(list(&w.admin).await.len(), 2);

    let initech = ok(
        app.post_as(
            &w.admin,
            "/api/v1/accounts",
            &json!({"name": "Initech", "team_id": w.team_in}),
        )
        .await,
        201,
    )
    .await;
    let id = initech["id"].as_str().unwrap().to_owned();
    assert_eq!(list(&w.agent_in).await, ["Acme Manufacturing", "Initech"]);
    assert_eq!(list(&w.admin).await.len(), 3);

    patch(&id, json!({"name": "Initech Systems"})).await;
    assert_eq!(
        list(&w.agent_in).await,
        ["Acme Manufacturing", "Initech Systems"]
    );
    // Saving what is already there changes nothing, not even updated_at.
    let before = ok(
        app.get_as(&w.admin, &format!("/api/v1/accounts/{id}"))
            .await,
        200,
    )
    .await;
    let same = patch(&id, json!({"name": "Initech Systems"})).await;
    assert_eq!(same["updated_at"], before["updated_at"], "{same}");

    patch(&id, json!({"team_id": w.team_out})).await;
    assert_eq!(list(&w.agent_in).await, ["Acme Manufacturing"]);
    assert_eq!(
        list(&w.agent_out).await,
        ["Globex Logistics", "Initech Systems"]
    );

    // An agent's teams decide what they see, from the next request on.
    let membership = format!("/api/v1/teams/{}/members/{}", w.team_in, w.agent_in_id);
    ok(
        app.send(Method::DELETE, &membership, None, Some(&w.admin))
            .await,
        204,
    )
    .await;
    assert!(list(&w.agent_in).await.is_empty());
    ok(
        app.send(
            Method::PUT,
            &membership,
            Some(json!({"role": "member"}).to_string()),
            Some(&w.admin),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(list(&w.agent_in).await, ["Acme Manufacturing"]);
}

e2e_test!(addresses_and_domains_belong_to_one_contact_and_one_account);
async fn addresses_and_domains_belong_to_one_contact_and_one_account(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let path = format!("/api/v1/accounts/{}/contacts", w.acme);
    let body = app
        .post_as(
            &w.admin,
            &path,
            &json!({"name": "Anna Again", "emails": ["ANNA@Acme.Example"]}),
        )
        .await
        .assert_problem(409, "conflict");
    assert!(
        body["detail"].as_str().unwrap().contains("email address"),
        "{body}"
    );
    let body = app
        .post_as(
            &w.admin,
            "/api/v1/accounts",
            &json!({"name": "Acme Twin", "domains": ["acme.example"]}),
        )
        .await
        .assert_problem(409, "conflict");
    assert!(
        body["detail"].as_str().unwrap().contains("domain"),
        "{body}"
    );
    // Nothing half-made stayed behind.
    let names: Vec<Value> = app.get_as(&w.admin, "/api/v1/accounts?q=twin").await.json()["items"]
        .as_array()
        .unwrap()
        .clone();
    assert!(names.is_empty());
}

e2e_test!(invalid_fields_are_named);
async fn invalid_fields_are_named(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let path = format!("/api/v1/accounts/{}/contacts", w.acme);
    for (body, field) in [
        (json!({"name": "X", "emails": ["not-an-address"]}), "emails"),
        (
            json!({"name": "X", "emails": ["x@acme.example"], "function": "cfo"}),
            "function",
        ),
        (
            json!({"name": "X", "emails": ["x@acme.example"], "phone": "call me"}),
            "phone",
        ),
        (json!({"name": "", "emails": ["x@acme.example"]}), "name"),
        (json!({"name": "X", "emails": []}), "emails"),
    ] {
        let problem = app
            .post_as(&w.admin, &path, &body)
            .await
            .assert_problem(422, "validation_failed");
        assert_eq!(problem["field"], field, "{body}");
    }
    for (body, field) in [
        (json!({"name": "Y", "tier": "platinum"}), "tier"),
        (json!({"name": "Y", "lifecycle": "dormant"}), "lifecycle"),
        (json!({"name": "Y", "domains": ["not a domain"]}), "domains"),
        (
            json!({"name": "Y", "custom_fields": {"blob": "x".repeat(20_000)}}),
            "custom_fields",
        ),
        (
            json!({"name": "Y", "owner_id": uuid::Uuid::now_v7().to_string()}),
            "owner_id",
        ),
    ] {
        let problem = app
            .post_as(&w.admin, "/api/v1/accounts", &body)
            .await
            .assert_problem(422, "validation_failed");
        assert_eq!(problem["field"], field, "{body}");
    }
    app.post_as(
        &w.admin,
        "/api/v1/accounts",
        &json!({"name": "Z", "colour": "red"}),
    )
    .await
    .assert_problem(400, "invalid_json");
    app.get_as(&w.admin, "/api/v1/accounts/not-an-id")
        .await
        .assert_problem(404, "not_found");
}

e2e_test!(a_deactivated_staff_member_is_signed_out_and_cannot_sign_in);
async fn a_deactivated_staff_member_is_signed_out_and_cannot_sign_in(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let admin = app.token_for(db, "admin").await;
    let (email, password) = seed::staff(db, "agent");
    let session = app.login(&email, &password).await;
    let id = me_id(&app, session["access_token"].as_str().unwrap()).await;
    let res = app
        .send(
            Method::PATCH,
            &format!("/api/v1/staff/{id}"),
            Some(json!({"active": false}).to_string()),
            Some(&admin),
        )
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["active"], false);
    app.post_json(
        "/api/v1/auth/login",
        &json!({"email": email, "password": password}),
    )
    .await
    .assert_problem(401, "invalid_credentials");
    app.post_json(
        "/api/v1/auth/refresh",
        &json!({"refresh_token": session["refresh_token"]}),
    )
    .await
    .assert_problem(401, "invalid_refresh_token");
    // An admin cannot lock themself out.
    let me = me_id(&app, &admin).await;
    let res = app
        .send(
            Method::PATCH,
            &format!("/api/v1/staff/{me}"),
            Some(json!({"active": false}).to_string()),
            Some(&admin),
        )
        .await;
    res.assert_problem(422, "validation_failed");
}

e2e_test!(contacts_sign_in_by_link_once_then_may_set_a_password);
async fn contacts_sign_in_by_link_once_then_may_set_a_password(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    // The link in the mailbox works once.
    let mailbox = db.data_dir().join("mailbox");
    let count = || std::fs::read_dir(&mailbox).unwrap().count();
    let before = count();
    assert_eq!(
        app.post_json(
            "/api/v1/auth/contact/magic-link",
            &json!({"email": "nobody@acme.example"})
        )
        .await
        .status,
        202
    );
    assert_eq!(count(), before, "no message for unknown addresses");
    let me = app.get_as(&w.contact_in, "/api/v1/me").await.json();
    assert_eq!(me["kind"], "contact");
    assert_eq!(me["account_id"], w.acme.as_str());
    app.post_json(
        "/api/v1/auth/contact/magic-link/redeem",
        &json!({"token": "forged-token"}),
    )
    .await
    .assert_problem(401, "invalid_magic_link");

    // A first password needs no current one; then password sign-in works.
    let res = app
        .post_as(
            &w.contact_in,
            "/api/v1/me/password",
            &json!({"new_password": "anna's long passphrase"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let signed_in = app
        .post_json(
            "/api/v1/auth/contact/login",
            &json!({"email": "anna@acme.example", "password": "anna's long passphrase"}),
        )
        .await;
    assert_eq!(signed_in.status, 200);
    // Staff sign-in does not accept contacts.
    app.post_json(
        "/api/v1/auth/login",
        &json!({"email": "anna@acme.example", "password": "anna's long passphrase"}),
    )
    .await
    .assert_problem(401, "invalid_credentials");
    // Portal access withdrawn: no more links, no more sign-in.
    let res = app
        .send(
            Method::PATCH,
            &format!("/api/v1/contacts/{}", w.anna),
            Some(json!({"portal_access": false}).to_string()),
            Some(&w.agent_in),
        )
        .await;
    assert_eq!(res.status, 200);
    app.post_json(
        "/api/v1/auth/contact/login",
        &json!({"email": "anna@acme.example", "password": "anna's long passphrase"}),
    )
    .await
    .assert_problem(401, "invalid_credentials");
}

e2e_test!(api_tokens_do_what_their_scopes_name_and_stop_when_revoked);
async fn api_tokens_do_what_their_scopes_name_and_stop_when_revoked(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let created = ok(
        app.post_as(
            &w.admin,
            "/api/v1/api-tokens",
            &json!({"name": "CRM sync", "scopes": ["directory:read"]}),
        )
        .await,
        201,
    )
    .await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("rpt_"));
    let reader = &secret;
    assert_eq!(
        app.get_as(reader, "/api/v1/accounts").await.json()["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        app.get_as(reader, &format!("/api/v1/contacts/{}", w.anna))
            .await
            .status,
        200
    );
    app.post_as(reader, "/api/v1/accounts", &json!({"name": "Nope"}))
        .await
        .assert_problem(403, "forbidden");
    app.get_as(reader, "/api/v1/audit/export")
        .await
        .assert_problem(403, "forbidden");
    let res = app
        .send(
            Method::PATCH,
            &format!("/api/v1/contacts/{}", w.anna),
            Some(json!({"title": "x"}).to_string()),
            Some(reader),
        )
        .await;
    res.assert_problem(403, "forbidden");

    // The secret is never shown again.
    let listed = app.get_as(&w.admin, "/api/v1/api-tokens").await;
    assert!(!String::from_utf8_lossy(&listed.body).contains(&secret[4..]));
    assert_eq!(listed.json()[0]["scopes"][0], "directory:read");

    // An auditing integration exports, and the export is recorded as the token's.
    let auditor = ok(
        app.post_as(
            &w.admin,
            "/api/v1/api-tokens",
            &json!({"name": "SIEM", "scopes": ["audit:read"], "expires_in_days": 30}),
        )
        .await,
        201,
    )
    .await;
    let key = rapport_audit::AuditPublicKey::parse(
        app.get("/api/v1/audit/public-key").await.json()["verify_argument"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let export = app
        .get_as(auditor["secret"].as_str().unwrap(), "/api/v1/audit/export")
        .await;
    assert_eq!(export.status, 200);
    rapport_audit::verify_export(export.body.as_slice(), &key).unwrap();
    let again = app.get_as(&w.auditor, "/api/v1/audit/export").await;
    let text = String::from_utf8(again.body).unwrap();
    assert!(
        text.contains(&format!(
            "\"stream\":\"api_token:{}\"",
            auditor["id"].as_str().unwrap()
        )),
        "the token's export is audited"
    );
    assert!(!text.contains(&secret[4..]), "no secret in the audit log");

    let id = created["id"].as_str().unwrap();
    assert_eq!(
        app.send(
            Method::DELETE,
            &format!("/api/v1/api-tokens/{id}"),
            None,
            Some(&w.admin)
        )
        .await
        .status,
        204
    );
    app.get_as(reader, "/api/v1/accounts")
        .await
        .assert_problem(401, "invalid_token");
    app.send(
        Method::DELETE,
        &format!("/api/v1/api-tokens/{id}"),
        None,
        Some(&w.admin),
    )
    .await
    .assert_problem(404, "not_found");
    app.get_as("rpt_made-up", "/api/v1/accounts")
        .await
        .assert_problem(401, "invalid_token");
    let bad = app
        .post_as(
            &w.admin,
            "/api/v1/api-tokens",
            &json!({"name": "x", "scopes": ["root"]}),
        )
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(bad["field"], "scopes");
}

e2e_test!(changes_are_audited_with_what_changed_before_and_after);
async fn changes_are_audited_with_what_changed_before_and_after(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let res = app
        .send(
            Method::PATCH,
            &format!("/api/v1/accounts/{}", w.acme),
            Some(json!({"notes": "Renewal in April", "lifecycle": "onboarding"}).to_string()),
            Some(&w.admin),
        )
        .await;
    assert_eq!(res.status, 200);
    // The same values again change nothing and record nothing.
    let res = app
        .send(
            Method::PATCH,
            &format!("/api/v1/accounts/{}", w.acme),
            Some(json!({"notes": "Renewal in April"}).to_string()),
            Some(&w.admin),
        )
        .await;
    assert_eq!(res.status, 200);
    let export = app
        .get_as(
            &w.auditor,
            &format!("/api/v1/audit/export?account={}", w.acme),
        )
        .await;
    let text = String::from_utf8(export.body).unwrap();
    let updates: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["action"] == "account.updated")
        .collect();
    assert_eq!(updates.len(), 1, "{text}");
    let data = &updates[0]["data"];
    assert_eq!(
        data["before"],
        json!({"notes": "Renewal in March", "lifecycle": "customer"})
    );
    assert_eq!(
        data["after"],
        json!({"notes": "Renewal in April", "lifecycle": "onboarding"})
    );
    assert_eq!(updates[0]["actor"]["kind"], "staff");
    // The account export holds the account's own events and its contacts'.
    assert!(
        text.contains("\"action\":\"account.created\"")
            && text.contains("\"action\":\"contact.created\"")
    );
    assert!(text.contains("\"action\":\"auth.magic_link_sent\""));
}

e2e_test!(an_account_reads_back_with_all_its_domains_in_order);
async fn an_account_reads_back_with_all_its_domains_in_order(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let group = ok(
        app.post_as(
            &w.admin,
            "/api/v1/accounts",
            &json!({"name": "Initech Group", "domains": ["initech.example", "eu.initech.example", "initech-mail.example"]}),
        )
        .await,
        201,
    )
    .await;
    let plain = ok(
        app.post_as(
            &w.admin,
            "/api/v1/accounts",
            &json!({"name": "Vandelay Imports"}),
        )
        .await,
        201,
    )
    .await;
    let read = |id: &Value| format!("/api/v1/accounts/{}", id.as_str().unwrap());
    let got = app.get_as(&w.admin, &read(&group["id"])).await.json();
    assert_eq!(
        got["domains"],
        json!([
            "eu.initech.example",
            "initech-mail.example",
            "initech.example"
        ]),
        "{got}"
    );
    let got = app.get_as(&w.admin, &read(&plain["id"])).await.json();
    assert_eq!(got["domains"], json!([]), "{got}");
    // Mail from any of the domains finds the account.
    let res = app
        .send_raw(
            "/api/v1/inbound/email",
            "message/rfc822",
            b"From: Peter Gibbons <peter@eu.initech.example>\r\nTo: support@rapport.localhost\r\nSubject: TPS reports\r\nMessage-ID: <tps-1@eu.initech.example>\r\n\r\nThe new cover sheets.\r\n".to_vec(),
            Some(&w.admin),
        )
        .await;
    assert_eq!(res.status, 202, "{}", String::from_utf8_lossy(&res.body));
    let case = app
        .get_as(
            &w.admin,
            &format!("/api/v1/cases/{}", res.json()["case_id"].as_str().unwrap()),
        )
        .await
        .json();
    assert_eq!(case["account_id"], group["id"], "{case}");
}
