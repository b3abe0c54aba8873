//! Scheduled backups against the daemon binary in dev mode: the schedule refused when a
//! field is wrong and never shown with its password; "run now" keeps a backup on data
//! that restores with the password (tests/backup.rs opens one with the `age` tool), the retention count
//! removing the oldest; pushes to an HTTPS upload endpoint made here (its certificate
//! pinned) and to a real OpenSSH server (Debian's openssh-server, on loopback, the
//! appliance's key in its authorized_keys) receive the exact file; a wrong certificate, a
//! wrong host key and an unreachable server are reported on Status and in the audit log
//! with the copy on data kept.

use appliance_tests::dev::{state_dir, DevDaemon};
use appliance_tests::Api;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod update_server;

const PASSWORD: &str = "schedule password 1";

fn start(tag: &str) -> (DevDaemon, String) {
    let state = state_dir(tag);
    let d = DevDaemon::start(
        Path::new(env!("CARGO_BIN_EXE_appliance-daemon")),
        &state,
        false,
        &[("APPLIANCE_SLOT", "A"), ("APPLIANCE_PROFILE", "vm")],
    );
    let token = d.first_login("admin password 1");
    (d, token)
}

/// A time of day an hour ago (UTC): the schedule set now does not run by itself for
/// about a day, so only the runs a test asks for happen.
fn an_hour_ago() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let minute = (now + 86_400 - 3600) % 86_400 / 60;
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

fn schedule(retention: u32, destination: Value) -> String {
    json!({
        "enabled": true,
        "frequency": "daily",
        "time": an_hour_ago(),
        "retention": retention,
        "password": PASSWORD,
        "destination": destination,
    })
    .to_string()
}

fn put_schedule(d: &DevDaemon, token: &str, body: &str) -> Value {
    let r = d.call("PUT", "/api/v1/backup/schedule", Some(token), Some(body));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(
        !String::from_utf8_lossy(&r.body).contains(PASSWORD),
        "the password is never returned"
    );
    r.value()
}

