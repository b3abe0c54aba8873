//! The factory reset in the web UI, in headless Chromium against the dev-mode daemon
//! (grubenv is `<state dir>/grubenv`): the sanitization record on Status > Basics, the
//! button, a wrong confirmation word refused with nothing recorded, then the request.

use appliance_tests::browser::Browser;
use appliance_tests::dev::{state_dir, DevDaemon};
use std::path::Path;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

fn requested(state: &Path) -> Option<String> {
    let block = std::fs::read(state.join("grubenv")).ok()?;
    let env = grubenv::Env::parse(&block).expect("a valid grubenv block");
    env.get("FACTORY_RESET").map(str::to_string)
}

#[test]
fn record_on_status_then_a_confirmed_request() {
    let state = state_dir("browser-reset");
    std::fs::write(
        state.join("sanitization.json"),
        r#"{"method": "zeroout", "method_detail": "BLKZEROOUT: the device's write-zeroes command",
            "device": "/dev/sda6", "bytes": 8589934592, "verified_samples": 64,
            "started": "2030-01-02T03:04:05Z", "finished": "2030-01-02T03:06:00Z",
            "interruptions": 0, "factory_version": "1.0.0", "then": "poweroff"}"#,
    )
    .unwrap();
    let d = DevDaemon::start(
        Path::new(env!("CARGO_BIN_EXE_appliance-daemon")),
        &state,
        false,
        &[("APPLIANCE_SLOT", "A"), ("APPLIANCE_PROFILE", "vm")],
    );
    let b = Browser::start("en-US,en").expect("headless Chromium");
    let base = format!("https://{}", d.https);

    b.first_login(&base, "reset-in-browser-1", T).unwrap();
    let record = b.text("#sanitization").unwrap();
    for fact in [
        "zeroout",
        "/dev/sda6",
        "8.0 GiB",
        "2030-01-02T03:04:05Z",
        "1.0.0",
    ] {
        assert!(record.contains(fact), "{fact} missing from: {record}");
    }

    b.click("#factory-reset").unwrap();
    b.wait_for_url("/appliance/confirm/factory-reset", T)
        .unwrap();
    b.type_into("#confirm", "factory reset").unwrap();
    b.type_into("#current-password", "reset-in-browser-1")
        .unwrap();
    b.click("#confirm-reset").unwrap();
    b.wait_for_url("/appliance/system/factory-reset", T)
        .unwrap();
    assert!(b.text("#error").unwrap().contains("does not match"));
    assert_eq!(requested(&state), None, "nothing recorded");

    // The right word, a wrong password: refused, nothing recorded.
    b.type_into("#confirm", "factory-reset").unwrap();
    b.type_into("#current-password", "reset-in-browser-2")
        .unwrap();
    b.click("#confirm-reset").unwrap();
    let error = b
        .wait_for_text_with("#error", "The password is wrong", T)
        .unwrap();
    assert!(error.contains("nothing was changed"), "{error}");
    assert_eq!(requested(&state), None, "nothing recorded");

    b.type_into("#confirm", "factory-reset").unwrap();
    b.type_into("#current-password", "reset-in-browser-1")
        .unwrap();
    b.click("#confirm-reset").unwrap();
    let deadline = std::time::Instant::now() + T;
    while requested(&state).is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the request was not recorded"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(requested(&state).as_deref(), Some("poweroff"));
    assert!(b.exists("#progress"), "the page follows the appliance");
}
