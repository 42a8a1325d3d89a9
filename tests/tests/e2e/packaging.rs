//! The packaging files in the repository: the systemd unit passes
//! `systemd-analyze verify` with no warning, and the container recipe and
//! proxy examples point at what the server really has.

use std::path::PathBuf;
use std::process::Command;

use rapport_tests::rapport_bin;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

#[test]
fn the_systemd_unit_verifies_without_a_warning() {
    let unit = std::fs::read_to_string(repo("packaging/rapport.service")).unwrap();
    for hardening in [
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/rapport",
        "NoNewPrivileges=yes",
        "DynamicUser=yes",
    ] {
        assert!(unit.contains(hardening), "the unit sets {hardening}");
    }
    // Checked with this build's binary where the unit expects it installed.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rapport.service");
    std::fs::write(
        &file,
        unit.replace("/usr/local/bin/rapport", rapport_bin!()),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&file)
        .output()
        .expect("systemd-analyze runs (Debian package systemd; .ci/run installs it)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.trim().is_empty(), "no warning: {stderr}");
}

#[test]
fn the_container_and_proxy_examples_match_the_server() {
    let container = std::fs::read_to_string(repo("packaging/Containerfile")).unwrap();
    assert!(
        container.contains("USER rapport"),
        "runs as a non-root user"
    );
    assert!(container.contains("VOLUME [\"/var/lib/rapport\"]"));
    assert!(
        container.contains("/readyz"),
        "the healthcheck asks for readiness"
    );
    assert!(
        repo("config/default.toml").exists(),
        "the recipe copies config/default.toml"
    );
    let nginx = std::fs::read_to_string(repo("packaging/nginx.conf")).unwrap();
    assert!(nginx.contains("location /ws") && nginx.contains("Upgrade $http_upgrade"));
    let caddy = std::fs::read_to_string(repo("packaging/Caddyfile")).unwrap();
    assert!(caddy.contains("health_uri /readyz"));
    // The settings the examples name exist.
    let check = Command::new(rapport_bin!())
        .args(["check-config"])
        .env("RAPPORT_SERVER__TRUSTED_PROXIES", "127.0.0.1")
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

/// `make dist` packs the binary, the default configuration, the docs and the
/// systemd unit into one tarball whose binary runs (checked with this
/// build's binary: the release build is the same `cargo build`).
#[test]
fn make_dist_packs_a_tarball_that_runs() {
    let out = tempfile::tempdir().unwrap();
    // Run as its own make: under `make test` the outer make's settings
    // would print directory lines around the output.
    let made = Command::new("make")
        .current_dir(repo(""))
        .env_remove("MAKEFLAGS")
        .env_remove("MAKELEVEL")
        .env_remove("MFLAGS")
        .arg("--no-print-directory")
        .arg("dist")
        .arg(format!("BIN={}", rapport_bin!()))
        .arg(format!("DIST_DIR={}", out.path().display()))
        .output()
        .expect("make runs");
    assert!(
        made.status.success(),
        "{}{}",
        String::from_utf8_lossy(&made.stdout),
        String::from_utf8_lossy(&made.stderr)
    );
    let said = String::from_utf8_lossy(&made.stdout).into_owned();
    let tarball = said
        .lines()
        .map(str::trim)
        .find(|l| l.ends_with(".tar.gz") && !l.starts_with("tar "))
        .unwrap_or_else(|| panic!("make dist names no tarball:\n{said}"))
        .to_owned();
    let listed = Command::new("tar")
        .args(["-tzf", &tarball])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    for part in [
        "/bin/rapport",
        "/config/default.toml",
        "/docs/operations.md",
        "/packaging/rapport.service",
        "/packaging/nginx.conf",
        "/README.md",
    ] {
        assert!(
            listed.lines().any(|l| l.ends_with(part)),
            "the tarball lacks {part}:\n{listed}"
        );
    }
    let unpacked = tempfile::tempdir().unwrap();
    let status = Command::new("tar")
        .args(["-xzf", &tarball, "-C"])
        .arg(unpacked.path())
        .status()
        .unwrap();
    assert!(status.success());
    let dir = std::fs::read_dir(unpacked.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let version = Command::new(dir.join("bin/rapport"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")),
        "the packed binary runs"
    );
}
