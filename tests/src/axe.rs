//! Accessibility checks with axe-core (Deque's rules for WCAG 2.1 A and
//! AA), run inside the real browser on a page as a person sees it.
//!
//! axe-core comes from the npm registry, pinned, into `target/axe-core`
//! the first time, once per test run however many tests ask for it at
//! once; without it the check fails rather than passing silently.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::browser::Browser;

const AXE_VERSION: &str = "4.14.1";

/// axe-core's source, fetched by the first test that needs it while the
/// others wait (two `npm install` into one directory break each other).
fn source() -> String {
    static SOURCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SOURCE.get_or_init(fetch).clone()
}

fn fetch() -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/axe-core");
    let file = dir.join("node_modules/axe-core/axe.min.js");
    if !file.exists() {
        std::fs::create_dir_all(&dir).expect("target/axe-core");
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .arg(format!("axe-core@{AXE_VERSION}"))
            .status()
            .expect("npm runs (axe-core is fetched from the npm registry)");
        assert!(
            status.success(),
            "npm install axe-core@{AXE_VERSION} failed"
        );
    }
    std::fs::read_to_string(&file).expect("axe.min.js")
}

/// The WCAG 2.1 A/AA violations axe finds on the page as it is now: each
/// rule's id, help text and the offending elements.
pub async fn violations(b: &Browser) -> Vec<Value> {
    let axe = source();
    b.script(&format!("if (!window.axe) {{ {axe} }} return true"))
        .await;
    let result = b
        .script_async(
            "const done = arguments[arguments.length - 1]; \
             axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }) \
               .then((r) => done(r.violations.map((v) => ({ id: v.id, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ') + ' :: ' + n.failureSummary) })))) \
               .catch((e) => done([{ id: 'axe-error', help: String(e), nodes: [] }]));",
        )
        .await;
    result.as_array().cloned().unwrap_or_default()
}

/// Fails with every violation when there is one.
pub async fn assert_accessible(b: &Browser, page: &str) {
    let found = violations(b).await;
    assert!(
        found.is_empty(),
        "{page} has accessibility violations:\n{}",
        serde_json::to_string_pretty(&found).unwrap_or_default()
    );
}
