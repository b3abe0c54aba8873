//! Two-factor sign-in codes: TOTP (RFC 6238 over RFC 4226's HOTP) with HMAC-SHA1, 30 s
//! steps and 6 digits, as every authenticator app reads from an `otpauth://` URI; and the
//! single-use recovery codes given at enrolment, kept as SHA-256 hashes (each is 80 random
//! bits: a slow hash would add nothing).

use data_encoding::BASE32_NOPAD;
use ring::hmac;

/// Seconds per time step.
pub(crate) const STEP_SECONDS: u64 = 30;
/// Digits of a code.
pub(crate) const DIGITS: u32 = 6;
/// Steps accepted on either side of the current one (clock drift, a code typed late).
const TOLERANCE: u64 = 1;
/// Recovery codes made at enrolment.
pub(crate) const RECOVERY_CODES: usize = 10;
/// The name authenticator apps show above the account's codes.
pub(crate) const ISSUER: &str = "Appliance";

/// RFC 4226's HOTP value of `counter` under `key`, `digits` long.
pub(crate) fn hotp(key: &[u8], counter: u64, digits: u32) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
    let tag = hmac::sign(&key, &counter.to_be_bytes());
    let mac = tag.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([
        mac[offset],
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]) & 0x7fff_ffff;
    binary % 10u32.pow(digits)
}

/// The time step of Unix time `unix`.
pub(crate) fn step_of(unix: u64) -> u64 {
    unix / STEP_SECONDS
}

/// The code of `step`, zero-padded to [`DIGITS`].
pub(crate) fn code_at(key: &[u8], step: u64) -> String {
    format!(
        "{:0width$}",
        hotp(key, step, DIGITS),
        width = DIGITS as usize
    )
}

/// A new 160-bit secret (RFC 4226's recommended length for SHA-1).
pub(crate) fn new_secret() -> Vec<u8> {
    use ring::rand::SecureRandom;
    let mut key = vec![0u8; 20];
    ring::rand::SystemRandom::new()
        .fill(&mut key)
        .expect("the kernel's random generator failed");
    key
}

/// The secret as typed into an authenticator app: base32, no padding.
pub(crate) fn encode(key: &[u8]) -> String {
    BASE32_NOPAD.encode(key)
}

/// A stored secret back to its bytes.
pub(crate) fn decode(secret: &str) -> Option<Vec<u8>> {
    BASE32_NOPAD.decode(secret.as_bytes()).ok()
}

/// The `otpauth://` URI of the Key Uri Format authenticator apps read from the QR code.
pub(crate) fn uri(secret: &str, account: &str) -> String {
    // Account names are [a-z0-9._-] (checked at creation): nothing to percent-encode.
    format!(
        "otpauth://totp/{ISSUER}:{account}?secret={secret}&issuer={ISSUER}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}"
    )
}

/// The QR code of `uri`, as an SVG document (black modules on white, a quiet zone).
pub(crate) fn qr_svg(uri: &str) -> String {
    match qrcode::QrCode::with_error_correction_level(uri, qrcode::EcLevel::M) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
        // A URI of a few dozen bytes always fits: never reached.
        Err(_) => String::new(),
    }
}

/// What a typed code is against an account's secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Right, for this step (to record: it and earlier ones are refused from now on).
    Valid(u64),
    /// Right for a step at or before the last one accepted.
    Reused,
    Wrong,
}

/// Check `code` at Unix time `now`, one step of drift allowed either way; `last_step` is
/// the latest step this account already used.
pub(crate) fn check(key: &[u8], code: &str, now: u64, last_step: u64) -> Verdict {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Verdict::Wrong;
    }
    let current = step_of(now);
    let mut reused = false;
    for step in current.saturating_sub(TOLERANCE)..=current + TOLERANCE {
        if super::same_secret(&code_at(key, step), code) {
            if step > last_step {
                return Verdict::Valid(step);
            }
            reused = true;
        }
    }
    if reused {
        Verdict::Reused
    } else {
        Verdict::Wrong
    }
}

