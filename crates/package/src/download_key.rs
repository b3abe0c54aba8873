//! The appliance download key (docs/packages.md "Download key"): what an appliance on a
//! restricted network hands to the vendor, from another machine, to learn which packages
//! it may install. A signed, armored token:
//!
//! ```text
//! -----BEGIN APPLIANCE DOWNLOAD KEY-----
//! base64, 64 characters a line
//! -----END APPLIANCE DOWNLOAD KEY-----
//! ```
//! The base64 decodes to the 64-byte ed25519 signature followed by the JSON body it
//! signs ([`Body`]). The body carries the appliance's own public key: the appliance makes
//! its key pair once and keeps it with its identity (a factory reset makes a new pair and
//! a new appliance id), and the signature binds the appliance id, the installed versions
//! and the dates to that key.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::availability::Installed;
use crate::keys::{KeyId, PublicKey, Signer};
use crate::CLOCK_TOLERANCE_SECS;
use units::utc;

/// How long a download key is valid: 2400 minutes, as the vendor's guide says.
pub const LIFETIME_SECS: u64 = 2400 * 60;
pub const BEGIN: &str = "-----BEGIN APPLIANCE DOWNLOAD KEY-----";
pub const END: &str = "-----END APPLIANCE DOWNLOAD KEY-----";
/// Largest armored key read (a body lists a few dozen packages at most).
const MAX_TEXT: usize = 64 * 1024;
const FORMAT: u64 = 1;

/// What the token says, signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Body {
    pub format: u64,
    /// The appliance id shown on its Status page.
    pub appliance_id: String,
    /// The appliance's download-key public key (base64 of 32 bytes).
    pub public_key: String,
    /// Unix seconds.
    pub issued: u64,
    /// `issued` + [`LIFETIME_SECS`].
    pub expires: u64,
    pub installed: Installed,
}

#[derive(Debug, thiserror::Error)]
pub enum DownloadKeyError {
    #[error("not an appliance download key: {0}")]
    Malformed(String),
    #[error("the download key's signature does not match its content: it was altered or damaged")]
    BadSignature,
    #[error(
        "the download key expired on {} (it is valid 2400 minutes); the clock here says {}: \
         make a new key on the appliance, and if this keeps happening check the appliance's \
         clock and its NTP settings",
        utc(*expires),
        utc(*now)
    )]
    Expired { expires: u64, now: u64 },
    #[error(
        "the download key was made on {}, later than the clock here says it is ({}): the \
         appliance's clock is ahead, check its NTP settings",
        utc(*issued),
        utc(*now)
    )]
    NotYetValid { issued: u64, now: u64 },
}

impl DownloadKeyError {
    pub fn code(&self) -> &'static str {
        match self {
            DownloadKeyError::Malformed(_) => "malformed",
            DownloadKeyError::BadSignature => "bad_signature",
            DownloadKeyError::Expired { .. } => "download_key_expired",
            DownloadKeyError::NotYetValid { .. } => "download_key_not_yet_valid",
        }
    }
}

/// A download key whose signature verified against the key it carries.
#[derive(Debug, Clone)]
pub struct DownloadKey {
    pub body: Body,
    pub key_id: KeyId,
}

/// A download key just made: the armored text to hand over, and what it says.
#[derive(Debug, Clone)]
pub struct Issued {
    pub text: String,
    pub body: Body,
}

/// The armored download key of an appliance, valid from `now` for [`LIFETIME_SECS`].
pub fn issue(signer: &Signer, appliance_id: &str, installed: Installed, now: u64) -> Issued {
    let body = Body {
        format: FORMAT,
        appliance_id: appliance_id.to_string(),
        public_key: BASE64.encode(signer.public().to_bytes()),
        issued: now,
        expires: now + LIFETIME_SECS,
        installed,
    };
    let json = serde_json::to_vec(&body).expect("a download key always serializes");
    let mut raw = signer.sign(&json).to_bytes().to_vec();
    raw.extend_from_slice(&json);
    let encoded = BASE64.encode(raw);
    let mut out = String::with_capacity(encoded.len() + 100);
    out.push_str(BEGIN);
    out.push('\n');
    for line in encoded.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(END);
    out.push('\n');
    Issued { text: out, body }
}

