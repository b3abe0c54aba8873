//! The persistent log and the support bundle against the daemon binary in dev mode (its
//! own lines go into the log in its state directory, as init puts them there on the
//! appliance): lines from before a restart read after it, the filters and pages of
//! `GET /api/v1/logs`, the text download, the Logs page in English and French; the
//! support bundle unpacked with `tar --zstd` and searched for every secret the test made
//! (the admin password, a certificate's private key, the inter-appliance key, a backup
//! password, a TOTP secret and a recovery code): none is there.

use appliance_tests::dev::{state_dir, DevDaemon};
use appliance_tests::https::{self, Trust};
use appliance_tests::openssl::openssl;
use appliance_tests::Api;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

const PASSWORD: &str = "Log-reader 2026 pass";
const TIMEOUT: Duration = Duration::from_secs(60);

fn start(state: &Path) -> DevDaemon {
    DevDaemon::start(
        Path::new(env!("CARGO_BIN_EXE_appliance-daemon")),
        state,
        false,
        &[("APPLIANCE_SLOT", "A"), ("APPLIANCE_PROFILE", "box")],
    )
}

fn get(d: &DevDaemon, token: &str, path: &str) -> (u16, Value) {
    let r = d.call("GET", path, Some(token), None);
    let v = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    (r.status, v)
}

