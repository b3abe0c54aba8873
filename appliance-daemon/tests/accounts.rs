//! Several administrators and two-factor sign-in against the daemon binary in dev mode
//! (real TLS): accounts created, disabled and deleted by another administrator with the
//! password given again, the last enabled account kept, a disabled account's session
//! ended at once, the audit log naming who did what; TOTP enrolment and logins with codes
//! computed here (RFC 6238 with ring's HMAC-SHA1, independently of the daemon's code), a
//! reused or wrong code refused, wrong codes counted toward the lockout, a recovery code
//! working once, and the policy that requires a TOTP.

use appliance_tests::dev::{state_dir, DevDaemon};
use appliance_tests::https::Response;
use appliance_tests::Api;
use serde_json::{json, Value};
use std::path::Path;

const ADMIN_PASSWORD: &str = "Admin of accounts 2026";
const ALICE_INITIAL: &str = "Alice initial 2026";
const ALICE_PASSWORD: &str = "Alice chose this one";

fn start(state: &Path) -> DevDaemon {
    DevDaemon::start(
        Path::new(env!("CARGO_BIN_EXE_appliance-daemon")),
        state,
        false,
        &[("APPLIANCE_SLOT", "A"), ("APPLIANCE_PROFILE", "box")],
    )
}

/// RFC 6238 TOTP (HMAC-SHA1, 30 s, 6 digits) of time step `step`.
fn totp(secret_base32: &str, step: u64) -> String {
    let key = data_encoding::BASE32_NOPAD
        .decode(secret_base32.as_bytes())
        .expect("a base32 secret");
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &key);
    let mac = ring::hmac::sign(&key, &step.to_be_bytes());
    let mac = mac.as_ref();
    let at = usize::from(mac[19] & 0x0f);
    let n = u32::from_be_bytes([mac[at], mac[at + 1], mac[at + 2], mac[at + 3]]) & 0x7fff_ffff;
    format!("{:06}", n % 1_000_000)
}

fn now_step() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 30
}

fn login(d: &DevDaemon, user: &str, password: &str, code: Option<&str>) -> Response {
    let mut body = json!({"username": user, "password": password});
    if let Some(code) = code {
        body["totp"] = json!(code);
    }
    d.call("POST", "/api/v1/session", None, Some(&body.to_string()))
}

fn error_of(r: &Response) -> String {
    r.value()["error"].as_str().unwrap_or_default().to_string()
}

fn text(r: &Response) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

fn accounts(d: &DevDaemon, token: &str) -> Vec<Value> {
    let r = d.call("GET", "/api/v1/accounts", Some(token), None);
    assert_eq!(r.status, 200, "{}", text(&r));
    r.value()["accounts"].as_array().unwrap().clone()
}

