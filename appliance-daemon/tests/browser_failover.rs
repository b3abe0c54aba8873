//! The Failover pages in a real headless Chromium against two dev-mode daemons on loopback,
//! as the guide's "Failover :: Configuration": a key generated on A, a different key
//! entered on B, Establish Relationship refused with the API's sentence (in English, then
//! in French) and nothing stored; the same key entered on B (on the French page), the
//! relationship established; a change on the primary sent by Sync Now and seen on the
//! backup (its Failover page, its greyed Time page in French, Status and
//! `GET /api/v1/status`); Become Primary on the backup, the roles swapped on both pages;
//! Break on the new backup. Also a made-up key refused on the French page, and automatic
//! failover set on the backup.

use appliance_tests::browser::Browser;
use appliance_tests::dev::{state_dir, DevDaemon};
use appliance_tests::Api;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);
const PASSWORD: &str = "failover pages 1";
/// A valid key that is not the one A generates.
const OTHER_KEY: &str = "7KQ2-M9XD-4HJW-PZ3T-A8VN-C6RE-YB5G-1F0S";

/// A dev-mode daemon whose initial sync waits long enough that only Sync Now sends one.
fn start(tag: &str) -> DevDaemon {
    DevDaemon::start(
        Path::new(env!("CARGO_BIN_EXE_appliance-daemon")),
        &state_dir(tag),
        false,
        &[
            ("APPLIANCE_SLOT", "A"),
            ("APPLIANCE_PROFILE", "box"),
            ("APPLIANCE_FAILOVER_SYNC_DELAY_MS", "600000"),
            ("APPLIANCE_FAILOVER_SYNC_FULL_MS", "600000"),
        ],
    )
}