/// Whether `code` looks like a TOTP code (digits only) rather than a recovery code.
pub(crate) fn is_totp_code(code: &str) -> bool {
    let code = code.trim();
    !code.is_empty() && code.bytes().all(|b| b.is_ascii_digit())
}

/// [`RECOVERY_CODES`] new recovery codes, as shown once: 16 base32 characters in groups
/// of four (`ABCD-EFGH-IJKL-MNOP`, 80 bits).
pub(crate) fn recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; 10];
            use ring::rand::SecureRandom;
            ring::rand::SystemRandom::new()
                .fill(&mut bytes)
                .expect("the kernel's random generator failed");
            let plain = BASE32_NOPAD.encode(&bytes);
            plain
                .as_bytes()
                .chunks(4)
                .map(|c| std::str::from_utf8(c).unwrap_or_default())
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect()
}

/// What is stored of a recovery code: SHA-256 (hex) of its characters without dashes or
/// spaces, upper case (so that it may be typed in any case, with or without dashes).
pub(crate) fn recovery_hash(code: &str) -> String {
    let normal: String = code
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        normal.as_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, the SHA-1 rows: the 20-byte ASCII key, 8 digits.
    #[test]
    fn rfc_6238_test_vectors() {
        let key = b"12345678901234567890";
        for (time, expected) in [
            (59u64, 94287082u32),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            assert_eq!(hotp(key, step_of(time), 8), expected, "T = {time}");
        }
    }

    /// RFC 4226 appendix D: HOTP of counters 0 to 9, 6 digits.
    #[test]
    fn rfc_4226_test_vectors() {
        let key = b"12345678901234567890";
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, value) in expected.into_iter().enumerate() {
            assert_eq!(hotp(key, counter as u64, 6), value);
        }
    }

    #[test]
    fn one_step_of_drift_and_no_reuse() {
        let key = b"12345678901234567890";
        let now = 1_111_111_111;
        let step = step_of(now);
        assert_eq!(
            check(key, &code_at(key, step), now, 0),
            Verdict::Valid(step)
        );
        assert_eq!(
            check(key, &code_at(key, step - 1), now, 0),
            Verdict::Valid(step - 1)
        );
        assert_eq!(
            check(key, &code_at(key, step + 1), now, 0),
            Verdict::Valid(step + 1)
        );
        assert_eq!(check(key, &code_at(key, step - 2), now, 0), Verdict::Wrong);
        assert_eq!(check(key, &code_at(key, step + 2), now, 0), Verdict::Wrong);
        // The same step, or an earlier one, once a step was used.
        assert_eq!(check(key, &code_at(key, step), now, step), Verdict::Reused);
        assert_eq!(
            check(key, &code_at(key, step - 1), now, step),
            Verdict::Reused
        );
        assert_eq!(check(key, "12345", now, 0), Verdict::Wrong);
        assert_eq!(check(key, "abcdef", now, 0), Verdict::Wrong);
    }

    #[test]
    fn secrets_uris_and_recovery_codes() {
        let key = new_secret();
        let secret = encode(&key);
        assert_eq!(secret.len(), 32);
        assert_eq!(decode(&secret).unwrap(), key);
        let uri = uri(&secret, "alice");
        assert!(uri.starts_with("otpauth://totp/Appliance:alice?secret="));
        assert!(uri.contains("&period=30"));
        let svg = qr_svg(&uri);
        assert!(svg.contains("<svg") && svg.contains("</svg>"), "{svg}");
        let codes = recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        assert_eq!(codes[0].len(), 19);
        assert_ne!(codes[0], codes[1]);
        assert_eq!(
            recovery_hash(&codes[0]),
            recovery_hash(&codes[0].replace('-', "").to_lowercase())
        );
        assert!(!is_totp_code(&codes[0]));
        assert!(is_totp_code("012345"));
    }
}