/// Start and confirm a TOTP enrolment; the secret and the recovery codes.
fn enrol(d: &DevDaemon, token: &str, account: &str) -> (String, Vec<String>, u64) {
    let r = d.call("POST", "/api/v1/account/totp", Some(token), None);
    assert_eq!(r.status, 200, "{}", text(&r));
    let v = r.value();
    let secret = v["secret"].as_str().unwrap().to_string();
    assert_eq!(
        v["uri"].as_str().unwrap(),
        format!(
            "otpauth://totp/Appliance:{account}?secret={secret}&issuer=Appliance&algorithm=SHA1&digits=6&period=30"
        )
    );
    let svg = v["qr_svg"].as_str().unwrap();
    assert!(svg.contains("<svg") && svg.contains("<path"), "{svg}");

    // A wrong code does not enrol.
    let step = now_step();
    let wrong = format!(
        "{:06}",
        (totp(&secret, step).parse::<u32>().unwrap() + 1) % 1_000_000
    );
    let r = d.call(
        "POST",
        "/api/v1/account/totp/confirm",
        Some(token),
        Some(&json!({"code": wrong}).to_string()),
    );
    assert_eq!(r.status, 401, "{}", text(&r));
    assert_eq!(error_of(&r), "totp_invalid");

    let r = d.call(
        "POST",
        "/api/v1/account/totp/confirm",
        Some(token),
        Some(&json!({"code": totp(&secret, step)}).to_string()),
    );
    assert_eq!(r.status, 200, "{}", text(&r));
    let codes: Vec<String> = r.value()["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 10);
    (secret, codes, step)
}

#[test]
fn administrators_and_two_factor_sign_in() {
    let state = state_dir("accounts");
    let d = start(&state);
    let admin = d.first_login(ADMIN_PASSWORD);

    // One account: the last enabled one cannot go.
    let list = accounts(&d, &admin);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["name"], "admin");
    assert_eq!(list[0]["enabled"], true);
    assert_eq!(list[0]["totp"], false);
    assert!(list[0]["last_login"].as_u64().is_some(), "{list:?}");
    let r = d.confirmed(
        "DELETE",
        "/api/v1/accounts/admin",
        &admin,
        ADMIN_PASSWORD,
        None,
    );
    assert_eq!(r.status, 409, "{}", text(&r));
    assert_eq!(error_of(&r), "last_enabled_account");
    let r = d.confirmed(
        "PUT",
        "/api/v1/accounts/admin",
        &admin,
        ADMIN_PASSWORD,
        Some(r#"{"enabled": false}"#),
    );
    assert_eq!(r.status, 409, "{}", text(&r));
    assert_eq!(error_of(&r), "last_enabled_account");

    // Creating an account asks for the password again; the name is checked.
    let new_alice = json!({"name": "alice", "password": ALICE_INITIAL}).to_string();
    let r = d.call("POST", "/api/v1/accounts", Some(&admin), Some(&new_alice));
    assert_eq!(r.status, 403, "{}", text(&r));
    assert_eq!(error_of(&r), "password_required");
    let r = d.confirmed(
        "POST",
        "/api/v1/accounts",
        &admin,
        ADMIN_PASSWORD,
        Some(&json!({"name": "Bad Name", "password": ALICE_INITIAL}).to_string()),
    );
    assert_eq!(r.status, 422, "{}", text(&r));
    assert_eq!(error_of(&r), "invalid_name");
    let r = d.confirmed(
        "POST",
        "/api/v1/accounts",
        &admin,
        ADMIN_PASSWORD,
        Some(&json!({"name": "shorty", "password": "short"}).to_string()),
    );
    assert_eq!(r.status, 422, "{}", text(&r));
    assert_eq!(error_of(&r), "weak_password");
    let r = d.confirmed(
        "POST",
        "/api/v1/accounts",
        &admin,
        ADMIN_PASSWORD,
        Some(&new_alice),
    );
    assert_eq!(r.status, 201, "{}", text(&r));
    let r = d.confirmed(
        "POST",
        "/api/v1/accounts",
        &admin,
        ADMIN_PASSWORD,
        Some(&new_alice),
    );
    assert_eq!(r.status, 409, "{}", text(&r));
    assert_eq!(error_of(&r), "account_exists");

    // Alice changes the password she was given, then enrols a TOTP.
    let r = login(&d, "alice", ALICE_INITIAL, None);
    assert_eq!(r.status, 200, "{}", text(&r));
    assert_eq!(r.value()["must_change_password"], true);
    let alice = r.value()["token"].as_str().unwrap().to_string();
    let r = d.call(
        "PUT",
        "/api/v1/account/password",
        Some(&alice),
        Some(&json!({"current": ALICE_INITIAL, "new": ALICE_PASSWORD}).to_string()),
    );
    assert_eq!(r.status, 204, "{}", text(&r));
    let (secret, recovery, step) = enrol(&d, &alice, "alice");
    let list = accounts(&d, &admin);
    let row = list.iter().find(|a| a["name"] == "alice").unwrap();
    assert_eq!(row["totp"], true, "{row}");

    // Without the code: totp_required and nothing else; a wrong password still reads as one.
    let r = login(&d, "alice", ALICE_PASSWORD, None);
    assert_eq!(r.status, 401, "{}", text(&r));
    assert_eq!(error_of(&r), "totp_required");
    assert!(r.value().get("token").is_none());
    let r = login(&d, "alice", "Not her password", None);
    assert_eq!(r.status, 401, "{}", text(&r));
    assert_eq!(error_of(&r), "invalid_credentials");

    // The enrolment's code again: reused. The next step's: accepted, once.
    let r = login(&d, "alice", ALICE_PASSWORD, Some(&totp(&secret, step)));
    assert_eq!(r.status, 401, "{}", text(&r));
    assert_eq!(error_of(&r), "totp_invalid");
    let next = totp(&secret, step + 1);
    let r = login(&d, "alice", ALICE_PASSWORD, Some(&next));
    assert_eq!(r.status, 200, "{}", text(&r));
    let alice = r.value()["token"].as_str().unwrap().to_string();
    let r = login(&d, "alice", ALICE_PASSWORD, Some(&next));
    assert_eq!(r.status, 401, "reused: {}", text(&r));
    assert_eq!(error_of(&r), "totp_invalid");
    // The "user" spelling of the name is read too.
    let r = d.call(
        "POST",
        "/api/v1/session",
        None,
        Some(&json!({"user": "alice", "password": ALICE_PASSWORD, "totp": "000000"}).to_string()),
    );
    assert_eq!(r.status, 401, "{}", text(&r));
    assert_eq!(error_of(&r), "totp_invalid");

    // A recovery code works once (typed in lower case, without dashes, too).
    let typed = recovery[3].replace('-', "").to_lowercase();
    let r = login(&d, "alice", ALICE_PASSWORD, Some(&typed));
    assert_eq!(r.status, 200, "{}", text(&r));
    let r = login(&d, "alice", ALICE_PASSWORD, Some(&recovery[3]));
    assert_eq!(r.status, 401, "{}", text(&r));
    assert_eq!(error_of(&r), "totp_invalid");

    // Disabling another account ends its sessions at once and refuses its logins.
    let r = d.call("GET", "/api/v1/status", Some(&alice), None);
    assert_eq!(r.status, 200, "{}", text(&r));
    let r = d.confirmed(
        "PUT",
        "/api/v1/accounts/alice",
        &admin,
        ADMIN_PASSWORD,
        Some(r#"{"enabled": false}"#),
    );
    assert_eq!(r.status, 204, "{}", text(&r));
    let r = d.call("GET", "/api/v1/status", Some(&alice), None);
    assert_eq!(r.status, 401, "{}", text(&r));
    let r = login(&d, "alice", ALICE_PASSWORD, Some(&recovery[4]));
    assert_eq!(r.status, 401, "{}", text(&r));
    assert_eq!(error_of(&r), "invalid_credentials");
    // Admin is the last enabled account again.
    let r = d.confirmed(
        "DELETE",
        "/api/v1/accounts/admin",
        &admin,
        ADMIN_PASSWORD,
        None,
    );
    assert_eq!(r.status, 409, "{}", text(&r));
    let r = d.confirmed(
        "PUT",
        "/api/v1/accounts/alice",
        &admin,
        ADMIN_PASSWORD,
        Some(r#"{"enabled": true}"#),
    );
    assert_eq!(r.status, 204, "{}", text(&r));

    // Wrong codes count toward the lockout as wrong passwords do.
    let r = d.call("GET", "/api/v1/security/policy", Some(&admin), None);
    let mut policy = r.value();
    policy["max_failed_logins"] = json!(3);
    let r = d.call(
        "PUT",
        "/api/v1/security/policy",
        Some(&admin),
        Some(&policy.to_string()),
    );
    assert_eq!(r.status, 200, "{}", text(&r));
    // The count starts afresh (the reused recovery code above was one failure).
    let r = d.call("POST", "/api/v1/accounts/alice/unlock", Some(&admin), None);
    assert_eq!(r.status, 200, "{}", text(&r));
    for _ in 0..3 {
        let r = login(&d, "alice", ALICE_PASSWORD, Some("999999"));
        assert_eq!(r.status, 401, "{}", text(&r));
    }
    let r = login(&d, "alice", ALICE_PASSWORD, Some(&recovery[5]));
    assert_eq!(
        r.status,
        429,
        "locked after three wrong codes: {}",
        text(&r)
    );
    let r = d.call("POST", "/api/v1/accounts/alice/unlock", Some(&admin), None);
    assert_eq!(r.status, 200, "{}", text(&r));

    // Deleting ends the sessions too; the audit log names who did what.
    let r = login(&d, "alice", ALICE_PASSWORD, Some(&recovery[6]));
    assert_eq!(r.status, 200, "{}", text(&r));
    let alice = r.value()["token"].as_str().unwrap().to_string();
    let r = d.confirmed(
        "DELETE",
        "/api/v1/accounts/alice",
        &admin,
        ADMIN_PASSWORD,
        None,
    );
    assert_eq!(r.status, 204, "{}", text(&r));
    let r = d.call("GET", "/api/v1/status", Some(&alice), None);
    assert_eq!(r.status, 401, "{}", text(&r));
    assert_eq!(accounts(&d, &admin).len(), 1);
    let r = d.call("GET", "/api/v1/audit?limit=200", Some(&admin), None);
    let entries = r.value()["entries"].as_array().unwrap().clone();
    let by = |actor: &str, action: &str, detail: &str| {
        entries.iter().any(|e| {
            e["actor"] == actor
                && e["action"] == action
                && e["detail"].as_str().unwrap_or_default().contains(detail)
        })
    };
    assert!(by("admin", "account.create", "\"alice\""), "{entries:?}");
    assert!(by("admin", "account.disable", "\"alice\""));
    assert!(by("admin", "account.enable", "\"alice\""));
    assert!(by("admin", "account.delete", "\"alice\""));
    assert!(by("alice", "account.totp_enrol", "recovery codes"));
    assert!(by(
        "alice",
        "session.failed",
        "two-factor code already used"
    ));
    assert!(by("alice", "session.failed", "wrong two-factor code"));
    assert!(by("alice", "session.create", "recovery code (9 left)"));
    assert!(by("alice", "session.create", "with a two-factor code"));
    let text_of_log = serde_json::to_string(&entries).unwrap();
    assert!(!text_of_log.contains(&secret), "the secret is never logged");
    assert!(!text_of_log.contains(&recovery[0]));

    // The policy requires a TOTP: admin, without one, may only enrol after the password.
    policy["require_totp"] = json!(true);
    let r = d.call(
        "PUT",
        "/api/v1/security/policy",
        Some(&admin),
        Some(&policy.to_string()),
    );
    assert_eq!(r.status, 200, "{}", text(&r));
    let r = login(&d, "admin", ADMIN_PASSWORD, None);
    assert_eq!(r.status, 200, "{}", text(&r));
    assert_eq!(r.value()["must_enrol_totp"], true);
    let limited = r.value()["token"].as_str().unwrap().to_string();
    let r = d.call("GET", "/api/v1/status", Some(&limited), None);
    assert_eq!(r.status, 403, "{}", text(&r));
    assert_eq!(error_of(&r), "totp_enrolment_required");
    let (admin_secret, _, admin_step) = enrol(&d, &limited, "admin");
    let r = d.call("GET", "/api/v1/status", Some(&limited), None);
    assert_eq!(
        r.status,
        200,
        "enrolled, the session may do everything: {}",
        text(&r)
    );
    let r = login(
        &d,
        "admin",
        ADMIN_PASSWORD,
        Some(&totp(&admin_secret, admin_step + 1)),
    );
    assert_eq!(r.status, 200, "{}", text(&r));
    assert_eq!(r.value()["must_enrol_totp"], false);

    // Turning one's TOTP off asks for the password again.
    let r = d.call("DELETE", "/api/v1/account/totp", Some(&limited), None);
    assert_eq!(r.status, 403, "{}", text(&r));
    assert_eq!(error_of(&r), "password_required");
    let r = d.confirmed(
        "DELETE",
        "/api/v1/account/totp",
        &limited,
        ADMIN_PASSWORD,
        None,
    );
    assert_eq!(r.status, 204, "{}", text(&r));
    assert_eq!(accounts(&d, &admin)[0]["totp"], false);

    drop(d);
    let _ = std::fs::remove_dir_all(&state);
}
