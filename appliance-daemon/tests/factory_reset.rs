//! The factory reset request against the daemon binary in dev mode, where grubenv is the
//! file `<state dir>/grubenv`: refusals start nothing, an accepted request is recorded and
//! audited, and a sanitization record left by a reset shows on Status (API and page).

use appliance_tests::dev::{state_dir, DevDaemon};
use appliance_tests::https::Response;
use std::path::Path;

fn start(state: &Path) -> DevDaemon {
    DevDaemon::start(
        Path::new(env!("CARGO_BIN_EXE_appliance-daemon")),
        state,
        false,
        &[("APPLIANCE_SLOT", "A"), ("APPLIANCE_PROFILE", "vm")],
    )
}

fn json(r: &Response) -> serde_json::Value {
    r.json()
        .unwrap_or_else(|e| panic!("status {}: {e:#}", r.status))
}

fn admin_token(d: &DevDaemon) -> String {
    let r = d.call(
        "POST",
        "/api/v1/session",
        None,
        Some(r#"{"username":"admin","password":"password"}"#),
    );
    let token = json(&r)["token"].as_str().unwrap().to_string();
    let r = d.call(
        "PUT",
        "/api/v1/account/password",
        Some(&token),
        Some(r#"{"current":"password","new":"reset-tester-1"}"#),
    );
    assert_eq!(r.status, 204);
    token
}

fn grubenv(state: &Path) -> Option<grubenv::Env> {
    let block = std::fs::read(state.join("grubenv")).ok()?;
    Some(grubenv::Env::parse(&block).expect("a valid grubenv block"))
}

#[test]
fn refused_requests_start_nothing_and_an_accepted_one_is_recorded() {
    let state = state_dir("factory-reset");
    let d = start(&state);
    let reset = |token: Option<&str>, body: Option<&str>| {
        d.call("POST", "/api/v1/system/factory-reset", token, body)
    };
    assert_eq!(
        json(&reset(None, Some(r#"{"confirm":"factory-reset"}"#)))["error"],
        "unauthorized"
    );
    let token = admin_token(&d);
    for body in [
        None,
        Some("{}"),
        Some(r#"{"confirm":"yes"}"#),
        Some(r#"{"then":"reboot"}"#),
    ] {
        let r = reset(Some(&token), body);
        assert_eq!(r.status, 422, "{body:?}");
        assert_eq!(json(&r)["error"], "confirmation_required");
    }
    let r = reset(
        Some(&token),
        Some(r#"{"confirm":"factory-reset","then":"halt"}"#),
    );
    assert_eq!(
        (r.status, json(&r)["error"].clone()),
        (422, "invalid_then".into())
    );
    assert!(
        grubenv(&state).is_none_or(|env| env.get("FACTORY_RESET").is_none()),
        "a refused request must not be recorded"
    );

    let r = reset(Some(&token), Some(r#"{"confirm":"factory-reset"}"#));
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(json(&r)["status"], "resetting");
    assert_eq!(json(&r)["then"], "poweroff");
    let env = grubenv(&state).expect("the request is written to grubenv");
    assert_eq!(env.get("FACTORY_RESET"), Some("poweroff"));
    assert_eq!(env.get("ORDER"), Some("A B"), "the A/B state is kept");

    let r = d.call("GET", "/api/v1/audit?limit=10", Some(&token), None);
    let entries = json(&r)["entries"].as_array().unwrap().clone();
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
    let token = admin_token(&d);
    let r = d.call("GET", "/api/v1/status", Some(&token), None);
    let s = &json(&r)["sanitization"];
    assert_eq!(s["method"], "zeroout");
    assert_eq!(s["device"], "/dev/sda6");
    assert_eq!(s["bytes"], 8_589_934_592u64);
    assert_eq!(s["started"], "2030-01-02T03:04:05Z");
    assert_eq!(s["finished"], "2030-01-02T03:06:00Z");
    assert_eq!(s["interruptions"], 1);

    // A state directory without a record says so: null.
    let other = state_dir("no-sanitization");
    let d2 = start(&other);
    let token2 = admin_token(&d2);
    let r = d2.call("GET", "/api/v1/status", Some(&token2), None);
    assert!(json(&r)["sanitization"].is_null());
}