fn run_now(d: &DevDaemon, token: &str) -> Value {
    let r = d.call("POST", "/api/v1/backup/schedule/run", Some(token), None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.value()
}

/// No secret in the daemon's log so far.
fn log_keeps_secrets(d: &DevDaemon, secrets: &[&str]) {
    let lines: Vec<String> = d.log.try_iter().collect();
    assert!(
        lines.iter().any(|l| l.contains("scheduled backup")),
        "the runs are logged"
    );
    for line in lines {
        for secret in secrets {
            assert!(!line.contains(secret), "a secret in the log: {line}");
        }
    }
}

fn audit(d: &DevDaemon, token: &str) -> String {
    String::from_utf8_lossy(&d.call("GET", "/api/v1/audit", Some(token), None).body).into_owned()
}

fn stored_names(d: &DevDaemon, token: &str) -> Vec<String> {
    let r = d.call("GET", "/api/v1/backup/stored", Some(token), None);
    assert_eq!(r.status, 200);
    r.value()
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

fn kept_file(d: &DevDaemon, name: &str) -> Vec<u8> {
    std::fs::read(d.state.join("backups").join(name)).expect("the backup kept on data")
}

/// The failure of the last run as Status shows it (Status is gathered at most once a
/// second: asked again until it shows `expected`, for up to three seconds).
fn status_push_error(d: &DevDaemon, token: &str, expected: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    loop {
        let status = d.call("GET", "/api/v1/status", Some(token), None).value();
        assert_eq!(status["scheduled_backup"]["enabled"], true);
        assert!(status["scheduled_backup"]["next_run"].as_u64().is_some());
        let shown = status["scheduled_backup"]["last"]["push_error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if shown == expected || std::time::Instant::now() > deadline {
            return shown;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn run_now_keeps_backups_that_restore_and_the_oldest_go() {
    let (d, token) = start("sched-keep");
    let before = d
        .call("GET", "/api/v1/backup/schedule", Some(&token), None)
        .value();
    assert_eq!(before["password_set"], false);
    assert_eq!(before["enabled"], false);
    let key = before["sftp_public_key"].as_str().unwrap();
    assert!(key.starts_with("ssh-ed25519 AAAA"), "{key}");

    // Refusals store nothing.
    let good = json!({"enabled":true,"frequency":"daily","time":"02:00","retention":3,"password":PASSWORD});
    let mut bad = Vec::new();
    for (field, value) in [
        ("time", json!("25:00")),
        ("retention", json!(0)),
        ("retention", json!(101)),
        ("password", json!("short")),
        ("frequency", json!("hourly")),
    ] {
        let mut body = good.clone();
        body[field] = value;
        bad.push((field, body));
    }
    let mut body = good.clone();
    body["destination"] = json!({"type":"https","url":"ftp://x/"});
    bad.push(("url", body));
    let mut body = good.clone();
    body["destination"] = json!({"type":"sftp","host":"h","port":0,"user":"u","host_key":key});
    bad.push(("port", body));
    let mut body = good.clone();
    body["destination"] =
        json!({"type":"sftp","host":"h","user":"u","host_key":"ssh-ed25519 nonsense"});
    bad.push(("host_key", body));
    for (field, body) in bad {
        let r = d.call(
            "PUT",
            "/api/v1/backup/schedule",
            Some(&token),
            Some(&body.to_string()),
        );
        let answer = r.value();
        assert_eq!(r.status, 422, "{field}: {answer}");
        assert_eq!(answer["error"], "invalid_backup_schedule");
        assert!(
            answer["message"].as_str().unwrap().contains(field),
            "{field}: {answer}"
        );
    }
    let after = d
        .call("GET", "/api/v1/backup/schedule", Some(&token), None)
        .value();
    assert_eq!(after, before, "nothing was stored");
    // No password yet: nothing to run.
    let r = d.call("POST", "/api/v1/backup/schedule/run", Some(&token), None);
    assert_eq!(
        (r.status, r.value()["error"].clone()),
        (409, "no_backup_password".into())
    );

    let view = put_schedule(&d, &token, &schedule(2, Value::Null));
    assert_eq!(view["password_set"], true);
    assert_eq!(view["retention"], 2);

    let mut runs = Vec::new();
    for _ in 0..3 {
        let run = run_now(&d, &token);
        assert_eq!(run["error"], Value::Null, "{run}");
        assert_eq!(run["pushed"], false);
        runs.push(run);
    }
    let names: Vec<String> = runs
        .iter()
        .map(|r| r["file"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(runs[0]["removed"], json!([]));
    assert_eq!(runs[1]["removed"], json!([]));
    assert_eq!(runs[2]["removed"], json!([names[0]]), "the oldest went");
    let mut kept = stored_names(&d, &token);
    kept.sort();
    let mut expected = vec![names[1].clone(), names[2].clone()];
    expected.sort();
    assert_eq!(kept, expected);
    assert!(audit(&d, &token).contains("backup.scheduled"));

    // The download is the kept file, and it restores with the schedule's password.
    let r = d.call(
        "GET",
        &format!("/api/v1/backup/stored/{}", names[2]),
        Some(&token),
        None,
    );
    assert_eq!(r.status, 200);
    let file = r.body.clone();
    assert_eq!(file, kept_file(&d, &names[2]));
    assert_eq!(
        runs[2]["size"].as_u64(),
        Some(file.len() as u64),
        "{}",
        runs[2]
    );
    let r = d.call(
        "GET",
        "/api/v1/backup/stored/..%2Fsettings.redb",
        Some(&token),
        None,
    );
    assert_eq!(r.status, 404);
    let auth = format!("Bearer {token}");
    let r = appliance_tests::https::request(
        d.https,
        "POST",
        "/api/v1/backup/restore",
        &[("Authorization", &auth), ("X-Password", PASSWORD)],
        &file,
        &d.trust(),
        Duration::from_secs(120),
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(
        r.value()["records"]
            .as_array()
            .unwrap()
            .contains(&json!("backup_schedule")),
        "the schedule is the service's: {}",
        r.value()
    );
    log_keeps_secrets(&d, &[PASSWORD]);
}

/// What the upload endpoint received: (path, authorization, body).
type Uploads = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

/// An HTTPS server on loopback with a self-signed certificate, answering every PUT with
/// 201 and keeping what came; the SHA-256 of its public key to pin.
fn upload_endpoint() -> (SocketAddr, String, Uploads) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let pin = appliancectl::format_fingerprint(&appliancectl::tls::fingerprint(cert.der()));
    let tls = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap(),
    );
    let uploads: Uploads = Arc::default();
    let kept = Arc::clone(&uploads);
    let addr = update_server::serve_https(tls, move |req| {
        let kept = Arc::clone(&kept);
        async move {
            let path = req.uri().path().to_string();
            let auth = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let put = req.method() == hyper::Method::PUT;
            let body = axum::body::to_bytes(axum::body::Body::new(req.into_body()), usize::MAX)
                .await
                .unwrap_or_default();
            if put {
                kept.lock().unwrap().push((path, auth, body.to_vec()));
            }
            hyper::Response::builder()
                .status(if put { 201 } else { 405 })
                .body(axum::body::Body::empty())
                .unwrap()
        }
    });
    (addr, pin, uploads)
}

#[test]
fn a_backup_is_pushed_to_an_https_endpoint_with_its_pinned_key() {
    let (d, token) = start("sched-https");
    let (addr, pin, uploads) = upload_endpoint();
    let url = format!("https://{addr}/upload");
    let view = put_schedule(
        &d,
        &token,
        &schedule(
            5,
            json!({"type":"https","url":url,"auth":"bearer","token":"push-token-1","pin_sha256":pin}),
        ),
    );
    assert_eq!(view["destination"]["token_set"], true);
    assert!(!view.to_string().contains("push-token-1"));
    let run = run_now(&d, &token);
    assert_eq!(run["pushed"], true, "{run}");
    let name = run["file"].as_str().unwrap();
    let got = uploads.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, format!("/upload/{name}"));
    assert_eq!(got[0].1, "Bearer push-token-1");
    assert!(got[0].2 == kept_file(&d, name), "the exact bytes arrived");

    // Another key than the pinned one: nothing sent, the copy kept, the reason shown.
    let other = "11".repeat(32);
    put_schedule(
        &d,
        &token,
        &schedule(
            5,
            json!({"type":"https","url":url,"auth":"bearer","pin_sha256":other}),
        ),
    );
    let run = run_now(&d, &token);
    assert_eq!(run["pushed"], false);
    let reason = run["push_error"].as_str().unwrap();
    assert!(reason.contains("not the one pinned"), "{reason}");
    assert_eq!(uploads.lock().unwrap().len(), 1, "nothing more arrived");
    assert_eq!(status_push_error(&d, &token, reason), reason);
    let name = run["file"].as_str().unwrap();
    assert!(stored_names(&d, &token).contains(&name.to_string()));
    let log = audit(&d, &token);
    assert!(log.contains("backup.push_failed"), "{log}");
    assert!(!log.contains("push-token-1") && !log.contains(PASSWORD));
    log_keeps_secrets(&d, &[PASSWORD, "push-token-1"]);
}

/// Debian's OpenSSH server on a loopback port, for the user running the test, with its
/// own host key and `authorized` as the only key admitted.
struct Sshd {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn ssh_keygen(path: &Path) -> String {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen (Debian's openssh-client)")
        .success();
    assert!(ok);
    std::fs::read_to_string(path.with_extension("pub")).unwrap()
}

impl Sshd {
    fn start(dir: &Path, authorized: &str) -> Sshd {
        let sshd = Path::new("/usr/sbin/sshd");
        assert!(
            sshd.exists(),
            "/usr/sbin/sshd is missing: install Debian's package openssh-server"
        );
        std::fs::create_dir_all(dir).unwrap();
        let host_key = dir.join("host_key");
        ssh_keygen(&host_key);
        std::fs::write(dir.join("authorized_keys"), format!("{authorized}\n")).unwrap();
        // sshd started as root wants its privilege-separation directory.
        if nix_is_root() {
            std::fs::create_dir_all("/run/sshd").unwrap();
        }
        let port = free_port();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\n\
                 AuthorizedKeysFile {}\nStrictModes no\nUsePAM no\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PubkeyAuthentication yes\nPermitRootLogin prohibit-password\n\
                 Subsystem sftp internal-sftp\nLogLevel VERBOSE\n",
                host_key.display(),
                dir.join("sshd.pid").display(),
                dir.join("authorized_keys").display(),
            ),
        )
        .unwrap();
        let child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .spawn()
            .expect("start sshd");
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "sshd did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Sshd {
            child,
            port,
            dir: dir.to_path_buf(),
        }
    }

    fn host_key(&self) -> String {
        std::fs::read_to_string(self.dir.join("host_key.pub")).unwrap()
    }
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

fn user_name() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn a_backup_is_pushed_to_an_sftp_server_that_knows_the_appliance() {
    let (d, token) = start("sched-sftp");
    let key = d
        .call("GET", "/api/v1/backup/schedule", Some(&token), None)
        .value()["sftp_public_key"]
        .as_str()
        .unwrap()
        .to_string();
    let sshd = Sshd::start(&d.state.join("sshd"), &key);
    let incoming = d.state.join("sshd/incoming");
    std::fs::create_dir_all(&incoming).unwrap();
    let sftp = |port: u16, host_key: &str| {
        json!({"type":"sftp","host":"127.0.0.1","port":port,"user":user_name(),
               "directory":incoming.display().to_string(),"host_key":host_key})
    };
    let view = put_schedule(&d, &token, &schedule(5, sftp(sshd.port, &sshd.host_key())));
    assert!(view["destination"]["host_key"]
        .as_str()
        .unwrap()
        .starts_with("SHA256:"));
    let run = run_now(&d, &token);
    assert_eq!(run["pushed"], true, "{run}");
    let name = run["file"].as_str().unwrap();
    let arrived = std::fs::read(incoming.join(name)).expect("the file on the SFTP server");
    assert!(arrived == kept_file(&d, name), "the exact bytes arrived");
    assert!(
        !incoming.join(format!("{name}.part")).exists(),
        "no partial file left"
    );

    // Another host key than the pinned one: refused before signing in.
    let stranger = ssh_keygen(&d.state.join("stranger_key"));
    put_schedule(&d, &token, &schedule(5, sftp(sshd.port, &stranger)));
    let run = run_now(&d, &token);
    assert_eq!(run["pushed"], false);
    let reason = run["push_error"].as_str().unwrap().to_string();
    assert!(reason.contains("host key"), "{reason}");
    assert_eq!(status_push_error(&d, &token, &reason), reason);
    let name = run["file"].as_str().unwrap();
    assert!(!incoming.join(name).exists());
    assert!(stored_names(&d, &token).contains(&name.to_string()));
    assert!(audit(&d, &token).contains("backup.push_failed"));

    // Nothing listens there: unreachable, said so, the copy kept.
    let closed = free_port();
    put_schedule(&d, &token, &schedule(5, sftp(closed, &sshd.host_key())));
    let run = run_now(&d, &token);
    let reason = run["push_error"].as_str().unwrap().to_string();
    assert!(reason.contains("cannot reach"), "{reason}");
    assert_eq!(status_push_error(&d, &token, &reason), reason);
    let name = run["file"].as_str().unwrap();
    assert!(stored_names(&d, &token).contains(&name.to_string()));
    let log = audit(&d, &token);
    assert!(
        log.matches("backup.push_failed").count() >= 2,
        "both failures audited: {log}"
    );
}

/// The task started with the daemon runs the schedule by itself at the time set (the next
/// minute here), and Status says when it will and how it went.
#[test]
fn the_daemon_makes_the_backup_at_the_time_set() {
    let (d, token) = start("sched-timer");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let due = (now / 60 + 1) * 60;
    let minute = due % 86_400 / 60;
    let body = json!({"enabled":true,"frequency":"daily","time":format!("{:02}:{:02}", minute / 60, minute % 60),
                      "retention":3,"password":PASSWORD});
    let view = put_schedule(&d, &token, &body.to_string());
    assert_eq!(view["next_run"].as_u64(), Some(due), "{view}");
    let started = std::time::Instant::now();
    let last = loop {
        let status = d.call("GET", "/api/v1/status", Some(&token), None).value();
        let last = status["scheduled_backup"]["last"].clone();
        if !last.is_null() {
            break last;
        }
        assert!(
            started.elapsed() < Duration::from_secs(150),
            "no scheduled backup by {due}: {status}"
        );
        std::thread::sleep(Duration::from_secs(2));
    };
    assert_eq!(last["trigger"], "scheduled", "{last}");
    assert!(last["at"].as_u64().unwrap() >= due);
    assert_eq!(last["error"], Value::Null, "{last}");
    let name = last["file"].as_str().unwrap().to_string();
    assert_eq!(stored_names(&d, &token), vec![name]);
    let status = d.call("GET", "/api/v1/status", Some(&token), None).value();
    assert_eq!(
        status["scheduled_backup"]["next_run"].as_u64(),
        Some(due + 86_400),
        "tomorrow's, once today's is served"
    );
    assert!(audit(&d, &token).contains("backup.scheduled"));
}

/// Data full: the daemon runs on a 5 MiB tmpfs (its own mount namespace, made by
/// `unshare -m`, holding a copy of its state) with 1.5 MiB of site data, so one backup
/// fits and the next does not. The run fails saying so, and the kept backup stays whole.
#[test]
fn a_full_data_partition_fails_the_backup_and_keeps_the_kept_ones() {
    if !nix_is_root() {
        eprintln!("skipped: mounting a small data partition needs root");
        return;
    }
    let binary = Path::new(env!("CARGO_BIN_EXE_appliance-daemon"));
    let env = [("APPLIANCE_SLOT", "A"), ("APPLIANCE_PROFILE", "vm")];
    let state = state_dir("sched-full");
    // First start on the disk: settings, certificate and schedule.
    let d = DevDaemon::start(binary, &state, false, &env);
    let token = d.first_login("admin password 1");
    put_schedule(&d, &token, &schedule(3, Value::Null));
    drop(d);
    let blob: Vec<u8> = (0..7u32 << 18)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::create_dir_all(state.join("site")).unwrap();
    std::fs::write(state.join("site/blob"), &blob).unwrap();
    let small = state.with_extension("small");
    std::fs::create_dir_all(&small).unwrap();
    let wrapper = state.with_extension("sh");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec unshare -m sh -c 'mount -t tmpfs -o size=5m tmpfs \"$1\" && cp -a \"$2\"/. \"$1\"/ && mount --bind \"$1\" \"$2\" && shift 2 && exec \"$@\"' sh {} {} {} \"$@\"\n",
            small.display(),
            state.display(),
            binary.display()
        ),
    )
    .unwrap();
    let mut mode = std::fs::metadata(&wrapper).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut mode, 0o755);
    std::fs::set_permissions(&wrapper, mode).unwrap();
    let d = DevDaemon::start(&wrapper, &state, false, &env);
    let token = d.token("admin password 1");

    let first = run_now(&d, &token);
    assert_eq!(first["error"], Value::Null, "{first}");
    let kept = first["file"].as_str().unwrap().to_string();
    let size = first["size"].as_u64().unwrap();
    assert!(size > blob.len() as u64, "the site data is in the backup");

    let second = run_now(&d, &token);
    assert_eq!(second["file"], Value::Null, "{second}");
    let error = second["error"].as_str().unwrap();
    assert!(error.contains("data partition is full"), "{error}");
    assert!(
        error.contains("nothing was removed (1 kept backup stays)"),
        "{error}"
    );
    let status = d.call("GET", "/api/v1/status", Some(&token), None).value();
    assert_eq!(status["scheduled_backup"]["last"]["error"], error);
    assert_eq!(stored_names(&d, &token), vec![kept.clone()]);
    let r = d.call(
        "GET",
        &format!("/api/v1/backup/stored/{kept}"),
        Some(&token),
        None,
    );
    assert_eq!(r.body.len() as u64, size, "the kept backup is whole");
    assert!(audit(&d, &token).contains("data partition is full"));
}
