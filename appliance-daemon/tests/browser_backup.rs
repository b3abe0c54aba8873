//! The Backup page in a real headless Chromium against two dev-mode daemons, as the guide's
//! "Software :: Backup Settings": on A, two different passwords refused, then a backup
//! downloaded by the browser; on B, the file restored with a wrong password (refused,
//! nothing changed), then with the right one: the page shows where the backup came from,
//! what was restored and what was left out and why, and B has A's settings. The page in
//! French too.

use appliance_tests::browser::Browser;
use appliance_tests::dev::{state_dir, DevDaemon};
use appliance_tests::Api;
use std::path::Path;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);
const POLICY: &str = r#"{"max_failed_logins":3,"lockout_seconds":120,"session_idle_seconds":600,"session_max_seconds":3600}"#;

fn start(state: &Path) -> DevDaemon {
    DevDaemon::start(
        Path::new(env!("CARGO_BIN_EXE_appliance-daemon")),
        state,
        false,
        &[("APPLIANCE_SLOT", "A"), ("APPLIANCE_PROFILE", "box")],
    )
}

fn policy(d: &DevDaemon, token: &str) -> serde_json::Value {
    d.call("GET", "/api/v1/security/policy", Some(token), None)
        .value()
}

#[test]
fn download_a_backup_and_restore_it_on_another_appliance() {
    let a_state = state_dir("browser-backup-a");
    let a = start(&a_state);
    let b = Browser::start("en-US,en").expect("headless Chromium");
    let a_base = format!("https://{}", a.https);
    b.first_login(&a_base, "browser-backup-a1", T).unwrap();
    let a_token = a.token("browser-backup-a1");
    let r = a.call(
        "PUT",
        "/api/v1/security/policy",
        Some(&a_token),
        Some(POLICY),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));

    // The menu leads to the page.
    b.click("a[href='/appliance/backup']").unwrap();
    b.wait_for_url("/appliance/backup", T).unwrap();
    let downloads = a_state.join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    b.allow_downloads(&downloads).unwrap();

    b.type_into("#backup-password", "backup pass 1").unwrap();
    b.type_into("#backup-confirm", "backup pass 2").unwrap();
    b.click("#download-backup").unwrap();
    let error = b.wait_for_text("#error", T).unwrap();
    assert!(error.contains("differ"), "{error}");
    assert_eq!(std::fs::read_dir(&downloads).unwrap().count(), 0);

    b.type_into("#backup-password", "backup pass 1").unwrap();
    b.type_into("#backup-confirm", "backup pass 1").unwrap();
    b.click("#download-backup").unwrap();
    let file = Browser::wait_for_download(&downloads, T).unwrap();
    let name = file.file_name().unwrap().to_string_lossy().to_string();
    assert!(
        name.starts_with("appliance-") && name.contains("-box-") && name.ends_with(".backup"),
        "{name}"
    );
    let saved = a_state.join("saved.backup");
    std::fs::rename(&file, &saved).unwrap();
    drop(a);

    // Another appliance: a wrong password changes nothing.
    let b_state = state_dir("browser-backup-b");
    let d = start(&b_state);
    let b_base = format!("https://{}", d.https);
    b.first_login(&b_base, "browser-backup-b1", T).unwrap();
    let b_token = d.token("browser-backup-b1");
    let before = policy(&d, &b_token);
    b.goto(&format!("{b_base}/appliance/backup")).unwrap();
    b.type_into("#restore-password", "not the password")
        .unwrap();
    b.choose_file("#backup-file", &saved).unwrap();
    b.click("#restore").unwrap();
    let error = b.wait_for_text("#error", T).unwrap();
    assert!(error.contains("password"), "{error}");
    assert!(!b.exists("#restore-report"));
    assert_eq!(policy(&d, &b_token), before);

    // The right one: the report, and A's settings on B.
    b.type_into("#restore-password", "backup pass 1").unwrap();
    b.choose_file("#backup-file", &saved).unwrap();
    b.click("#restore").unwrap();
    let report = b.wait_for_text("#restore-report", T).unwrap();
    for expected in ["restored", "box", "security policy", "appliance id"] {
        assert!(
            report.to_lowercase().contains(expected),
            "{expected} missing from the report: {report}"
        );
    }
    let session = b.text("#session-note").unwrap();
    assert!(session.contains("stays open"), "{session}");
    let b_token = d.token("browser-backup-a1");
    assert_eq!(policy(&d, &b_token)["max_failed_logins"], 3);

    // In French.
    b.goto(&format!("{b_base}/appliance/backup?lang=fr"))
        .unwrap();
    let source = b.source().unwrap();
    assert!(source.contains("Sauvegarde des paramètres"), "{source}");
    assert_eq!(
        b.text("#download-backup").unwrap(),
        "Télécharger la sauvegarde"
    );
}