fn messages(v: &Value) -> Vec<String> {
    v["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn lines_from_before_a_restart_are_read_after_it_with_filters_and_pages() {
    let state = state_dir("logs");
    let first_boot_marker;
    {
        let d = start(&state);
        let token = d.first_login(PASSWORD);
        let (status, v) = get(&d, &token, "/api/v1/logs");
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["boots"].as_array().unwrap().len(), 1);
        let msgs = messages(&v);
        first_boot_marker = msgs
            .iter()
            .find(|m| m.contains("serving HTTPS"))
            .cloned()
            .expect("the daemon's start in the log");
        assert!(v["lines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["service"] == "appliance-daemon" && l["boot"] == 1));
        // Without a session: refused.
        assert_eq!(d.call("GET", "/api/v1/logs", None, None).status, 401);
    }
    let d = start(&state);
    let token = d.token(PASSWORD);
    // The previous boot, counted back and by number: its lines are still there.
    for boot in ["-1", "1"] {
        let (status, v) = get(&d, &token, &format!("/api/v1/logs?boot={boot}"));
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["boot"], 1);
        assert!(messages(&v).contains(&first_boot_marker), "{v}");
        assert!(v["lines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["boot"] == 1));
    }
    let (_, now) = get(&d, &token, "/api/v1/logs?boot=0");
    assert_eq!(now["boot"], 2);
    assert!(!messages(&now).contains(&first_boot_marker));
    assert_eq!(now["boots"].as_array().unwrap().len(), 2);
    assert_eq!(now["boots"][1]["current"], true);
    // Newest first across both boots.
    let (_, all) = get(&d, &token, "/api/v1/logs?limit=5000");
    let boots: Vec<u64> = all["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["boot"].as_u64().unwrap())
        .collect();
    assert!(boots.windows(2).all(|w| w[0] >= w[1]), "{boots:?}");
    assert_eq!((boots[0], *boots.last().unwrap()), (2, 1));
    // Filters: a service with no lines here, a level.
    let (_, none) = get(&d, &token, "/api/v1/logs?service=ntpd");
    assert_eq!(none["lines"].as_array().unwrap().len(), 0);
    let (_, svc) = get(&d, &token, "/api/v1/logs?service=appliance-daemon&limit=3");
    assert_eq!(svc["lines"].as_array().unwrap().len(), 3);
    let (_, info) = get(&d, &token, "/api/v1/logs?level=info&limit=5000");
    let (_, warn) = get(&d, &token, "/api/v1/logs?level=error");
    assert!(warn["lines"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["level"] == "error"));
    assert!(!info["lines"].as_array().unwrap().is_empty());
    // Pages: two pages of 4 are the first 8 lines, none twice.
    let (_, p1) = get(&d, &token, "/api/v1/logs?limit=4");
    let next = p1["next"].as_str().unwrap().to_string();
    let (_, p2) = get(&d, &token, &format!("/api/v1/logs?limit=4&before={next}"));
    let (_, p8) = get(&d, &token, "/api/v1/logs?limit=8");
    let mut paged = messages(&p1);
    paged.extend(messages(&p2));
    assert_eq!(paged, messages(&p8));
    // Following: only lines after the head.
    let head = p8["head"].as_str().unwrap().to_string();
    let (_, newer) = get(&d, &token, &format!("/api/v1/logs?after={head}"));
    let before_head: Vec<String> = messages(&p8);
    for m in messages(&newer) {
        assert!(!before_head.contains(&m) || m.is_empty());
    }
    // Refusals say what is wrong.
    let (status, bad) = get(&d, &token, "/api/v1/logs?level=loud");
    assert_eq!(status, 422);
    assert_eq!(bad["error"], "invalid_filter");
    assert!(bad["message"].as_str().unwrap().contains("\"loud\""));
    let (status, _) = get(&d, &token, "/api/v1/logs?boot=yesterday");
    assert_eq!(status, 422);
    // The download: text, oldest first, both boots.
    let r = d.call("GET", "/api/v1/logs?format=text", Some(&token), None);
    assert_eq!(r.status, 200);
    let disposition = r.header("content-disposition").unwrap_or_default();
    assert!(disposition.contains("appliance-log-"), "{disposition}");
    let text = String::from_utf8_lossy(&r.body);
    let first = text
        .find(&first_boot_marker)
        .expect("boot 1 in the download");
    assert!(text[..first].lines().all(|l| l.contains(" boot 1 ")));
    assert!(text.lines().last().unwrap().contains(" boot 2 "));
    // The Logs page, in English and in French.
    let page = d.web_page(PASSWORD, "/appliance/logs?boot=-1");
    assert!(page.contains("id=\"log-lines\""), "{page}");
    assert!(page.contains(&html_escape(&first_boot_marker)));
    assert!(page.contains("id=\"support-bundle\""));
    let fr = d.web_page(PASSWORD, "/appliance/logs?lang=fr");
    assert!(fr.contains("<h1>Journaux</h1>"), "{fr}");
    assert!(fr.contains("Télécharger le paquet de support"));
    drop(d);
    let _ = std::fs::remove_dir_all(&state);
}

/// The RFC 6238 code (HMAC-SHA1, 30 s, 6 digits) of a base32 secret, now.
fn totp_now(secret: &str) -> String {
    let key = data_encoding::BASE32_NOPAD
        .decode(secret.as_bytes())
        .unwrap();
    let step = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 30;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &key);
    let mac = ring::hmac::sign(&key, &step.to_be_bytes());
    let mac = mac.as_ref();
    let at = usize::from(mac[19] & 0x0f);
    let n = u32::from_be_bytes([mac[at], mac[at + 1], mac[at + 2], mac[at + 3]]) & 0x7fff_ffff;
    format!("{:06}", n % 1_000_000)
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

#[test]
fn the_support_bundle_holds_no_secret() {
    let state = state_dir("bundle");
    let d = start(&state);
    let token = d.first_login(PASSWORD);
    let mut secrets: Vec<String> = vec![PASSWORD.to_string()];

    // A certificate with its private key.
    let work = state.join("work");
    std::fs::create_dir_all(&work).unwrap();
    openssl(
        &work,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "k.pem",
            "-out",
            "c.pem",
            "-days",
            "30",
            "-subj",
            "/CN=bundle.example",
        ],
    );
    let key_pem = std::fs::read_to_string(work.join("k.pem")).unwrap();
    let body = [
        std::fs::read(work.join("c.pem")).unwrap(),
        key_pem.clone().into_bytes(),
    ]
    .concat();
    let r = https::request(
        d.https,
        "POST",
        "/api/v1/certificates/import",
        &[
            ("Authorization", &format!("Bearer {token}")),
            ("X-Current-Password", PASSWORD),
        ],
        &body,
        &Trust::Any,
        TIMEOUT,
    )
    .unwrap();
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    // Every base64 line of the key's body (each is 64 characters of the key itself).
    secrets.extend(
        key_pem
            .lines()
            .filter(|l| !l.starts_with("-----") && l.len() >= 40)
            .map(str::to_string),
    );

    // The inter-appliance key, as shown once and as stored (without its dashes).
    let r = d.call(
        "PUT",
        "/api/v1/failover/key",
        Some(&token),
        Some(&json!({"generate": true}).to_string()),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let key = r.value()["key"].as_str().unwrap().to_string();
    secrets.push(key.clone());
    secrets.push(key.replace('-', ""));
    secrets.push(key.replace('-', "").to_ascii_lowercase());

    // A scheduled backup's password.
    let backup_password = "Backup-secret 77 zebra";
    let r = d.call(
        "PUT",
        "/api/v1/backup/schedule",
        Some(&token),
        Some(
            &json!({"enabled": false, "frequency": "daily", "time": "02:00", "retention": 3,
                    "password": backup_password, "destination": null})
            .to_string(),
        ),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    secrets.push(backup_password.to_string());

    // A TOTP secret and its recovery codes, confirmed with a code computed here.
    let r = d.call("POST", "/api/v1/account/totp", Some(&token), None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let totp_secret = r.value()["secret"].as_str().unwrap().to_string();
    let r = d.call(
        "POST",
        "/api/v1/account/totp/confirm",
        Some(&token),
        Some(&json!({"code": totp_now(&totp_secret)}).to_string()),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let recovery: Vec<String> = r.value()["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    secrets.push(totp_secret.clone());
    secrets.push(recovery[0].clone());
    secrets.push(recovery[0].replace('-', ""));

    // The bundle, unpacked by the real tar with zstd.
    let r = d.call("GET", "/api/v1/support/bundle", Some(&token), None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("application/zstd"));
    println!("support bundle: {} bytes", r.body.len());
    let out = state.join("unpacked");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(state.join("bundle.tar.zst"), &r.body).unwrap();
    let st = std::process::Command::new("tar")
        .args(["--zstd", "-xf"])
        .arg(state.join("bundle.tar.zst"))
        .arg("-C")
        .arg(&out)
        .status()
        .expect("tar");
    assert!(st.success());
    for name in [
        "README.txt",
        "status.json",
        "settings.json",
        "audit.json",
        "boot/grubenv.txt",
        "boot/timings.txt",
        "dmesg.txt",
        "log/boots",
    ] {
        assert!(out.join(name).is_file(), "{name} missing from the bundle");
    }
    let settings: Value =
        serde_json::from_slice(&std::fs::read(out.join("settings.json")).unwrap()).unwrap();
    assert_eq!(settings["accounts"]["users"][0]["name"], "admin");
    assert_eq!(
        settings["accounts"]["users"][0]["password_hash"],
        "<redacted>"
    );
    assert_eq!(settings["failover"]["key"], "<redacted>");
    assert_eq!(settings["accounts"]["users"][0]["totp"], "<redacted>");
    let status: Value =
        serde_json::from_slice(&std::fs::read(out.join("status.json")).unwrap()).unwrap();
    assert!(status.is_object());
    let grubenv = std::fs::read_to_string(out.join("boot/grubenv.txt")).unwrap();
    assert!(grubenv.contains("ORDER="), "{grubenv}");

    // Every byte of every file, searched for every secret (and for any argon2 hash or
    // PEM private key at all).
    let mut files = Vec::new();
    walk(&out, &mut files);
    assert!(files.len() >= 9, "{files:?}");
    let mut searched = 0;
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "{s:?} found in {}", f.display());
        }
        for s in ["$argon2", "PRIVATE KEY"] {
            assert!(!text.contains(s), "{s:?} found in {}", f.display());
        }
        searched += bytes.len();
    }
    println!(
        "searched {searched} bytes in {} files for {} secrets: none found",
        files.len(),
        secrets.len()
    );
    // The download is in the audit log, with who asked.
    let (_, audit) = get(&d, &token, "/api/v1/audit");
    let entry = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "support.bundle")
        .cloned()
        .expect("support.bundle audited");
    assert_eq!(entry["actor"], "admin");
    // Without a session: refused.
    assert_eq!(
        d.call("GET", "/api/v1/support/bundle", None, None).status,
        401
    );
    drop(d);
    let _ = std::fs::remove_dir_all(&state);
}

fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}
