//! Settings backup and restore against the daemon binary in dev mode, as the upgrade guide
//! uses them: back up appliance A with a password, restore on appliance B (its policy,
//! time servers, accounts and certificate become A's; its own appliance id stays), and
//! the refusals (wrong password, damaged file, no password) change nothing; and a backup
//! opened by hand with tar and the age tool.
// Unsafe code: pre_exec (setsid, TIOCSCTTY) to give the age tool a terminal to read the
// password from.
#![allow(unsafe_code)]

use appliance_tests::dev::{state_dir, DevDaemon};
use appliance_tests::https;
use appliance_tests::Api;
use std::path::Path;
use std::time::Duration;

const POLICY: &str = r#"{"max_failed_logins":4,"lockout_seconds":60,"session_idle_seconds":900,"session_max_seconds":7200}"#;

fn start(state: &Path) -> DevDaemon {
    DevDaemon::start(
        Path::new(env!("CARGO_BIN_EXE_appliance-daemon")),
        state,
        false,
        &[("APPLIANCE_SLOT", "A"), ("APPLIANCE_PROFILE", "box")],
    )
}

fn upload(d: &DevDaemon, token: &str, password: Option<&str>, file: &[u8]) -> https::Response {
    let auth = format!("Bearer {token}");
    let mut headers = vec![("Authorization", auth.as_str())];
    if let Some(p) = password {
        headers.push(("X-Password", p));
    }
    https::request(
        d.https,
        "POST",
        "/api/v1/backup/restore",
        &headers,
        file,
        &d.trust(),
        Duration::from_secs(120),
    )
    .expect("restore request")
}

