//! Plain HTTP calls to a server process by URL (for `rapport serve`
//! children, where there is no [`crate::TestApp`]).

use serde_json::Value;

/// Sends a JSON request; returns the status and the JSON body (Null if none).
pub async fn call(
    client: &awc::Client,
    method: &str,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = match method {
        "POST" => client.post(url),
        "PUT" => client.put(url),
        "PATCH" => client.patch(url),
        _ => client.get(url),
    };
    if let Some(t) = token {
        req = req.insert_header(("authorization", format!("Bearer {t}")));
    }
    let mut res = match body {
        Some(b) => req.send_json(&b).await,
        None => req.send().await,
    }
    .expect("server answers");
    let bytes = res.body().limit(1 << 24).await.expect("body");
    (
        res.status().as_u16(),
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Signs staff in with a password; returns the access token.
pub async fn password_sign_in(
    client: &awc::Client,
    base: &str,
    email: &str,
    password: &str,
) -> String {
    let (status, tokens) = call(
        client,
        "POST",
        format!("{base}/api/v1/auth/login"),
        None,
        Some(serde_json::json!({"email": email, "password": password})),
    )
    .await;
    assert_eq!(status, 200, "sign-in: {tokens}");
    tokens["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned()
}

/// Asks for a sign-in link for `email` and returns it as mailed: read
/// from the mailbox under `data_dir` (the server writes mail there until
/// it is configured to send).
pub async fn mailed_sign_in_link(
    client: &awc::Client,
    base: &str,
    data_dir: &std::path::Path,
    email: &str,
) -> String {
    mailed_sign_in_link_for(client, base, data_dir, email, None).await
}

/// [`mailed_sign_in_link`] of a person of several companies, for the
/// company `account` (the first by name when None).
pub async fn mailed_sign_in_link_for(
    client: &awc::Client,
    base: &str,
    data_dir: &std::path::Path,
    email: &str,
    account: Option<&str>,
) -> String {
    let mailbox = data_dir.join("mailbox");
    let before: Vec<_> = std::fs::read_dir(&mailbox)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    let (status, _) = call(
        client,
        "POST",
        format!("{base}/api/v1/auth/contact/magic-link"),
        None,
        Some(serde_json::json!({"email": email, "account_id": account})),
    )
    .await;
    assert_eq!(status, 202);
    // Other mail may arrive meanwhile (notices of cases): the link is the
    // new message to this address that carries a token.
    let (mail, _) = wait_for_new_mail_matching(&mailbox, &before, |m| {
        m.to.iter().any(|t| t.address == email) && m.text.contains("token=")
    })
    .await;
    mail.text
        .split_whitespace()
        .find(|w| w.contains("token="))
        .expect("a link with a token")
        .to_owned()
}

/// Signs a contact in by magic link, as contacts do; returns the access token.
pub async fn contact_token_by_link(
    client: &awc::Client,
    base: &str,
    data_dir: &std::path::Path,
    email: &str,
) -> String {
    contact_token_by_link_for(client, base, data_dir, email, None).await
}

/// [`contact_token_by_link`] acting for the company `account`.
pub async fn contact_token_by_link_for(
    client: &awc::Client,
    base: &str,
    data_dir: &std::path::Path,
    email: &str,
    account: Option<&str>,
) -> String {
    let link = mailed_sign_in_link_for(client, base, data_dir, email, account).await;
    let token = link
        .split("token=")
        .nth(1)
        .expect("a link with a token")
        .to_owned();
    let (status, tokens) = call(
        client,
        "POST",
        format!("{base}/api/v1/auth/contact/magic-link/redeem"),
        None,
        Some(serde_json::json!({"token": token})),
    )
    .await;
    assert_eq!(status, 200);
    tokens["access_token"]
        .as_str()
        .expect("access token")
        .to_owned()
}

/// The first file in `mailbox` (the file transport's directory) that is
/// not in `before`; the outbox worker sends within moments.
pub async fn wait_for_new_mail(
    mailbox: &std::path::Path,
    before: &[std::path::PathBuf],
) -> std::path::PathBuf {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        if let Some(p) = std::fs::read_dir(mailbox)
            .map(|d| {
                d.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .find(|p| !before.contains(p))
            })
            .ok()
            .flatten()
        {
            return p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no new mail arrived in {}",
            mailbox.display()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Waits for a message in `mailbox` (the file transport's directory) that
/// `wanted` accepts, and returns it with its raw bytes.
pub async fn wait_for_mail_matching(
    mailbox: &std::path::Path,
    wanted: impl Fn(&rapport_mail::InboundMail) -> bool,
) -> (rapport_mail::InboundMail, Vec<u8>) {
    wait_for_new_mail_matching(mailbox, &[], wanted).await
}

/// [`wait_for_mail_matching`], among the messages not in `before`.
pub async fn wait_for_new_mail_matching(
    mailbox: &std::path::Path,
    before: &[std::path::PathBuf],
    wanted: impl Fn(&rapport_mail::InboundMail) -> bool,
) -> (rapport_mail::InboundMail, Vec<u8>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let files: Vec<_> = std::fs::read_dir(mailbox)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        for path in files
            .iter()
            .filter(|p| p.extension().is_some_and(|x| x == "eml") && !before.contains(p))
        {
            if let Ok(raw) = std::fs::read(path)
                && let Ok(mail) = rapport_mail::parse(&raw)
                && wanted(&mail)
            {
                return (mail, raw);
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the awaited mail did not arrive in {}",
            mailbox.display()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
