//! The factory reset request against the daemon binary in dev mode, where grubenv is the
//! file `<state dir>/grubenv`: refusals start nothing, an accepted request is recorded and
//! audited, and a sanitization record left by a reset shows on Status (API and page).

use appliance_tests::dev::{state_dir, DevDaemon};
use appliance_tests::Api;
use std::path::Path;

fn start(state: &Path) -> DevDaemon {
    DevDaemon::start(
        Path::new(env!("CARGO_BIN_EXE_appliance-daemon")),
        state,
        false,
        &[("APPLIANCE_SLOT", "A"), ("APPLIANCE_PROFILE", "vm")],
    )
}

fn grubenv(state: &Path) -> Option<grubenv::Env> {
    let block = std::fs::read(state.join("grubenv")).ok()?;
    Some(grubenv::Env::parse(&block).expect("a valid grubenv block"))
}

#[test]
fn refused_requests_start_nothing_and_an_accepted_one_is_recorded() {
    let state = state_dir("factory-reset");
    let d = start(&state);
    const PASSWORD: &str = "reset-tester-1";
    let path = "/api/v1/system/factory-reset";
    let reset = |token: Option<&str>, body: Option<&str>| {
        d.confirmed("POST", path, token.unwrap_or(""), PASSWORD, body)
    };
    assert_eq!(
        d.call("POST", path, None, Some(r#"{"confirm":"factory-reset"}"#))
            .value()["error"],
        "unauthorized"
    );
    let token = d.first_login(PASSWORD);
    // The password again: missing or wrong, nothing starts; a wrong one is audited.
    let r = d.call(
        "POST",
        path,
        Some(&token),
        Some(r#"{"confirm":"factory-reset"}"#),
    );
    assert_eq!(
        (r.status, r.value()["error"].clone()),
        (403, "password_required".into())
    );
    assert!(r.value()["message"]
        .as_str()
        .unwrap()
        .contains("X-Current-Password"));
    let r = d.confirmed(
        "POST",
        path,
        &token,
        "not-the-password",
        Some(r#"{"confirm":"factory-reset"}"#),
    );
    assert_eq!(
        (r.status, r.value()["error"].clone()),
        (403, "wrong_password".into())
    );
    assert!(
        grubenv(&state).is_none_or(|env| env.get("FACTORY_RESET").is_none()),
        "no reset without the password"
    );
    let r = d.call("GET", "/api/v1/audit?limit=10", Some(&token), None);
    assert!(
        r.value()["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "account.confirm_failed"
                && e["detail"] == "wrong password given to confirm a factory reset"),
        "{}",
        r.value()
    );
    for body in [
        None,
        Some("{}"),
        Some(r#"{"confirm":"yes"}"#),
        Some(r#"{"then":"reboot"}"#),
    ] {
        let r = reset(Some(&token), body);
        assert_eq!(r.status, 422, "{body:?}");
        assert_eq!(r.value()["error"], "confirmation_required");
    }
    let r = reset(
        Some(&token),
        Some(r#"{"confirm":"factory-reset","then":"halt"}"#),
    );
    assert_eq!(
        (r.status, r.value()["error"].clone()),
        (422, "invalid_then".into())
    );
    assert!(
        grubenv(&state).is_none_or(|env| env.get("FACTORY_RESET").is_none()),
        "a refused request must not be recorded"
    );

    let r = reset(Some(&token), Some(r#"{"confirm":"factory-reset"}"#));
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.value()["status"], "resetting");
    assert_eq!(r.value()["then"], "poweroff");
    let env = grubenv(&state).expect("the request is written to grubenv");
    assert_eq!(env.get("FACTORY_RESET"), Some("poweroff"));
    assert_eq!(env.get("ORDER"), Some("A B"), "the A/B state is kept");

    let r = d.call("GET", "/api/v1/audit?limit=10", Some(&token), None);
    let entries = r.value()["entries"].as_array().unwrap().clone();
    let audited = entries
        .iter()
        .find(|e| e["action"] == "system.factory_reset")
        .expect("the request is audited");
    assert_eq!(audited["actor"], "admin");
    assert_eq!(audited["detail"], "factory reset requested, then power off");
}

#[test]
fn the_sanitization_record_shows_on_status() {
    let state = state_dir("sanitization");
    let record = r#"{"format": 1, "method": "zeroout", "method_detail": "BLKZEROOUT: the device's write-zeroes command",
        "device": "/dev/sda6", "partition": "data", "bytes": 8589934592, "verified_samples": 64,
        "started": "2030-01-02T03:04:05Z", "finished": "2030-01-02T03:06:00Z", "interruptions": 1,
        "slot_b_cleared_bytes": 268435456, "factory_bytes": 15613952, "factory_version": "1.0.0", "then": "poweroff"}"#;
    std::fs::write(state.join("sanitization.json"), record).unwrap();
    let d = start(&state);
    let token = d.first_login("reset-tester-1");
    let r = d.call("GET", "/api/v1/status", Some(&token), None);
    let s = &r.value()["sanitization"];
    assert_eq!(s["method"], "zeroout");
    assert_eq!(s["device"], "/dev/sda6");
    assert_eq!(s["bytes"], 8_589_934_592u64);
    assert_eq!(s["started"], "2030-01-02T03:04:05Z");
    assert_eq!(s["finished"], "2030-01-02T03:06:00Z");
    assert_eq!(s["interruptions"], 1);

    // A state directory without a record says so: null.
    let other = state_dir("no-sanitization");
    let d2 = start(&other);
    let token2 = d2.first_login("reset-tester-1");
    let r = d2.call("GET", "/api/v1/status", Some(&token2), None);
    assert!(r.value()["sanitization"].is_null());
}
