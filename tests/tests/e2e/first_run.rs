//! First run and administration through the API: staff invited by email,
//! a one-time password changed in place, links that follow the address the
//! server listens on, and accounts and contacts moved in and out as CSV.

use actix_web::http::Method;
use rapport_tests::TestDatabase;
use rapport_tests::http::wait_for_mail_matching;
use rapport_tests::{TestApp, e2e_test, rapport_bin, run_rapport};
use serde_json::{Value, json};

use super::directory::{ok, world};

/// The link of the mail to `to` whose subject contains `subject`.
async fn mailed_link(
    app: &TestApp,
    mailbox: &std::path::Path,
    to: &str,
    subject: &str,
) -> (String, String) {
    let (mail, _) = wait_for_mail_matching(mailbox, |m| {
        m.to.iter().any(|t| t.address == to) && m.subject.contains(subject)
    })
    .await;
    let link = mail
        .text
        .split_whitespace()
        .find(|w| w.starts_with("http") && w.contains("token="))
        .expect("a link with a token")
        .to_owned();
    assert!(
        link.starts_with(&app.base_url),
        "the link {link} points at this server ({})",
        app.base_url
    );
    let html = mail.html.expect("an HTML part");
    assert!(
        html.contains(&format!("<a href=\"{}\"", link.replace('&', "&amp;"))),
        "the link is clickable: {html}"
    );
    let token = link.split("token=").nth(1).unwrap().to_owned();
    (link, token)
}

