//! The web UI in a real headless Chromium against the dev-mode daemon: log in with the
//! factory password, be forced to change it, see Status > Basics and Specs, switch to
//! French, ask for a restart with confirmation, log out.

use appliance_tests::browser::Browser;
use appliance_tests::dev::{state_dir, DevDaemon};
use std::path::Path;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

#[test]
fn login_forced_change_status_and_french() {
    let d = DevDaemon::start(
        Path::new(env!("CARGO_BIN_EXE_appliance-daemon")),
        &state_dir("browser"),
        false,
        &[("APPLIANCE_SLOT", "A"), ("APPLIANCE_PROFILE", "vm")],
    );
    let b = Browser::start("en-US,en").expect("headless Chromium");
    let base = format!("https://{}", d.https);

    b.goto(&format!("{base}/appliance")).unwrap();
    b.wait_for_url("/appliance/login", T).unwrap();
    assert!(b.exists("input#password[type=password]"));

    // A wrong password shows an error and stays on the login page.
    b.type_into("#username", "admin").unwrap();
    b.type_into("#password", "not-the-password").unwrap();
    b.click("#login").unwrap();
    b.wait_for_url("/appliance/login", T).unwrap();
    assert!(b.wait_for_text("#error", T).unwrap().contains("wrong"));

    b.type_into("#username", "admin").unwrap();
    b.type_into("#password", "password").unwrap();
    b.click("#login").unwrap();
    b.wait_for_url("/appliance/password", T).unwrap();
    assert!(b.exists("#must-change"));
    // No way around the change: the status page sends us back.
    b.goto(&format!("{base}/appliance/status")).unwrap();
    b.wait_for_url("/appliance/password", T).unwrap();

    // Two different new passwords are refused.
    b.type_into("#current", "password").unwrap();
    b.type_into("#new", "browser-secret-1").unwrap();
    b.type_into("#confirm", "browser-secret-2").unwrap();
    b.click("#change").unwrap();
    assert!(b.wait_for_text("#error", T).unwrap().contains("differ"));

    b.type_into("#current", "password").unwrap();
    b.type_into("#new", "browser-secret-1").unwrap();
    b.type_into("#confirm", "browser-secret-1").unwrap();
    b.click("#change").unwrap();
    b.wait_for_url("/appliance/status?changed=password", T)
        .unwrap();
    let basics = b.text("#basics").unwrap();
    assert!(basics.contains("Virtual Appliance"), "{basics}");
    assert!(basics.contains(env!("CARGO_PKG_VERSION")), "{basics}");

    b.click("a[href='/appliance/specs']").unwrap();
    b.wait_for_url("/appliance/specs", T).unwrap();
    assert!(b.text("#cpu").unwrap().contains("Cores"));
    assert!(b.exists("#memory"));
    assert!(b.exists("#nics"));

    // The language switch, remembered on the next page.
    b.click("#lang-fr").unwrap();
    b.wait_for_url("/appliance/specs?lang=fr", T).unwrap();
    assert!(b.text("#cpu").unwrap().contains("Cœurs"));
    b.click("a[href='/appliance/status']").unwrap();
    b.wait_for_url("/appliance/status", T).unwrap();
    assert!(b.source().unwrap().contains(r#"<html lang="fr">"#));
    assert!(b.text("h1").unwrap().contains("Général"));

    // Restart asks first; confirming shows the progress page.
    b.click("#restart").unwrap();
    b.wait_for_url("/appliance/confirm/restart", T).unwrap();
    assert!(b.text("main form").unwrap().contains("Redémarrer"));
    b.click("#confirm").unwrap();
    b.wait_for_url("/appliance/system/restart", T).unwrap();
    assert!(b.text("h1").unwrap().contains("Redémarrage"));
    assert!(b.exists("#progress"));

    // Time: a bad server name is refused with a message, a good one saved.
    b.goto(&format!("{base}/appliance/time")).unwrap();
    assert!(b.text("#time").unwrap().contains("Synchronisée"));
    b.type_into("#servers", "bad_name!").unwrap();
    b.click("#save-time").unwrap();
    assert!(b.wait_for_text("#error", T).unwrap().contains("bad_name!"));
    b.type_into("#servers", "10.0.2.2\nntp.example.com")
        .unwrap();
    b.click("#save-time").unwrap();
    b.wait_for_text("p.notice", T).unwrap();
    assert!(b.text("#servers").unwrap().contains("ntp.example.com"));

    b.goto(&format!("{base}/appliance/status")).unwrap();
    b.click("#logout").unwrap();
    b.wait_for_url("/appliance/login", T).unwrap();
    b.goto(&format!("{base}/appliance/status")).unwrap();
    b.wait_for_url("/appliance/login", T).unwrap();
}
