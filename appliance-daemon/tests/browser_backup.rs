//! The Backup page in a real headless Chromium against two dev-mode daemons, as the guide's
//! "Software :: Backup Settings": on A, two different passwords refused, then a backup
//! downloaded by the browser; on B, the file restored with a wrong password (refused,
//! nothing changed), then with the right one: the page shows where the backup came from,
//! what was restored and what was left out and why, and B has A's settings. The page in
//! French too. Scheduled backups through the same page: a wrong time refused with nothing
//! stored, a weekly schedule saved, "Back up now", and the kept backup downloaded from the
//! list.

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

#[test]
fn schedule_backups_then_back_up_now_and_download_the_kept_one() {
    let state = state_dir("browser-backup-schedule");
    let d = start(&state);
    let b = Browser::start("en-US,en").expect("headless Chromium");
    let base = format!("https://{}", d.https);
    b.first_login(&base, "browser-schedule-1", T).unwrap();
    b.goto(&format!("{base}/appliance/backup")).unwrap();
    assert_eq!(b.text("#next-backup").unwrap(), "off");
    assert!(b.exists("#no-kept"));

    // Weekly on Friday at a time that does not exist: refused, nothing stored.
    b.click("#schedule-enabled").unwrap();
    b.click("#schedule-weekly").unwrap();
    b.click("#schedule-weekday option[value='friday']").unwrap();
    b.type_into("#schedule-time", "25:00").unwrap();
    b.type_into("#schedule-password", "scheduled pass 1")
        .unwrap();
    b.type_into("#schedule-confirm", "scheduled pass 1")
        .unwrap();
    b.click("#save-schedule").unwrap();
    let error = b.wait_for_text("#error", T).unwrap();
    assert!(error.contains("time must be HH:MM"), "{error}");
    let token = d.token("browser-schedule-1");
    let stored = d
        .call("GET", "/api/v1/backup/schedule", Some(&token), None)
        .value();
    assert_eq!(stored["enabled"], false, "{stored}");

    b.click("#schedule-enabled").unwrap();
    b.click("#schedule-weekly").unwrap();
    b.click("#schedule-weekday option[value='friday']").unwrap();
    b.type_into("#schedule-time", "03:30").unwrap();
    b.type_into("#schedule-retention", "2").unwrap();
    b.type_into("#schedule-password", "scheduled pass 1")
        .unwrap();
    b.type_into("#schedule-confirm", "scheduled pass 1")
        .unwrap();
    b.click("#save-schedule").unwrap();
    b.wait_for_text("[role=status]", T).unwrap();
    let stored = d
        .call("GET", "/api/v1/backup/schedule", Some(&token), None)
        .value();
    assert_eq!(
        (
            stored["enabled"].clone(),
            stored["weekday"].clone(),
            stored["time"].clone(),
            stored["retention"].clone(),
            stored["password_set"].clone()
        ),
        (
            true.into(),
            "friday".into(),
            "03:30".into(),
            2.into(),
            true.into()
        ),
        "{stored}"
    );
    assert_ne!(b.text("#next-backup").unwrap(), "off");
    assert!(b
        .source()
        .unwrap()
        .contains("placeholder=\"set: leave empty to keep it\""));

    // Back up now: kept on the appliance, listed, and downloaded from the list.
    b.click("#backup-now").unwrap();
    // The schedule's notice stays until the new page comes: wait for this one's.
    let notice = b
        .wait_for_text_with("[role=status]", "kept on the appliance", T)
        .unwrap();
    assert!(notice.contains("kept on the appliance"), "{notice}");
    let listed = b.text("#kept-backups").unwrap();
    assert!(listed.contains(".backup"), "{listed}");
    let downloads = state.join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    b.allow_downloads(&downloads).unwrap();
    b.click("#kept-backups a").unwrap();
    let file = Browser::wait_for_download(&downloads, T).unwrap();
    let kept: Vec<String> = std::fs::read_dir(state.join("backups"))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        std::fs::read(&kept[0]).unwrap(),
        "the kept backup, byte for byte"
    );

    b.goto(&format!("{base}/appliance/backup?lang=fr")).unwrap();
    assert_eq!(b.text("#scheduled").unwrap(), "Sauvegardes planifiées");
}