/// One API call on `d` (its certificate becomes the primary's once synced: read again on
/// each call).
fn api(d: &DevDaemon, method: &str, path: &str, body: Option<Value>) -> Value {
    let token = d.token(PASSWORD);
    let body = body.map(|b| b.to_string());
    let r = d.call(method, path, Some(&token), body.as_deref());
    assert!(
        r.status == 200 || r.status == 204,
        "{method} {path}: {} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    r.json().unwrap_or(Value::Null)
}

fn failover_page(b: &Browser, base: &str, query: &str) {
    b.goto(&format!("{base}/appliance/failover{query}"))
        .unwrap();
    b.wait_for_text("#role", T).unwrap();
}

fn title(b: &Browser) -> String {
    b.text("h1").unwrap()
}

fn establish(b: &Browser, backup: &DevDaemon, primary: &DevDaemon) {
    b.type_into("#backup-host", "127.0.0.1").unwrap();
    b.type_into("#backup-port", &backup.https.port().to_string())
        .unwrap();
    b.type_into("#reverse-host", "127.0.0.1").unwrap();
    b.type_into("#reverse-port", &primary.https.port().to_string())
        .unwrap();
    b.click("#establish").unwrap();
}

#[test]
fn establish_sync_now_and_become_primary_through_the_failover_pages() {
    let a = start("browser-failover-a");
    let d = start("browser-failover-b");
    let (a_base, b_base) = (
        format!("https://{}", a.https),
        format!("https://{}", d.https),
    );
    let pa = Browser::start("en-US,en").expect("headless Chromium");
    let pb = Browser::start("en-US,en").expect("headless Chromium");
    pa.first_login(&a_base, PASSWORD, T).unwrap();
    pb.first_login(&b_base, PASSWORD, T).unwrap();

    // The menu leads to the page: not configured, no key.
    pa.click("a[href='/appliance/failover']").unwrap();
    pa.wait_for_url("/appliance/failover", T).unwrap();
    assert_eq!(title(&pa), "Failover :: Configuration");
    assert_eq!(
        pa.text("#failover-intro").unwrap(),
        "Failover is currently not configured."
    );
    assert_eq!(pa.text("#key-fingerprint").unwrap(), "no key set");

    // A generates its key (shown this once); B gets another one.
    pa.click("#generate-key").unwrap();
    let key = pa.wait_for_text("#generated-key", T).unwrap();
    assert_eq!(key.len(), 64, "{key}");
    let a_fingerprint = pa.text("#key-fingerprint").unwrap();
    assert_eq!(
        api(&a, "GET", "/api/v1/failover", None)["key_fingerprint"],
        a_fingerprint.as_str()
    );
    failover_page(&pb, &b_base, "");
    pb.type_into("#key-input", OTHER_KEY).unwrap();
    pb.click("#save-key").unwrap();
    pb.wait_for_text_with("#notice", "key is saved", T).unwrap();
    assert_ne!(pb.text("#key-fingerprint").unwrap(), a_fingerprint);

    // Different keys: refused with the API's sentence, nothing stored on either side.
    establish(&pa, &d, &a);
    let error = pa.wait_for_text("#error", T).unwrap();
    assert!(
        error.contains("do not hold the same inter-appliance key"),
        "{error}"
    );
    assert_eq!(pa.text("#role").unwrap(), "none (not in a pair)");
    // The form keeps what was typed.
    assert!(pa
        .source()
        .unwrap()
        .contains(&format!("value=\"{}\"", d.https.port())));
    // In French, the same refusal in French.
    failover_page(&pa, &a_base, "?lang=fr");
    assert_eq!(title(&pa), "Reprise en séquence :: Configuration");
    establish(&pa, &d, &a);
    let error = pa.wait_for_text("#error", T).unwrap();
    assert!(
        error.contains("ne présentent pas la même clé inter-serveurs"),
        "{error}"
    );
    for side in [&a, &d] {
        assert_eq!(api(side, "GET", "/api/v1/failover", None)["role"], "none");
    }

    // B takes A's key on its French page: the same fingerprint.
    failover_page(&pb, &b_base, "?lang=fr");
    assert_eq!(
        pb.text("a[href='/appliance/failover']").unwrap(),
        "Reprise en séquence"
    );
    // A made-up key is refused with the rule, in French; the stored one stays.
    pb.type_into("#key-input", "motdepasse").unwrap();
    pb.click("#save-key").unwrap();
    let error = pb.wait_for_text("#error", T).unwrap();
    assert!(
        error.starts_with("La clé inter-serveurs est refusée : la clé a 10 caractères"),
        "{error}"
    );
    assert_ne!(pb.text("#key-fingerprint").unwrap(), a_fingerprint);
    pb.type_into("#key-input", &key).unwrap();
    pb.click("#save-key").unwrap();
    pb.wait_for_text_with("#notice", "clé inter-serveurs est enregistrée", T)
        .unwrap();
    assert_eq!(pb.text("#key-fingerprint").unwrap(), a_fingerprint);

    // Established from A (back in English): A primary, B backup.
    failover_page(&pa, &a_base, "?lang=en");
    establish(&pa, &d, &a);
    pa.wait_for_text_with("#notice", "established", T).unwrap();
    assert_eq!(title(&pa), "Failover :: Primary Site Instance Status");
    assert_eq!(pa.text("#role").unwrap(), "primary");
    assert_eq!(pa.text("#generation").unwrap(), "0");
    failover_page(&pb, &b_base, "");
    assert_eq!(
        title(&pb),
        "Reprise en séquence :: État de l'instance du site de sauvegarde"
    );
    assert_eq!(pb.text("#role").unwrap(), "sauvegarde");
    assert_eq!(pb.text("#last-sync").unwrap(), "aucune pour l'instant");
    assert!(!pb.exists("#establish"));

    // Automatic failover on the backup (the field's range is also checked by the browser,
    // which does not send 1 or 51).
    pb.click("#auto-enabled").unwrap();
    pb.type_into("#missed-checks", "7").unwrap();
    pb.click("#save-auto").unwrap();
    pb.wait_for_text("#notice", T).unwrap();
    assert_eq!(
        pb.text("#auto").unwrap(),
        "activée, après 7 contrôles manqués"
    );
    let auto = api(&d, "GET", "/api/v1/failover", None)["auto"].clone();
    assert_eq!(auto, json!({"enabled": true, "missed_checks": 7}));

    // A change on the primary, sent by Sync Now, is on the backup.
    api(
        &a,
        "PUT",
        "/api/v1/time",
        Some(json!({"servers": ["ntp.failover-pages.example"]})),
    );
    pa.click("#sync-now").unwrap();
    pa.wait_for_text_with("#notice", "now holds generation 1", T)
        .unwrap();
    failover_page(&pb, &b_base, "");
    assert_eq!(pb.text("#generation").unwrap(), "1");
    assert_ne!(pb.text("#last-sync").unwrap(), "aucune pour l'instant");
    pb.goto(&format!("{b_base}/appliance/time")).unwrap();
    let time = pb.source().unwrap();
    assert!(time.contains("ntp.failover-pages.example"), "{time}");
    let managed = pb.text("#managed-by-primary").unwrap();
    assert!(
        managed.starts_with("Cette appliance est le serveur de sauvegarde de 127.0.0.1"),
        "{managed}"
    );
    let status = api(&d, "GET", "/api/v1/status", None);
    assert_eq!(status["failover"]["role"], "backup", "{status}");
    assert_eq!(status["failover"]["generation"], 1, "{status}");
    assert!(status["failover"]["last_sync"].is_u64(), "{status}");
    pb.goto(&format!("{b_base}/appliance/status")).unwrap();
    let basics = pb.text("#failover").unwrap();
    assert!(basics.contains("sauvegarde"), "{basics}");

    // Become Primary on the backup, with the final sync pulled: the roles swap on both.
    failover_page(&pb, &b_base, "?lang=en");
    assert_eq!(title(&pb), "Failover :: Backup Site Instance Status");
    pb.click("#pull").unwrap();
    pb.click("#become-primary").unwrap();
    let became = pb
        .wait_for_text_with("#notice", "now the primary", T)
        .unwrap();
    assert!(became.contains("old primary answered"), "{became}");
    assert_eq!(pb.text("#role").unwrap(), "primary");
    assert_eq!(title(&pb), "Failover :: Primary Site Instance Status");
    failover_page(&pa, &a_base, "");
    assert_eq!(pa.text("#role").unwrap(), "backup");
    assert_eq!(title(&pa), "Failover :: Backup Site Instance Status");
    let epoch_a: u64 = pa.text("#epoch").unwrap().parse().unwrap();
    let epoch_b: u64 = pb.text("#epoch").unwrap().parse().unwrap();
    assert_eq!(epoch_a, epoch_b);

    // Break on the new backup: both forget the relationship.
    pa.click("#break").unwrap();
    pa.wait_for_text_with("#notice", "broken on both appliances", T)
        .unwrap();
    assert_eq!(title(&pa), "Failover :: Configuration");
    assert_eq!(api(&d, "GET", "/api/v1/failover", None)["role"], "none");
    assert!(api(&d, "GET", "/api/v1/status", None)["failover"].is_null());
}
