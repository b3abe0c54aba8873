//! The Certificates page in a real headless Chromium against a dev-mode daemon, as the
//! guide's "Security :: Certificates": a PKCS#12 made by the openssl command imported with
//! a wrong password (refused, nothing stored), then with the right one (its warnings
//! shown); assigned to 127.0.0.1, where the daemon listens, and served there (read by a TLS
//! client); exported as PKCS#12 by the browser and opened by `openssl pkcs12`; a CSR
//! requested and shown; the page in French with a French refusal.

use appliance_tests::browser::Browser;
use appliance_tests::dev::{state_dir, DevDaemon};
use appliance_tests::https::{self, Trust};
use appliance_tests::openssl::{der_of, openssl};
use appliance_tests::Api;
use std::path::Path;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

fn stored(d: &DevDaemon, token: &str) -> Vec<serde_json::Value> {
    let list = d
        .call("GET", "/api/v1/certificates", Some(token), None)
        .value();
    list.as_array().expect("a list").clone()
}

#[test]
fn import_a_pkcs12_assign_it_export_it_and_request_a_csr() {
    let state = state_dir("browser-certificates");
    let work = state_dir("browser-certificates-work");
    let d = DevDaemon::start(
        Path::new(env!("CARGO_BIN_EXE_appliance-daemon")),
        &state,
        false,
        &[("APPLIANCE_SLOT", "A"), ("APPLIANCE_PROFILE", "box")],
    );
    assert_eq!(d.https.ip().to_string(), "127.0.0.1");

    // A certificate for 127.0.0.1 and its key, as a PKCS#12 file.
    openssl(
        &work,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=browser.example.test",
            "-addext",
            "subjectAltName=DNS:browser.example.test,IP:127.0.0.1",
            "-days",
            "90",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
        ],
    );
    openssl(
        &work,
        &[
            "pkcs12",
            "-export",
            "-in",
            "cert.pem",
            "-inkey",
            "key.pem",
            "-passout",
            "pass:import pass 1",
            "-out",
            "cert.p12",
        ],
    );
    let cert_der = der_of(&std::fs::read(work.join("cert.pem")).unwrap());

    let b = Browser::start("en-US,en").expect("headless Chromium");
    let base = format!("https://{}", d.https);
    b.first_login(&base, "browser-certs-1", T).unwrap();
    let token = d.token("browser-certs-1");

    // The menu leads to the page; the self-signed default is listed and marked.
    b.click("a[href='/appliance/certificates']").unwrap();
    b.wait_for_url("/appliance/certificates", T).unwrap();
    assert!(b.exists("#cert-self-signed #self-signed-mark"));
    assert!(b
        .text("#cert-self-signed-assigned")
        .unwrap()
        .starts_with('*'));

    // The account's password is asked again: a wrong one refuses, nothing stored.
    b.choose_file("#import-file", &work.join("cert.p12"))
        .unwrap();
    b.type_into("#import-password", "import pass 1").unwrap();
    b.type_into("#import-current", "browser-certs-2").unwrap();
    b.click("#import").unwrap();
    let error = b.wait_for_text("#error", T).unwrap();
    assert!(
        error.contains("The password is wrong; nothing was changed"),
        "{error}"
    );
    assert_eq!(stored(&d, &token).len(), 1, "only the self-signed one");

    // A wrong PKCS#12 password: refused with the API's sentence, nothing stored.
    b.choose_file("#import-file", &work.join("cert.p12"))
        .unwrap();
    b.type_into("#import-password", "not the password").unwrap();
    b.type_into("#import-current", "browser-certs-1").unwrap();
    b.click("#import").unwrap();
    let error = b
        .wait_for_text_with("#error", "the password is wrong", T)
        .unwrap();
    assert!(error.contains("the password is wrong"), "{error}");
    assert_eq!(stored(&d, &token).len(), 1, "only the self-signed one");

    // The right one: imported with its friendly name, the warnings shown.
    b.choose_file("#import-file", &work.join("cert.p12"))
        .unwrap();
    b.type_into("#import-password", "import pass 1").unwrap();
    b.type_into("#import-current", "browser-certs-1").unwrap();
    b.type_into("#import-name", "Browser test").unwrap();
    b.click("#import").unwrap();
    let notice = b.wait_for_text("#notice", T).unwrap();
    assert!(notice.contains("\"Browser test\" imported"), "{notice}");
    let warnings = b.text("#import-warnings").unwrap();
    assert!(warnings.contains("self-signed"), "{warnings}");
    let list = stored(&d, &token);
    let imported = list
        .iter()
        .find(|c| c["name"] == "Browser test")
        .expect("the imported certificate");
    let id = imported["id"].as_str().unwrap().to_string();
    assert_eq!(imported["assigned"], serde_json::json!([]));
    assert!(b.exists(&format!("#delete-{id}")), "unassigned: deletable");

    // Assigned to 127.0.0.1: served there from the next connection on.
    b.click(&format!("#assign-{id} input[value='127.0.0.1']"))
        .unwrap();
    b.type_into(&format!("#assign-{id}-current"), "browser-certs-1")
        .unwrap();
    b.click(&format!("#assign-{id}-save")).unwrap();
    let notice = b
        .wait_for_text_with("#notice", "Assignment saved", T)
        .unwrap();
    assert!(notice.contains("Assignment saved"), "{notice}");
    let served = https::get(d.https, "/api/v1/health", &Trust::Any, T)
        .expect("health over TLS")
        .peer_cert
        .expect("a certificate");
    assert_eq!(
        served.to_vec(),
        cert_der,
        "the imported certificate is served"
    );
    assert_eq!(
        b.text(&format!("#cert-{id}-assigned")).unwrap(),
        "127.0.0.1"
    );
    assert!(
        !b.exists(&format!("#delete-{id}")),
        "assigned: not deletable"
    );

    // Exported as PKCS#12: two different passwords refused, then the download, which
    // `openssl pkcs12` opens with the operator's password.
    let downloads = work.join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    b.allow_downloads(&downloads).unwrap();
    let export = |password: &str, confirm: &str| {
        b.click(&format!("#export-{id}-format option[value='pkcs12']"))
            .unwrap();
        b.type_into(&format!("#export-{id}-password"), password)
            .unwrap();
        b.type_into(&format!("#export-{id}-confirm"), confirm)
            .unwrap();
        b.click(&format!("#export-{id}-save")).unwrap();
    };
    export("export pass 1", "export pass 2");
    let error = b.wait_for_text("#error", T).unwrap();
    assert!(error.contains("differ"), "{error}");
    export("export pass 1", "export pass 1");
    let file = Browser::wait_for_download(&downloads, T).unwrap();
    assert!(
        file.extension().is_some_and(|e| e == "p12"),
        "{}",
        file.display()
    );
    let opened = openssl(
        &work,
        &[
            "pkcs12",
            "-in",
            &file.to_string_lossy(),
            "-passin",
            "pass:export pass 1",
            "-nodes",
        ],
    );
    assert_eq!(der_of(opened.as_bytes()), cert_der);
    assert!(opened.contains("PRIVATE KEY"), "the key is in the export");

    // A request: key made on the appliance, the CSR shown and listed as pending.
    b.type_into("#request-names", "appliance.example.test\n127.0.0.1")
        .unwrap();
    b.click("#request-key option[value='rsa-2048']").unwrap();
    b.click("#request").unwrap();
    b.wait_for_text("#csr-made", T).unwrap();
    let source = b.source().unwrap();
    assert!(
        source.contains("BEGIN CERTIFICATE REQUEST"),
        "the CSR is shown"
    );
    assert!(b.exists("#pending-requests"));
    let pending = b.text("#pending-requests").unwrap();
    assert!(pending.contains("rsa-2048"), "{pending}");

    // TLS settings: TLS 1.3 only, HSTS off; saved and served as the API says.
    b.click("#tls-min option[value='1.3']").unwrap();
    b.click("#tls-hsts").unwrap();
    b.click("#tls-save").unwrap();
    let notice = b
        .wait_for_text_with("#notice", "TLS settings saved", T)
        .unwrap();
    assert!(notice.contains("TLS settings saved"), "{notice}");
    // 127.0.0.1 serves the imported certificate now: not the pin `DevDaemon::call` keeps.
    let auth = format!("Bearer {token}");
    let r = https::request(
        d.https,
        "GET",
        "/api/v1/certificates/settings",
        &[("Authorization", auth.as_str())],
        b"",
        &Trust::Any,
        T,
    )
    .unwrap();
    assert_eq!(
        r.value(),
        serde_json::json!({"min_tls_version": "1.3", "hsts": false})
    );

    // In French, with a French refusal.
    b.goto(&format!("{base}/appliance/certificates?lang=fr"))
        .unwrap();
    let title = b.text("h1").unwrap();
    assert_eq!(title, "Sécurité :: Certificats");
    b.choose_file("#import-file", &work.join("cert.p12"))
        .unwrap();
    b.type_into("#import-password", "pas le mot de passe")
        .unwrap();
    b.type_into("#import-current", "browser-certs-1").unwrap();
    b.click("#import").unwrap();
    let error = b.wait_for_text("#error", T).unwrap();
    assert_eq!(
        error,
        "Le certificat n'a pas été importé : le mot de passe est incorrect"
    );
    let _ = std::fs::remove_dir_all(&work);
}