e2e_test!(admins_invite_staff_who_choose_their_own_password_by_the_mailed_link);
async fn admins_invite_staff_who_choose_their_own_password_by_the_mailed_link(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let admin = app.token_for(db, "admin").await;
    let mailbox = db.data_dir().join("mailbox");
    let invited = ok(
        app.post_as(
            &admin,
            "/api/v1/staff",
            &json!({"email": "ben@support.example", "name": "Ben Agent", "role": "agent"}),
        )
        .await,
        201,
    )
    .await;
    assert!(
        invited.get("one_time_password").is_none(),
        "no password is shown to the admin: {invited}"
    );
    assert_eq!(invited["invitation_sent_to"], "ben@support.example");
    let (link, token) = mailed_link(&app, &mailbox, "ben@support.example", "invitation").await;
    assert!(link.contains("/welcome?token="), "{link}");
    // Nobody can sign in before the invitation is used.
    app.post_json(
        "/api/v1/auth/login",
        &json!({"email": "ben@support.example", "password": "anything at all"}),
    )
    .await
    .assert_problem(401, "invalid_credentials");
    let problem = app
        .post_json(
            "/api/v1/auth/invitation",
            &json!({"token": token, "password": "short"}),
        )
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(problem["field"], "password");
    let session = ok(
        app.post_json(
            "/api/v1/auth/invitation",
            &json!({"token": token, "password": "ben's long passphrase"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(session["password_change_required"], false);
    let me = app
        .get_as(session["access_token"].as_str().unwrap(), "/api/v1/me")
        .await
        .json();
    assert_eq!(me["role"], "agent");
    // Once only.
    app.post_json(
        "/api/v1/auth/invitation",
        &json!({"token": token, "password": "another passphrase!"}),
    )
    .await
    .assert_problem(401, "invalid_invitation");
    assert_eq!(
        app.login("ben@support.example", "ben's long passphrase")
            .await["password_change_required"],
        false
    );

    // A new invitation retires the old link.
    let ben = invited["staff"]["id"].as_str().unwrap();
    ok(
        app.post_as(
            &admin,
            &format!("/api/v1/staff/{ben}/invitation"),
            &json!({}),
        )
        .await,
        200,
    )
    .await;
    ok(
        app.post_as(
            &admin,
            &format!("/api/v1/staff/{ben}/invitation"),
            &json!({}),
        )
        .await,
        200,
    )
    .await;
    let (mail, _) = wait_for_mail_matching(&mailbox, |m| {
        m.to.iter().any(|t| t.address == "ben@support.example")
            && m.text.contains("welcome?token=")
            && !m.text.contains(&token)
    })
    .await;
    let first_new = mail
        .text
        .split_whitespace()
        .find(|w| w.contains("token="))
        .unwrap()
        .split("token=")
        .nth(1)
        .unwrap()
        .to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let newest = loop {
        let mut tokens: Vec<String> = std::fs::read_dir(&mailbox)
            .unwrap()
            .flatten()
            .filter_map(|e| rapport_mail::parse(&std::fs::read(e.path()).ok()?).ok())
            .filter(|m| m.to.iter().any(|t| t.address == "ben@support.example"))
            .filter_map(|m| {
                m.text
                    .split_whitespace()
                    .find(|w| w.contains("welcome?token="))
                    .map(|w| w.split("token=").nth(1).unwrap().to_owned())
            })
            .collect();
        tokens.retain(|t| *t != token);
        if tokens.len() == 2 {
            break tokens;
        }
        assert!(std::time::Instant::now() < deadline, "two new invitations");
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(newest.contains(&first_new));
    let mut refused = 0;
    for t in &newest {
        let res = app
            .post_json(
                "/api/v1/auth/invitation",
                &json!({"token": t, "password": "ben's newer passphrase"}),
            )
            .await;
        if res.status == 401 {
            refused += 1
        } else {
            assert_eq!(res.status, 200)
        }
    }
    assert_eq!(refused, 1, "only the newest invitation works");
    // The audit log records the invitation and its use, not the token.
    let export = String::from_utf8(app.get_as(&admin, "/api/v1/audit/export").await.body).unwrap();
    assert!(
        export.contains("\"staff.invited\"") && export.contains("\"auth.invitation_accepted\"")
    );
    assert!(!export.contains(&token));
}

e2e_test!(a_one_time_password_is_replaced_in_place_without_the_current_one);
async fn a_one_time_password_is_replaced_in_place_without_the_current_one(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let out = run_rapport(
        rapport_bin!(),
        &[
            "--data-dir",
            db.data_dir().to_str().unwrap(),
            "--database-url",
            &db.url,
            "admin",
            "create",
            "--email",
            "first@support.example",
            "--name",
            "First Admin",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let one_time = text
        .lines()
        .find_map(|l| l.split("password: ").nth(1))
        .map(str::trim)
        .expect("a one-time password is printed")
        .to_owned();
    let session = app.login("first@support.example", &one_time).await;
    assert_eq!(session["password_change_required"], true);
    let token = session["access_token"].as_str().unwrap();
    app.get_as(token, "/api/v1/staff")
        .await
        .assert_problem(403, "password_change_required");
    let fresh = ok(
        app.post_as(
            token,
            "/api/v1/me/password",
            &json!({"new_password": "my own long passphrase"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(fresh["password_change_required"], false);
    assert_eq!(
        app.get_as(fresh["access_token"].as_str().unwrap(), "/api/v1/staff")
            .await
            .status,
        200
    );
    app.post_json(
        "/api/v1/auth/login",
        &json!({"email": "first@support.example", "password": one_time}),
    )
    .await
    .assert_problem(401, "invalid_credentials");
    // Later changes need the current password again.
    let problem = app
        .post_as(
            fresh["access_token"].as_str().unwrap(),
            "/api/v1/me/password",
            &json!({"new_password": "yet another passphrase"}),
        )
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(problem["field"], "current_password");
}

e2e_test!(sign_in_links_follow_the_port_the_server_listens_on);
async fn sign_in_links_follow_the_port_the_server_listens_on(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let mailbox = db.data_dir().join("mailbox");
    assert_eq!(
        app.post_json(
            "/api/v1/auth/contact/magic-link",
            &json!({"email": "anna@acme.example"})
        )
        .await
        .status,
        202
    );
    let (link, _) = mailed_link(&app, &mailbox, "anna@acme.example", "sign-in link").await;
    assert!(
        link.starts_with(&format!(
            "http://127.0.0.1:{}/portal/sign-in?token=",
            app.addr.port()
        )),
        "{link}"
    );
    drop(w);
    let res = app.get("/favicon.ico").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type"), Some("image/x-icon"));
    assert_eq!(&res.body[..4], &[0, 0, 1, 0], "an ICO file");
}

fn csv_rows(body: &[u8]) -> Vec<Vec<String>> {
    let mut reader = csv::Reader::from_reader(body);
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let mut rows = vec![header];
    rows.extend(
        reader
            .records()
            .map(|r| r.unwrap().iter().map(str::to_owned).collect()),
    );
    rows
}

async fn import(app: &TestApp, admin: &str, kind: &str, dry_run: bool, csv: &str) -> Value {
    let res = app
        .send_raw(
            &format!("/api/v1/directory/import?kind={kind}&dry_run={dry_run}"),
            "text/csv",
            csv.as_bytes().to_vec(),
            Some(admin),
        )
        .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    res.json()
}

e2e_test!(accounts_and_contacts_go_out_and_come_back_as_csv_with_a_dry_run_first);
async fn accounts_and_contacts_go_out_and_come_back_as_csv_with_a_dry_run_first(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let w = world(&app, db).await;
    let exported = app.get_as(&w.admin, "/api/v1/directory/accounts.csv").await;
    assert_eq!(exported.status, 200);
    assert!(
        exported
            .header("content-disposition")
            .unwrap()
            .contains("accounts.csv")
    );
    let rows = csv_rows(&exported.body);
    assert_eq!(
        rows[0],
        [
            "id",
            "name",
            "domains",
            "tier",
            "lifecycle",
            "team",
            "owner",
            "notes",
            "parent"
        ]
    );
    let acme = rows
        .iter()
        .find(|r| r[1] == "Acme Manufacturing")
        .unwrap()
        .clone();
    assert_eq!(acme[2], "acme.example");
    assert_eq!(acme[5], "Key Accounts");
    // Read back as it is: nothing changes.
    let back = import(
        &app,
        &w.admin,
        "accounts",
        true,
        &String::from_utf8(exported.body.clone()).unwrap(),
    )
    .await;
    assert_eq!(
        (
            back["unchanged"].as_u64(),
            back["created"].as_u64(),
            back["updated"].as_u64()
        ),
        (Some(2), Some(0), Some(0)),
        "{back}"
    );

    // A changed tier and a new account: the dry run says so and saves nothing.
    let file = "name,tier,domains,team\nAcme Manufacturing,basic,acme.example,Key Accounts\nInitech,standard,initech.example; initech.co,Mid Market\n";
    let report = import(&app, &w.admin, "accounts", true, file).await;
    assert_eq!(report["applied"], false);
    assert_eq!(report["rows"][0]["action"], "update");
    assert_eq!(report["rows"][0]["changes"]["before"]["tier"], "strategic");
    assert_eq!(report["rows"][0]["changes"]["after"]["tier"], "basic");
    assert_eq!(report["rows"][1]["action"], "create");
    assert_eq!(
        report["rows"][1]["changes"]["after"]["domains"],
        json!(["initech.co", "initech.example"])
    );
    let acme_now = app
        .get_as(&w.admin, &format!("/api/v1/accounts/{}", w.acme))
        .await
        .json();
    assert_eq!(acme_now["tier"], "strategic", "a dry run saves nothing");
    assert!(
        app.get_as(&w.admin, "/api/v1/accounts?q=initech")
            .await
            .json()["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // One bad row: nothing at all is saved, and the row says why.
    let bad = format!("{file}Umbrella,platinum,,\n");
    let report = import(&app, &w.admin, "accounts", false, &bad).await;
    assert_eq!(report["applied"], false);
    assert_eq!(report["invalid"], 1);
    assert_eq!(report["rows"][2]["field"], "tier");
    assert_eq!(report["rows"][2]["line"], 4);
    assert!(
        app.get_as(&w.admin, "/api/v1/accounts?q=initech")
            .await
            .json()["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let report = import(&app, &w.admin, "accounts", false, file).await;
    assert_eq!(report["applied"], true);
    assert_eq!(
        app.get_as(&w.admin, &format!("/api/v1/accounts/{}", w.acme))
            .await
            .json()["tier"],
        "basic"
    );
    let initech = app
        .get_as(&w.admin, "/api/v1/accounts?q=initech")
        .await
        .json()["items"][0]
        .clone();
    assert_eq!(initech["name"], "Initech");

    // Contacts: new ones by account name, existing ones by address.
    let contacts = "account,name,emails,function,visibility,portal_access\nInitech,Peter Gibbons,peter@initech.example,operations,all_account_cases,yes\nAcme Manufacturing,Anna Finance,anna@acme.example,executive,own_cases,no\n";
    let report = import(&app, &w.admin, "contacts", true, contacts).await;
    assert_eq!(report["rows"][0]["action"], "create", "{report}");
    assert_eq!(report["rows"][1]["action"], "update");
    assert_eq!(
        report["rows"][1]["changes"]["after"]["function"],
        "executive"
    );
    let report = import(&app, &w.admin, "contacts", false, contacts).await;
    assert_eq!(report["applied"], true, "{report}");
    let anna = app
        .get_as(&w.admin, &format!("/api/v1/contacts/{}", w.anna))
        .await
        .json();
    assert_eq!(
        (anna["function"].as_str(), anna["portal_access"].as_bool()),
        (Some("executive"), Some(false))
    );
    let exported = csv_rows(
        &app.get_as(&w.admin, "/api/v1/directory/contacts.csv")
            .await
            .body,
    );
    let peter = exported
        .iter()
        .find(|r| r[3] == "peter@initech.example")
        .expect("exported");
    assert_eq!(
        (peter[1].as_str(), peter[4].as_str(), peter[7].as_str()),
        ("Initech", "operations", "all_account_cases")
    );

    // Files that are not what they claim are refused whole.
    let res = app
        .send_raw(
            "/api/v1/directory/import?kind=contacts",
            "text/csv",
            b"account,nickname\nX,Y\n".to_vec(),
            Some(&w.admin),
        )
        .await;
    assert_eq!(
        res.assert_problem(422, "validation_failed")["field"],
        "file"
    );
    app.send(
        Method::POST,
        "/api/v1/directory/import?kind=teams",
        Some(String::new()),
        Some(&w.admin),
    )
    .await
    .assert_problem(400, "invalid_query");
    // Every change the import made is in the audit log as if made by hand.
    let export =
        String::from_utf8(app.get_as(&w.admin, "/api/v1/audit/export").await.body).unwrap();
    assert!(export.contains("\"directory.imported\"") && export.contains("Peter Gibbons"));
}
