//! The management API on the booted virtual appliance: first login and the forced password
//! change, bad input, the web UI's login page, restart through the API (the guest really
//! comes back, the new password still works, the log of the boot before is kept), lockout, and shutdown through the API (QEMU
//! exits by itself).

use appliance_tests::devices::{Firmware, Profile};
use appliance_tests::Api;
use appliance_tests::{Machine, MachineSpec};
use std::time::Duration;

const BOOT_TIMEOUT: Duration = Duration::from_secs(300);

#[test]
fn accounts_restart_lockout_and_shutdown_through_the_api() {
    let spec = MachineSpec {
        no_reboot: false,
        ..MachineSpec::image(Profile::Vm, Firmware::Bios).unwrap()
    };
    let mut m = Machine::start(&spec).unwrap();
    let (health, t) = m.wait_for_health(BOOT_TIMEOUT).unwrap();
    m.report("boot to health", format!("{:.1}s", t.as_secs_f64()));
    assert_eq!(health.slot, "A");

    assert_eq!(m.call("GET", "/api/v1/status", None, None).status, 401);
    let r = m.login("password");
    assert_eq!(r.status, 200);
    assert_eq!(r.value()["must_change_password"], true);
    let token = r.value()["token"].as_str().unwrap().to_string();
    let r = m.call("GET", "/api/v1/status", Some(&token), None);
    assert_eq!(r.status, 403);
    assert_eq!(r.value()["error"], "must_change_password");

    let change = |current: &str, new: &str| {
        m.call(
            "PUT",
            "/api/v1/account/password",
            Some(&token),
            Some(&format!(r#"{{"current":"{current}","new":"{new}"}}"#)),
        )
    };
    let r = change("wrong-current", "guest-secret-1");
    assert!((400..500).contains(&r.status), "{}", r.status);
    assert_eq!(change("password", "guest-secret-1").status, 204);
    assert_eq!(m.login("password").status, 401);

    let r = m.call("GET", "/api/v1/status", Some(&token), None);
    assert_eq!(r.status, 200);
    let status = r.value();
    assert_eq!(status["model"], "Virtual Appliance");
    if let Some(rss) = status["daemon_rss_bytes"].as_u64() {
        m.report(
            "daemon RSS after boot",
            format!("{:.1} MiB", rss as f64 / 1048576.0),
        );
    }
    assert_eq!(status["slot"], "A");
    // Built without --key: it trusts the published development key, and says so.
    assert_eq!(status["update_keys"]["development"], true, "{status}");
    m.wait_for_console(
        "development build: accepts packages signed with the public development key",
        Duration::from_secs(5),
    )
    .unwrap();
    let nics = status["specs"]["nics"].as_array().unwrap();
    assert!(
        nics.iter().any(|n| n["name"] == "eth0"),
        "{}",
        status["specs"]["nics"]
    );

    // Least privilege (docs/security.md): the service that parses network input runs as
    // the appliance user with three capabilities; only its parent, the privileged part,
    // is root. Read from /proc on the guest, through the support bundle.
    let r = m.call("GET", "/api/v1/support/bundle", Some(&token), None);
    assert_eq!(r.status, 200);
    let processes = bundle_entry(&r.body, "processes.txt");
    let rows: Vec<Vec<&str>> = processes
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .filter(|f: &Vec<&str>| f.len() == 5 && f[4].starts_with("appliance-daem"))
        .collect();
    let service = rows
        .iter()
        .find(|r| rows.iter().any(|p| p[0] == r[1]))
        .unwrap_or_else(|| panic!("no daemon whose parent is a daemon:\n{processes}"));
    let parent = rows.iter().find(|p| p[0] == service[1]).unwrap();
    assert_eq!(service[2], "200", "the service's uid:\n{processes}");
    assert_eq!(
        service[3], "0000000000003400",
        "the service's capabilities:\n{processes}"
    );
    assert_eq!(parent[2], "0", "the privileged part's uid:\n{processes}");
    m.report(
        "daemon processes",
        format!(
            "service uid {} CapEff {}, privileged part uid {}",
            service[2], service[3], parent[2]
        ),
    );

    let r = m.call("GET", "/appliance/login", None, None);
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.body).contains(r#"type="password""#));
    assert_eq!(m.call("GET", "/nothing/here", None, None).status, 404);
    let r = m.call("POST", "/api/v1/session", None, Some("{oops"));
    assert!(r.status == 400 || r.status == 422, "{}", r.status);

    // Syslog forwarding on the booted image: the ring init writes, followed by the
    // service, and the audit log, to a UDP server on the host's loopback (QEMU's user
    // network takes the guest's 10.0.2.2 there).
    let syslog = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    syslog
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let port = syslog.local_addr().unwrap().port();
    let r = m.call(
        "PUT",
        "/api/v1/logs/forwarding",
        Some(&token),
        Some(&format!(
            r#"{{"servers":[{{"host":"10.0.2.2","port":{port},"transport":"udp"}}]}}"#
        )),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(m.login("not-the-password").status, 401);
    let (mut audit, mut daemon_line) = (None, None);
    let started = std::time::Instant::now();
    let mut buf = [0u8; 4096];
    while (audit.is_none() || daemon_line.is_none()) && started.elapsed() < Duration::from_secs(30)
    {
        let Ok(n) = syslog.recv(&mut buf) else {
            continue;
        };
        let line = String::from_utf8_lossy(&buf[..n]).into_owned();
        if line.contains("[audit@32473") && line.contains("session.failed") {
            audit = Some(line);
        } else if line.contains(" appliance-daemon ") && line.starts_with('<') {
            daemon_line = Some(line);
        }
    }
    let audit = audit.expect("the failed login's audit event over syslog");
    assert!(
        audit.starts_with('<') && audit.contains(">1 "),
        "RFC 5424: {audit}"
    );
    assert!(audit.contains(r#"address="10.0.2.2""#), "{audit}");
    daemon_line.expect("a line of the log ring over syslog");
    m.report(
        "syslog (UDP to the host)",
        format!(
            "audit line after {:.1}s: {audit}",
            started.elapsed().as_secs_f64()
        ),
    );

    // Restart through the API: the answer comes first, then the guest really restarts.
    let r = m.call("POST", "/api/v1/system/reboot", Some(&token), None);
    assert_eq!(r.status, 202);
    m.wait_for_console_count("init: stage2 start", 2, BOOT_TIMEOUT)
        .unwrap();
    let (_, t) = m.wait_for_health(BOOT_TIMEOUT).unwrap();
    m.report(
        "back after the API restart",
        format!("{:.1}s", t.as_secs_f64()),
    );
    assert_eq!(
        m.call("GET", "/api/v1/status", Some(&token), None).status,
        401,
        "sessions end with a restart"
    );
    let r = m.login("guest-secret-1");
    assert_eq!(r.value()["must_change_password"], false, "password kept");
    let token = r.value()["token"].as_str().unwrap().to_string();

    // The forwarding's first start in a boot sends that boot's lines written before it:
    // init's, from the start of the boot.
    let started = std::time::Instant::now();
    let mut init_line = None;
    while init_line.is_none() && started.elapsed() < Duration::from_secs(30) {
        let Ok(n) = syslog.recv(&mut buf) else {
            continue;
        };
        let line = String::from_utf8_lossy(&buf[..n]).into_owned();
        if line.contains(" init ") && line.contains("stage2 start") {
            init_line = Some(line);
        }
    }
    let init_line = init_line.expect("init's early line of the new boot over syslog");
    // The ring numbers boots from 1: this is the second.
    assert!(init_line.contains(r#"[log@32473 boot="2"]"#), "{init_line}");
    m.report("syslog after the restart", init_line);

    // The persistent log on data: the boot before the restart is kept, to its shutdown,
    // and this boot's log starts with stage 1's lines (docs/logs.md).
    let logs = |query: &str| {
        let r = m.call("GET", &format!("/api/v1/logs?{query}"), Some(&token), None);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.value()
    };
    let has =
        |page: &serde_json::Value, service: &str, text: &str| {
            page["lines"].as_array().unwrap().iter().any(|l| {
                l["service"] == service && l["message"].as_str().unwrap_or("").contains(text)
            })
        };
    let before = logs("boot=-1&service=init&limit=5000");
    let boots = before["boots"].as_array().unwrap();
    assert_eq!(boots.len(), 2, "{}", before["boots"]);
    assert_eq!(boots[1]["current"], true);
    assert!(
        has(&before, "init", "shutdown: sending SIGTERM"),
        "the boot before the restart, to its shutdown: {before}"
    );
    let daemon_before = logs("boot=-1&service=appliance-daemon&limit=5000");
    assert!(
        !daemon_before["lines"].as_array().unwrap().is_empty(),
        "the daemon's lines of the boot before: {daemon_before}"
    );
    let now = logs("boot=0&service=init&limit=5000");
    assert!(
        has(&now, "init", "stage1: modules loaded"),
        "stage 1's lines in this boot's log: {now}"
    );
    m.report(
        "log on data",
        format!(
            "{} bytes of {} after two boots",
            now["size_bytes"], now["cap_bytes"]
        ),
    );

    // Five wrong passwords lock the account: the right one is refused too.
    for _ in 0..5 {
        assert_eq!(m.login("not-it").status, 401);
    }
    let r = m.login("guest-secret-1");
    assert_eq!(r.status, 429);
    assert_eq!(r.value()["error"], "locked");

    // Shutdown through the API: QEMU exits by itself.
    let r = m.call("POST", "/api/v1/system/shutdown", Some(&token), None);
    assert_eq!(r.status, 202);
    let status = m.wait_exit(Duration::from_secs(120)).unwrap();
    assert!(status.success(), "{status:?}");
}

/// One file of a support bundle (tar.zst), read with the zstd and tar commands.
fn bundle_entry(bundle: &[u8], name: &str) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let dir = std::env::temp_dir().join(format!("bundle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bundle.tar.zst");
    std::fs::File::create(&file)
        .unwrap()
        .write_all(bundle)
        .unwrap();
    let out = Command::new("tar")
        .args(["--zstd", "-xOf"])
        .arg(&file)
        .arg(name)
        .stderr(Stdio::inherit())
        .output()
        .expect("tar runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "tar could not read {name} from the bundle"
    );
    String::from_utf8(out.stdout).unwrap()
}
