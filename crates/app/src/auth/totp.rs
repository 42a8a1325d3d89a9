//! Time-based one-time passwords (RFC 6238, HMAC-SHA1, 30-second steps,
//! six digits): what authenticator apps compute from a shared secret.

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Seconds per step.
pub const STEP_SECS: i64 = 30;
/// Steps either side of now a code is still accepted (clock drift).
const DRIFT_STEPS: i64 = 1;
/// Bytes of a new secret (160 bits, as RFC 4226 recommends).
pub const SECRET_BYTES: usize = 20;

/// A fresh random secret.
pub fn new_secret() -> Result<[u8; SECRET_BYTES], getrandom::Error> {
    let mut secret = [0u8; SECRET_BYTES];
    getrandom::fill(&mut secret)?;
    Ok(secret)
}

/// The step a Unix time falls in.
pub fn step_at(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(STEP_SECS)
}

/// The code of one step, `digits` long (RFC 4226 dynamic truncation).
pub fn code(secret: &[u8], step: i64, digits: u32) -> u32 {
    // HMAC takes keys of any length.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else {
        return 0;
    };
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let bin = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    bin % 10u32.pow(digits)
}

/// The step a six-digit code was made for, if it is within the drift
/// window around `now_step` and after `last_used` (a code works once).
pub fn verify(secret: &[u8], typed: &str, now_step: i64, last_used: i64) -> Option<i64> {
    let typed: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    if typed.len() != 6 || !typed.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let value: u32 = typed.parse().ok()?;
    (now_step - DRIFT_STEPS..=now_step + DRIFT_STEPS)
        .filter(|s| *s > last_used)
        .find(|s| code(secret, *s, 6) == value)
}

/// RFC 4648 base32 without padding: how authenticator apps take secrets.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Reads base32 as [`base32`] writes it (case and spaces ignored).
pub fn from_base32(text: &str) -> Option<Vec<u8>> {
    let (mut out, mut buffer, mut bits) = (Vec::new(), 0u32, 0u32);
    for c in text.chars().filter(|c| !c.is_whitespace() && *c != '=') {
        let v = match c.to_ascii_uppercase() {
            c @ 'A'..='Z' => c as u32 - 'A' as u32,
            c @ '2'..='7' => c as u32 - '2' as u32 + 26,
            _ => return None,
        };
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// The `otpauth://` URI an authenticator app scans or imports.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits=6&period={STEP_SECS}",
        enc(issuer),
        enc(account),
        base32(secret),
        enc(issuer)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn codes_match_the_rfc_6238_vectors() {
        for (time, want) in [
            (59, 94_287_082),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
        ] {
            assert_eq!(code(RFC_SECRET, step_at(time), 8), want, "at {time}");
        }
    }

    #[test]
    fn a_code_works_within_one_step_of_now_and_only_once() {
        let now = step_at(1_234_567_890);
        let current = format!("{:06}", code(RFC_SECRET, now, 6));
        assert_eq!(verify(RFC_SECRET, &current, now, 0), Some(now));
        assert_eq!(
            verify(RFC_SECRET, &current, now + 1, 0),
            Some(now),
            "30 s late"
        );
        assert_eq!(verify(RFC_SECRET, &current, now + 2, 0), None, "too late");
        assert_eq!(verify(RFC_SECRET, &current, now, now), None, "already used");
        assert_eq!(verify(RFC_SECRET, "12345", now, 0), None);
        assert_eq!(verify(RFC_SECRET, "abcdef", now, 0), None);
    }

    #[test]
    fn secrets_are_written_in_base32() {
        assert_eq!(
            base32(b"12345678901234567890"),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(
            from_base32("gezd gnbv gy3t qojq gezd gnbv gy3t qojq").as_deref(),
            Some(RFC_SECRET)
        );
        assert_eq!(from_base32("not base32!"), None);
        let uri = otpauth_uri("Rapport Desk", "ana@desk.example", RFC_SECRET);
        assert!(uri.starts_with("otpauth://totp/Rapport%20Desk:ana@desk.example?secret=GEZD"));
    }
}
