//! Several administrators and two-factor sign-in in the web UI, in headless Chromium
//! against the dev-mode daemon: the Accounts page (the last enabled account kept, an
//! account added with the password given again), the TOTP enrolment (QR code, secret, a
//! code computed here, the recovery codes shown once), then a login in two steps with a
//! used code refused and the right one accepted; and, once the policy requires a TOTP,
//! an account without one led from its password change to the enrolment.

use appliance_tests::browser::Browser;
use appliance_tests::dev::{state_dir, DevDaemon};
use appliance_tests::Api;
use std::path::Path;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);
const PASSWORD: &str = "accounts-in-browser-1";

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

#[test]
fn accounts_page_totp_enrolment_and_a_login_with_the_code() {
    let state = state_dir("browser-accounts");
    let d = DevDaemon::start(
        Path::new(env!("CARGO_BIN_EXE_appliance-daemon")),
        &state,
        false,
        &[("APPLIANCE_SLOT", "A"), ("APPLIANCE_PROFILE", "vm")],
    );
    let b = Browser::start("en-US,en").expect("headless Chromium");
    let base = format!("https://{}", d.https);
    b.first_login(&base, PASSWORD, T).unwrap();
    // An API session of admin, opened before admin has a TOTP, for the policy below.
    let api = d.token(PASSWORD);

    // Accounts: admin alone cannot be deleted; bob is added.
    b.goto(&format!("{base}/appliance/accounts")).unwrap();
    assert!(b.text("#accounts").unwrap().contains("admin"));
    b.type_into("#pw-admin", PASSWORD).unwrap();
    b.click("#delete-admin").unwrap();
    let error = b.wait_for_text("#error", T).unwrap();
    assert!(error.contains("last enabled account"), "{error}");
    b.type_into("#new-name", "bob").unwrap();
    b.type_into("#new-password", "Bob initial 2026").unwrap();
    b.type_into("#add-current", "not the password").unwrap();
    b.click("#add").unwrap();
    let error = b
        .wait_for_text_with("#error", "The password is wrong", T)
        .unwrap();
    assert!(error.contains("nothing was changed"), "{error}");
    b.type_into("#new-name", "bob").unwrap();
    b.type_into("#new-password", "Bob initial 2026").unwrap();
    b.type_into("#add-current", PASSWORD).unwrap();
    b.click("#add").unwrap();
    let notice = b.wait_for_text("#notice", T).unwrap();
    assert!(notice.contains("Account bob created"), "{notice}");
    let row = b.text("#account-bob").unwrap();
    assert!(row.contains("enabled") && row.contains("never"), "{row}");

    // Two-factor enrolment from the Account page.
    b.goto(&format!("{base}/appliance/account")).unwrap();
    b.click("#manage-totp").unwrap();
    b.wait_for_url("/appliance/account/totp", T).unwrap();
    assert!(b.text("#totp-state").unwrap().contains("off"));
    b.click("#totp-start").unwrap();
    b.wait_for_text("#totp-secret", T).unwrap();
    assert!(b.exists("#qr svg"), "the QR code is on the page");
    let secret = b.text("#totp-secret").unwrap();
    assert_eq!(secret.len(), 32, "{secret}");
    let enrol_step = now_step();
    b.type_into("#totp-code", &totp(&secret, enrol_step))
        .unwrap();
    b.click("#totp-confirm").unwrap();
    b.wait_for_text("#recovery-codes", T).unwrap();
    let codes = b.text("#recovery-codes").unwrap();
    assert_eq!(
        codes.lines().filter(|l| l.len() == 19).count(),
        10,
        "{codes}"
    );

    // French, the same page afterwards: enrolled.
    b.goto(&format!("{base}/appliance/account/totp?lang=fr"))
        .unwrap();
    let state_fr = b.text("#totp-state").unwrap();
    assert!(
        state_fr.contains("activée") && state_fr.contains("10"),
        "{state_fr}"
    );
    b.goto(&format!("{base}/appliance/accounts")).unwrap();
    assert!(b.text("h1").unwrap().contains("Comptes"));
    b.goto(&format!("{base}/appliance/accounts?lang=en"))
        .unwrap();

    // Log out, log in: the password, then the code in a second step.
    b.click("#logout").unwrap();
    b.wait_for_url("/appliance/login", T).unwrap();
    b.type_into("#username", "admin").unwrap();
    b.type_into("#password", PASSWORD).unwrap();
    b.click("#login").unwrap();
    b.wait_for_text("#second-step", T).unwrap();
    assert!(!b.exists("#password"), "the password is not asked again");
    // The enrolment's code again: refused as used.
    b.type_into("#code", &totp(&secret, enrol_step)).unwrap();
    b.click("#verify").unwrap();
    let error = b.wait_for_text("#error", T).unwrap();
    assert!(
        error.contains("already been used") || error.contains("already used"),
        "{error}"
    );
    let step = now_step().max(enrol_step + 1);
    b.type_into("#code", &totp(&secret, step)).unwrap();
    b.click("#verify").unwrap();
    b.wait_for_url("/appliance/status", T).unwrap();
    assert!(b.text(".user").unwrap().contains("admin"));

    // The policy requires a TOTP: bob, without one, changes his password and is then led
    // to the enrolment, the menu hidden, until it is confirmed.
    let mut policy = d
        .call("GET", "/api/v1/security/policy", Some(&api), None)
        .value();
    policy["require_totp"] = serde_json::json!(true);
    let r = d.call(
        "PUT",
        "/api/v1/security/policy",
        Some(&api),
        Some(&policy.to_string()),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    b.click("#logout").unwrap();
    b.wait_for_url("/appliance/login", T).unwrap();
    b.type_into("#username", "bob").unwrap();
    b.type_into("#password", "Bob initial 2026").unwrap();
    b.click("#login").unwrap();
    b.wait_for_url("/appliance/password", T).unwrap();
    b.type_into("#current", "Bob initial 2026").unwrap();
    b.type_into("#new", "Bob own password 1").unwrap();
    b.type_into("#confirm", "Bob own password 1").unwrap();
    b.click("#change").unwrap();
    b.wait_for_url("/appliance/account/totp", T).unwrap();
    assert!(b.exists("#totp-required"));
    assert!(!b.exists("nav.main"), "no menu before the enrolment");
    b.goto(&format!("{base}/appliance/accounts")).unwrap();
    b.wait_for_url("/appliance/account/totp", T).unwrap();
    b.click("#totp-start").unwrap();
    b.wait_for_text("#totp-secret", T).unwrap();
    let bob_secret = b.text("#totp-secret").unwrap();
    b.type_into("#totp-code", &totp(&bob_secret, now_step()))
        .unwrap();
    b.click("#totp-confirm").unwrap();
    b.wait_for_text("#recovery-codes", T).unwrap();
    assert!(b.exists("nav.main"), "the menu is back once enrolled");
    b.goto(&format!("{base}/appliance/accounts")).unwrap();
    b.wait_for_url("/appliance/accounts", T).unwrap();
    assert_eq!(b.text("#account-bob td:nth-child(3)").unwrap(), "on");
    assert_ne!(b.text("#account-bob td:nth-child(5)").unwrap(), "never");

    drop(b);
    drop(d);
    let _ = std::fs::remove_dir_all(&state);
}