/// Reads an armored key (text around the armor, e.g. a mail, is ignored), verifies its
/// signature with the public key it carries, and its dates against `now`.
pub fn verify(text: &str, now: u64) -> Result<DownloadKey, DownloadKeyError> {
    let bad = |s: &str| DownloadKeyError::Malformed(s.to_string());
    if text.len() > MAX_TEXT {
        return Err(bad("the text is too long"));
    }
    let start = text
        .find(BEGIN)
        .ok_or_else(|| bad("no BEGIN APPLIANCE DOWNLOAD KEY line"))?;
    let inner = &text[start + BEGIN.len()..];
    let end = inner
        .find(END)
        .ok_or_else(|| bad("no END APPLIANCE DOWNLOAD KEY line"))?;
    let b64: String = inner[..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let raw = BASE64
        .decode(b64)
        .map_err(|_| bad("the text between the lines is not base64"))?;
    if raw.len() <= 64 {
        return Err(bad("too short"));
    }
    let (signature, json) = raw.split_at(64);
    let body: Body = serde_json::from_slice(json).map_err(|e| {
        DownloadKeyError::Malformed(format!("its content is not a download key ({e})"))
    })?;
    if body.format != FORMAT {
        return Err(DownloadKeyError::Malformed(format!(
            "format {} (this software reads format 1)",
            body.format
        )));
    }
    let public: [u8; 32] = BASE64
        .decode(&body.public_key)
        .ok()
        .and_then(|k| k.try_into().ok())
        .ok_or_else(|| bad("its public key is not 32 bytes of base64"))?;
    let public = PublicKey::from_bytes(&public).map_err(DownloadKeyError::Malformed)?;
    let signature: [u8; 64] = signature.try_into().expect("split at 64");
    if !public.verifies(json, &signature) {
        return Err(DownloadKeyError::BadSignature);
    }
    if body.expires <= body.issued || body.expires - body.issued > LIFETIME_SECS {
        return Err(bad("it claims to be valid longer than 2400 minutes"));
    }
    if now >= body.expires {
        return Err(DownloadKeyError::Expired {
            expires: body.expires,
            now,
        });
    }
    if body.issued > now.saturating_add(CLOCK_TOLERANCE_SECS) {
        return Err(DownloadKeyError::NotYetValid {
            issued: body.issued,
            now,
        });
    }
    Ok(DownloadKey {
        key_id: public.id(),
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::availability::Site;

    const NOW: u64 = 1_704_067_200;

    fn installed() -> Installed {
        Installed {
            profile: "vm".into(),
            base: "1.0.0".parse().unwrap(),
            floor: None,
            pending_base: None,
            sites: vec![Site {
                name: "crm".into(),
                version: "2.0.0".parse().unwrap(),
            }],
        }
    }

    #[test]
    fn a_key_verifies_until_it_expires() {
        let s = Signer::from_seed(&[9; 32]);
        let text = issue(&s, "00112233445566778899aabbccddeeff", installed(), NOW).text;
        assert!(text.starts_with(BEGIN) && text.trim_end().ends_with(END));
        assert!(text
            .lines()
            .all(|l| l.len() <= 64 || l.starts_with("-----")));
        let k = verify(&format!("Hello,\n\n{text}\nThanks\n"), NOW + 60).unwrap();
        assert_eq!(k.key_id, s.id());
        assert_eq!(k.body.installed, installed());
        assert_eq!(k.body.expires, NOW + 2400 * 60);
        let e = verify(&text, NOW + 2400 * 60).unwrap_err();
        assert_eq!(e.code(), "download_key_expired");
        assert!(e.to_string().contains("NTP"), "{e}");
        let e = verify(&text, NOW - 3600).unwrap_err();
        assert_eq!(e.code(), "download_key_not_yet_valid");
    }

    #[test]
    fn altered_keys_are_refused() {
        let s = Signer::from_seed(&[9; 32]);
        let text = issue(&s, "00112233445566778899aabbccddeeff", installed(), NOW).text;
        let b64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
        let mut raw = BASE64.decode(b64).unwrap();
        // Claim another appliance id: same length, one digit changed.
        let at = raw.windows(4).position(|w| w == b"0011").unwrap();
        raw[at] = b'9';
        let forged = format!("{BEGIN}\n{}\n{END}\n", BASE64.encode(&raw));
        assert_eq!(verify(&forged, NOW).unwrap_err().code(), "bad_signature");
        assert_eq!(verify("hello", NOW).unwrap_err().code(), "malformed");
        let cut = format!("{BEGIN}\nAAAA\n{END}\n");
        assert_eq!(verify(&cut, NOW).unwrap_err().code(), "malformed");
    }
}