/// Run `command` in `dir`; panics with its output unless it succeeds.
fn run(dir: &Path, command: &mut std::process::Command, input: Option<&str>) -> String {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = command
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    if let Some(text) = input {
        stdin.write_all(text.as_bytes()).unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{command:?}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn a_backup_of_one_appliance_restores_on_another() {
    let a_state = state_dir("backup-a");
    let a = start(&a_state);
    let a_token = a.first_login("password-of-a-1");
    let r = a.call(
        "PUT",
        "/api/v1/security/policy",
        Some(&a_token),
        Some(POLICY),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = a.call(
        "PUT",
        "/api/v1/time",
        Some(&a_token),
        Some(r#"{"servers":["ntp.example.net"]}"#),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let a_pin =
        a.call("GET", "/api/v1/tls", Some(&a_token), None).value()["certificate_sha256"].clone();
    // Network settings on the dev-mode NICs every dev-mode daemon shows.
    let network = serde_json::json!({
        "hostname": "moved.example.com",
        "interfaces": [
            {"mac": "52:54:00:12:34:56", "up": true, "dhcp": false, "addresses": ["192.168.1.10/24"]},
            {"mac": "52:54:00:12:34:57", "up": true, "dhcp": true, "addresses": []}
        ],
        "gateways": ["192.168.1.1"]
    });
    let r = a.call(
        "PUT",
        "/api/v1/network",
        Some(&a_token),
        Some(&network.to_string()),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = a.call("POST", "/api/v1/network/confirm", Some(&a_token), None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // Admin signs in with a TOTP: its secret travels with the account.
    let r = a.call("POST", "/api/v1/account/totp", Some(&a_token), None);
    let totp_secret = r.value()["secret"].as_str().unwrap().to_string();
    let r = a.call(
        "POST",
        "/api/v1/account/totp/confirm",
        Some(&a_token),
        Some(&format!(
            r#"{{"code":"{}"}}"#,
            totp(&totp_secret, now_step())
        )),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));

    // Refused: no password worth the private keys it carries.
    let r = a.call(
        "POST",
        "/api/v1/backup",
        Some(&a_token),
        Some(r#"{"password":"short"}"#),
    );
    assert_eq!(
        (r.status, r.value()["error"].clone()),
        (422, "weak_password".into())
    );
    let r = a.call(
        "POST",
        "/api/v1/backup",
        Some(&a_token),
        Some(r#"{"password":"backup password 1","include_history":true}"#),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let disposition = r
        .header("content-disposition")
        .unwrap_or_default()
        .to_string();
    assert!(disposition.contains("-box-"), "{disposition}");
    let file = r.body.clone();
    assert!(file.len() > 1024);
    assert!(
        !String::from_utf8_lossy(&file).contains(&totp_secret),
        "the TOTP secret is inside the encryption"
    );
    // Written on data, sent, then removed.
    std::thread::sleep(Duration::from_millis(200));
    let work = a_state.join("backup-work");
    assert!(!work.exists() || work.read_dir().unwrap().next().is_none());
    drop(a);

    let b_state = state_dir("backup-b");
    let b = start(&b_state);
    let b_token = b.first_login("password-of-b-1");
    let b_id = b
        .call("GET", "/api/v1/status", Some(&b_token), None)
        .value()["appliance_id"]
        .clone();
    let policy_before = b
        .call("GET", "/api/v1/security/policy", Some(&b_token), None)
        .value();

    // Refusals change nothing.
    let r = upload(&b, &b_token, None, &file);
    assert_eq!(
        (r.status, r.value()["error"].clone()),
        (400, "password_required".into())
    );
    let r = upload(&b, &b_token, Some("not the password"), &file);
    assert_eq!(
        (r.status, r.value()["error"].clone()),
        (422, "wrong_password".into())
    );
    let r = upload(
        &b,
        &b_token,
        Some("backup password 1"),
        &file[..file.len() / 2],
    );
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    let r = upload(&b, &b_token, Some("backup password 1"), b"not a backup");
    assert_eq!(
        (r.status, r.value()["error"].clone()),
        (422, "not_a_backup".into())
    );
    assert_eq!(
        b.call("GET", "/api/v1/security/policy", Some(&b_token), None)
            .value(),
        policy_before
    );

    // The right password: A's service part on B, B's identity kept, the session too
    // (its account, admin, is in the backup).
    let r = upload(&b, &b_token, Some("backup password 1"), &file);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let answer = r.value();
    assert_eq!(answer["session"], "kept");
    assert_eq!(answer["restored_from"]["profile"], "box");
    assert_eq!(answer["not_reloaded"], serde_json::json!([]));
    let report: api_types::RestoreReport = serde_json::from_slice(&r.body).unwrap();
    assert!(report
        .restored
        .iter()
        .any(|w| w == "accounts and passwords"));
    assert!(report.directories.iter().any(|d| d == "tls"));
    assert!(report
        .left_out
        .iter()
        .any(|l| l.what == "appliance id" && !l.why.is_empty()));
    assert_eq!(report.certificate.state, "restored");
    assert_eq!(report.restored_from.extras, vec!["network", "history"]);
    assert_eq!(report.network.state, "restored", "{:?}", report.network);
    assert_eq!(report.network.hostname, "moved.example.com");
    let history = report
        .history
        .clone()
        .unwrap_or_else(|| panic!("{}", String::from_utf8_lossy(&r.body)));
    assert!(history.added >= 4, "{history:?}");
    let v = b
        .call("GET", "/api/v1/network", Some(&b_token), None)
        .value();
    assert_eq!(v["config"]["hostname"], "moved.example.com");
    assert_eq!(v["factory_default"], false);
    assert_eq!(
        v["config"]["interfaces"][0]["addresses"][0],
        "192.168.1.10/24"
    );
    assert_eq!(
        serde_json::Value::from(report.certificate.certificate_sha256.clone()),
        a_pin,
        "the report names the served certificate"
    );
    let policy = b
        .call("GET", "/api/v1/security/policy", Some(&b_token), None)
        .value();
    assert_eq!(policy["max_failed_logins"], 4);
    let time = b.call("GET", "/api/v1/time", Some(&b_token), None).value();
    assert_eq!(time["servers"], serde_json::json!(["ntp.example.net"]));
    let tls = b.call("GET", "/api/v1/tls", Some(&b_token), None).value();
    assert_eq!(tls["certificate_sha256"], a_pin, "B serves A's certificate");
    let status = b
        .call("GET", "/api/v1/status", Some(&b_token), None)
        .value();
    assert_eq!(
        status["appliance_id"], b_id,
        "the appliance id is the machine's"
    );
    // A's admin password now opens B, with a code of A's TOTP.
    let r = b.login("password-of-a-1");
    assert_eq!(
        (r.status, r.value()["error"].clone()),
        (401, "totp_required".into())
    );
    let r = b.call(
        "POST",
        "/api/v1/session",
        None,
        Some(
            &serde_json::json!({"username": "admin", "password": "password-of-a-1",
                                "totp": totp(&totp_secret, now_step())})
            .to_string(),
        ),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(b.login("password-of-b-1").status, 401);
    let audit = b.call("GET", "/api/v1/audit", Some(&b_token), None);
    let audit = String::from_utf8_lossy(&audit.body).into_owned();
    assert!(audit.contains("backup.restored"));
    // A's history, marked as A's.
    assert!(audit.contains("network.confirm"), "{audit}");
    assert!(audit.contains("restored_from"), "{audit}");
}

/// RFC 6238 TOTP (HMAC-SHA1, 30 s, 6 digits) of a base32 secret at time step `step`.
fn totp(secret: &str, step: u64) -> String {
    let key = data_encoding::BASE32_NOPAD
        .decode(secret.as_bytes())
        .unwrap();
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

/// `age -d FILE` with `password` typed on its terminal (age reads a passphrase from a
/// terminal only: `script`, of util-linux, gives it one): the decrypted bytes.
fn age_decrypt(file: &Path, password: &str) -> Vec<u8> {
    let dir = file.parent().unwrap();
    let name = file.file_name().unwrap().to_string_lossy();
    run(
        dir,
        std::process::Command::new("script").args([
            "-qec",
            &format!("age -d -o decrypted.out {name}"),
            "/dev/null",
        ]),
        Some(&format!("{password}\n")),
    );
    let out = std::fs::read(dir.join("decrypted.out")).unwrap();
    std::fs::remove_file(dir.join("decrypted.out")).unwrap();
    out
}

#[test]
fn a_backup_opens_by_hand_with_tar_and_age() {
    let state = state_dir("backup-by-hand");
    let d = start(&state);
    let token = d.first_login("password-by-hand-1");
    let r = d.call(
        "POST",
        "/api/v1/backup",
        Some(&token),
        Some(r#"{"password":"backup password 1","include_history":true}"#),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let dir = state.join("by-hand");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("a.backup");
    std::fs::write(&file, &r.body).unwrap();

    // tar -xf: backup.json in clear, settings.tar.age sealed.
    run(
        &dir,
        std::process::Command::new("tar").arg("-xf").arg(&file),
        None,
    );
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("backup.json")).unwrap()).unwrap();
    assert_eq!(info["profile"], "box");
    assert_eq!(info["extras"], serde_json::json!(["network", "history"]));

    // age -d with the password: the snapshot, a tar whose entries tar lists.
    let snapshot = age_decrypt(&dir.join("settings.tar.age"), "backup password 1");
    std::fs::write(dir.join("settings.tar"), &snapshot).unwrap();
    let listing = run(
        &dir,
        std::process::Command::new("tar")
            .arg("-tf")
            .arg(dir.join("settings.tar")),
        None,
    );
    for entry in [
        "snapshot.json",
        "records/accounts.json",
        "extras/network.json",
        "extras/history.jsonl",
        "files/tls/key.pem",
        "end.json",
    ] {
        assert!(listing.lines().any(|l| l == entry), "{entry} in\n{listing}");
    }
}
