//! The Updates page in a real headless Chromium against the dev-mode daemon and a vendor's
//! update server in this process (HTTPS, certificate from a test CA): set the server and
//! its CA in the form (a bad URL is refused next to its field), Check now, see one
//! package installable and one greyed out with its reason, install from the catalog,
//! roll a site package back, show the download key, and an expired catalog pointing at
//! the Time page.

mod update_server;

use std::time::{Duration, Instant};

use appliance_tests::browser::Browser;
use appliance_tests::Api;
use package::catalog;
use update_server::{
    base_package, base_package_of, certificates, daemon_trusting_dev_key, dev_key, needs,
    paced_update_server, site_package,
};

const T: Duration = Duration::from_secs(60);
const DAY: u64 = 86_400;

/// Wait until the element `css` holds `needle` (a form answer replaces the page in place).
fn wait_for(b: &Browser, css: &str, needle: &str) -> String {
    let deadline = Instant::now() + T;
    loop {
        let text = b.text(css).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{css} never said {needle:?}; last: {text:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn server_check_install_rollback_and_download_key() {
    let (d, state) = daemon_trusting_dev_key("browser-updates");

    // The vendor's side: base 1.0.1, base 1.0.2 (needs 1.0.1 first), site crm 1.0.0, 1.1.0.
    let work = state.join("work");
    let root = state.join("server");
    let stable = root.join("stable");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&stable).unwrap();
    base_package(&work, &stable, "1.0.1", vec![]);
    let needs_101 = needs("base", "1.0.1");
    base_package(&work, &stable, "1.0.2", needs_101);
    site_package(&work, &stable, "crm", "1.0.0");
    site_package(&work, &stable, "crm", "1.1.0");
    let now = units::now();
    let built = catalog::build_dir(&stable, &[dev_key()], now, now + 7 * DAY).unwrap();
    let (ca_pem, tls) = certificates();
    let server = update_server::update_server(root.clone(), tls);

    let b = Browser::start("en-US,en").expect("headless Chromium");
    let base = format!("https://{}", d.https);
    b.goto(&format!("{base}/appliance/login")).unwrap();
    b.type_into("#username", "admin").unwrap();
    b.type_into("#password", "password").unwrap();
    b.click("#login").unwrap();
    b.wait_for_url("/appliance/password", T).unwrap();
    b.type_into("#current", "password").unwrap();
    b.type_into("#new", "updates-secret-1").unwrap();
    b.type_into("#confirm", "updates-secret-1").unwrap();
    b.click("#change").unwrap();
    b.wait_for_url("/appliance/status?changed=password", T)
        .unwrap();

    b.goto(&format!("{base}/appliance/updates")).unwrap();
    assert!(b.exists("#no-catalog"));
    assert!(b.exists("#no-sites"));
    b.click("#check-now").unwrap();
    wait_for(&b, "#error", "Update server form below");

    // A plain-http URL: the error next to the field, the CA kept as typed, nothing stored.
    b.type_into("#server-url", "http://127.0.0.1/stable")
        .unwrap();
    b.type_into("#server-ca", &ca_pem).unwrap();
    b.type_into("#server-current", "updates-secret-1").unwrap();
    b.click("#save-server").unwrap();
    assert!(wait_for(&b, "#url-error", "https://").contains("not an https://"));
    assert!(!b.exists("#ca-error"));
    assert!(b.text("#error").unwrap().contains("not changed"));
    assert!(b.text("#server-ca").unwrap().contains("BEGIN CERTIFICATE"));
    b.goto(&format!("{base}/appliance/updates")).unwrap();
    assert_eq!(b.text("#server-ca").unwrap(), "");

    // A wrong password: nothing stored, the fields kept as typed.
    b.type_into("#server-url", &format!("https://{server}/stable"))
        .unwrap();
    b.type_into("#server-ca", &ca_pem).unwrap();
    b.type_into("#server-current", "updates-secret-2").unwrap();
    b.click("#save-server").unwrap();
    let error = wait_for(&b, "#error", "password is wrong");
    assert!(error.contains("not changed"), "{error}");
    assert!(b.text("#server-ca").unwrap().contains("BEGIN CERTIFICATE"));

    // The server and its CA saved, then Check now.
    b.type_into("#server-url", &format!("https://{server}/stable"))
        .unwrap();
    b.type_into("#server-ca", &ca_pem).unwrap();
    b.type_into("#server-current", "updates-secret-1").unwrap();
    b.click("#save-server").unwrap();
    wait_for(&b, "p.notice", "Update server saved");
    assert!(!b.exists("#url-error"));
    b.click("#check-now").unwrap();
    wait_for(&b, "p.notice", "catalog was checked");
    assert!(b
        .text("#catalog")
        .unwrap()
        .contains(&format!("https://{server}/stable/")));
    let listed = b.text("#available").unwrap();
    assert!(
        listed.contains("Base system") && listed.contains("crm"),
        "{listed}"
    );
    assert!(listed.contains("1.0 MiB"), "{listed}");
    assert!(b.exists("tr[data-id='base-1.0.1-vm'] button[data-install='base-1.0.1-vm']"));
    // The greyed-out package: no form, a disabled button and the reason.
    let blocked = b.text("tr.blocked[data-id='base-1.0.2-vm']").unwrap();
    assert!(blocked.contains("needs base 1.0.1"), "{blocked}");
    assert!(b.exists("tr[data-id='base-1.0.2-vm'] button[disabled]"));
    assert!(!b.exists("tr[data-id='base-1.0.2-vm'] form"));

    // Install from the catalog: the progress display, then the result.
    b.click("button[data-install='base-1.0.1-vm']").unwrap();
    wait_for(&b, "p.notice", "Restart the appliance");
    assert!(wait_for(&b, "#pending", "1.0.1").contains('B'));
    assert!(b.text("#installed").unwrap().contains("1.0.1"));
    assert!(b.text("#history").unwrap().contains("installed"));
    assert_eq!(
        std::fs::read(state.join("slot-b.img")).unwrap(),
        std::fs::read(work.join("slot-1.0.1.sqfs")).unwrap()
    );
    assert!(b
        .text("tr.blocked[data-id='base-1.0.1-vm']")
        .unwrap()
        .contains("1.0.1"));

    // Two site versions installed, then the newer one rolled back.
    b.click("button[data-install='crm-1.0.0']").unwrap();
    wait_for(&b, "p.notice", "crm 1.0.0");
    b.click("button[data-install='crm-1.1.0']").unwrap();
    wait_for(&b, "p.notice", "crm 1.1.0");
    let row = b.text("#sites tr[data-site='crm']").unwrap();
    assert!(row.contains("1.1.0") && row.contains("1.0.0"), "{row}");
    b.click("button[data-rollback='crm']").unwrap();
    wait_for(&b, "p.notice", "crm 1.0.0: now in use");
    let row = b.text("#sites tr[data-site='crm']").unwrap();
    assert!(row.starts_with("crm 1.0.0 1.1.0"), "{row}");
    let current = std::fs::read_to_string(state.join("site/crm/current/index.html")).unwrap();
    assert_eq!(current, "crm 1.0.0");

    // The download key, read as the vendor's tool reads it.
    assert!(!b.exists("#download-key"));
    b.click("#show-key").unwrap();
    let expires = wait_for(&b, "#key-expires", "Valid until");
    let source = b.source().unwrap();
    let start = source
        .find("-----BEGIN APPLIANCE DOWNLOAD KEY-----")
        .unwrap();
    let end = source.find("-----END APPLIANCE DOWNLOAD KEY-----").unwrap();
    let armored = format!(
        "{}-----END APPLIANCE DOWNLOAD KEY-----\n",
        &source[start..end]
    );
    let key = package::download_key::verify(&armored, units::now()).unwrap();
    assert_eq!(
        key.body.installed.pending_base.unwrap().to_string(),
        "1.0.1"
    );
    assert!(expires.contains(&units::rfc3339(key.body.expires)));
    assert!(b.exists("#download-key[readonly]"));

    // An expired catalog on the server: the failure, pointing at the Time page.
    let expired = catalog::Catalog {
        issued: now - 10 * DAY,
        expires: now - DAY,
        ..catalog::Catalog::from_json(&std::fs::read(&built.json).unwrap()).unwrap()
    };
    let (json, sig) = catalog::sign(&expired, &[dev_key()]).unwrap();
    std::fs::write(&built.json, json).unwrap();
    std::fs::write(&built.sig, sig).unwrap();
    b.click("#check-now").unwrap();
    wait_for(&b, "#error", "Checking for updates failed");
    assert!(b.text("#check-failure").unwrap().contains("expired"));
    assert!(b.exists("a#time-link[href='/appliance/time']"));
    // The last good catalog stays.
    assert!(b.exists("button[data-install='crm-1.1.0']"));

    // French.
    b.goto(&format!("{base}/appliance/updates?lang=fr"))
        .unwrap();
    assert!(b
        .text("#check-now")
        .unwrap()
        .contains("Vérifier maintenant"));
    assert!(b
        .text("#check-failure")
        .unwrap()
        .contains("La dernière vérification"));
    assert!(b.text("#sites").unwrap().contains("Version précédente"));
}

/// A catalog install says where it is while it runs: the phase and the bytes, asked by
/// the page every half second, from a server that sends the 12 MiB package at 3 MiB/s.
#[test]
fn a_catalog_install_shows_its_progress_live() {
    let (d, state) = daemon_trusting_dev_key("browser-updates-progress");
    let token = d.first_login("progress-secret-1");
    let work = state.join("work");
    let root = state.join("server");
    let stable = root.join("stable");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&stable).unwrap();
    base_package_of(&work, &stable, "1.0.1", vec![], 12);
    let now = units::now();
    catalog::build_dir(&stable, &[dev_key()], now, now + 7 * DAY).unwrap();
    let (ca_pem, tls) = certificates();
    let server = paced_update_server(root, tls, 3 << 20);
    let setting =
        serde_json::json!({"url": format!("https://{server}/stable"), "ca_certificate": ca_pem});
    let r = d.confirmed(
        "PUT",
        "/api/v1/updates/server",
        &token,
        "progress-secret-1",
        Some(&setting.to_string()),
    );
    assert_eq!(r.status, 200, "{}", r.value());
    let r = d.call("POST", "/api/v1/updates/check", Some(&token), None);
    assert_eq!(r.status, 200, "{}", r.value());

    let b = Browser::start("fr-FR,fr").expect("headless Chromium");
    let base = format!("https://{}", d.https);
    b.goto(&format!("{base}/appliance/login")).unwrap();
    b.type_into("#username", "admin").unwrap();
    b.type_into("#password", "progress-secret-1").unwrap();
    b.click("#login").unwrap();
    b.wait_for_url("/appliance/status", T).unwrap();
    b.goto(&format!("{base}/appliance/updates")).unwrap();
    // Without a session the progress is not told.
    let anonymous = appliance_tests::https::get(
        d.https,
        "/appliance/updates/progress",
        &d.trust(),
        Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(anonymous.status, 303);

    b.click("button[data-install='base-1.0.1-vm']").unwrap();
    let started = Instant::now();
    let mut seen: Vec<String> = Vec::new();
    loop {
        if b.exists("p.notice") {
            break;
        }
        let text = b.text("#install-status").unwrap_or_default();
        if !text.is_empty() && seen.last() != Some(&text) {
            seen.push(text);
        }
        assert!(
            started.elapsed() < T,
            "the install never ended; seen: {seen:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = started.elapsed();
    let downloading: Vec<&String> = seen
        .iter()
        .filter(|s| s.starts_with("Téléchargement 1.0.1: ") && s.ends_with("sur 12.0 MiB"))
        .collect();
    assert!(
        downloading.len() >= 3,
        "at least three download steps in French: {seen:#?}"
    );
    println!(
        "catalog install of 12 MiB at 3 MiB/s: {:.1} s, {} distinct progress lines: {:?}",
        took.as_secs_f64(),
        seen.len(),
        seen
    );
    wait_for(&b, "#pending", "1.0.1");
}
