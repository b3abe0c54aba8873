//! Syslog forwarding against Debian's rsyslog, started by the test as a plain process on
//! loopback with its own configuration (imudp, imptcp, and imtcp with the gtls netstream
//! driver and a CA and certificate made by openssl here), and the daemon in dev mode:
//! - refused settings change nothing;
//! - a login's audit event arrives over UDP, TCP and TLS, parsed by rsyslog as RFC 5424,
//!   with its actor and source address in the structured data; the daemon's own log lines
//!   arrive too;
//! - rsyslog stopped while audit events are made: they wait in the queue and arrive once
//!   it is back; with the queue overflowed, the oldest are missing, the newest arrive in
//!   order, and a line says how many were dropped: as many as the status counts;
//! - a CA that did not sign the server's certificate: the TLS link fails with the
//!   handshake's error in the status, and the Logs page shows it (English and French);
//! - the page's form: refused without its CSRF token or with a wrong port, then kept.
//!
//! Needs the Debian packages rsyslog, rsyslog-gnutls and openssl (image/deps).

use appliance_tests::dev::{state_dir, DevDaemon};
use appliance_tests::https::{self, Trust};
use appliance_tests::openssl::openssl;
use appliance_tests::Api;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "Syslog-test 2026 pass";
const TIMEOUT: Duration = Duration::from_secs(90);
/// The queue bound the daemon runs with here, small enough to overflow quickly.
const QUEUE_BYTES: &str = "16384";

fn free_port(udp: bool) -> u16 {
    if udp {
        std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    } else {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }
}

/// rsyslogd in the foreground with its configuration in `dir`; every message it receives
/// goes to `dir/out.log` as `INPUT|HOSTNAME|APP-NAME|MSGID|SD|MSG`.
struct Rsyslog {
    dir: PathBuf,
    udp: u16,
    tcp: u16,
    tls: u16,
    child: Option<Child>,
}

impl Rsyslog {
    fn new(dir: &Path) -> Rsyslog {
        let d = dir.display();
        let (udp, tcp, tls) = (free_port(true), free_port(false), free_port(false));
        let conf = format!(
            r#"global(workDirectory="{d}" maxMessageSize="64k"
  DefaultNetstreamDriverCAFile="{d}/ca.pem"
  DefaultNetstreamDriverCertFile="{d}/server.pem"
  DefaultNetstreamDriverKeyFile="{d}/server.key")
module(load="imudp")
module(load="imptcp")
module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")
template(name="fields" type="string" string="%inputname%|%hostname%|%app-name%|%msgid%|%structured-data%|%msg%\n")
input(type="imudp" address="127.0.0.1" port="{udp}")
input(type="imptcp" address="127.0.0.1" port="{tcp}")
input(type="imtcp" address="127.0.0.1" port="{tls}")
action(type="omfile" file="{d}/out.log" template="fields")
"#
        );
        std::fs::write(dir.join("rsyslog.conf"), conf).unwrap();
        Rsyslog {
            dir: dir.to_path_buf(),
            udp,
            tcp,
            tls,
            child: None,
        }
    }

    fn start(&mut self) {
        let child = Command::new("rsyslogd")
            .args(["-n", "-f"])
            .arg(self.dir.join("rsyslog.conf"))
            .arg("-i")
            .arg(self.dir.join("rsyslogd.pid"))
            .stdout(Stdio::null())
            .spawn()
            .expect("rsyslogd (Debian package rsyslog)");
        self.child = Some(child);
        // Listening when a TCP connect succeeds.
        let deadline = Instant::now() + Duration::from_secs(20);
        for port in [self.tcp, self.tls] {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "rsyslogd does not listen on {port}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = nix_kill(c.id());
            let _ = c.wait();
        }
    }

    fn lines(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(self.dir.join("out.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| l.splitn(6, '|').map(str::to_string).collect::<Vec<_>>())
            .filter(|f| f.len() == 6)
            .collect()
    }

    /// Wait until a line matches; all the lines then.
    fn wait_for(&self, what: &str, f: impl Fn(&[String]) -> bool) -> Vec<Vec<String>> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let lines = self.lines();
            if lines.iter().any(|l| f(l)) {
                return lines;
            }
            assert!(
                Instant::now() < deadline,
                "rsyslog never received {what}; it has:\n{}",
                lines
                    .iter()
                    .map(|l| l.join("|"))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn nix_kill(pid: u32) -> std::io::Result<()> {
    let st = Command::new("kill").arg(pid.to_string()).status()?;
    if st.success() {
        Ok(())
    } else {
        Err(std::io::Error::other("kill failed"))
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A CA and a certificate it signs for `localhost` and 127.0.0.1, and another CA.
fn certificates(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    for ca in ["ca", "other-ca"] {
        let (key, pem, subj) = (
            format!("{ca}.key"),
            format!("{ca}.pem"),
            format!("/CN={ca}"),
        );
        let mut args = vec!["req", "-x509"];
        args.extend(ec);
        args.extend(["-keyout", &key, "-out", &pem, "-days", "2", "-subj", &subj]);
        openssl(dir, &args);
    }
    let mut args = vec!["req"];
    args.extend(ec);
    args.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    openssl(dir, &args);
    std::fs::write(
        dir.join("ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext",
        ],
    );
}

fn status(d: &DevDaemon, token: &str) -> Value {
    let r = d.call("GET", "/api/v1/logs/forwarding", Some(token), None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.value()
}

fn put(d: &DevDaemon, token: &str, servers: Value) -> (u16, Value) {
    let r = d.call(
        "PUT",
        "/api/v1/logs/forwarding",
        Some(token),
        Some(&json!({ "servers": servers }).to_string()),
    );
    let v = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    (r.status, v)
}

fn wait_status(d: &DevDaemon, token: &str, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let v = status(d, token);
        if f(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "never {what}: {v:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn hostname() -> String {
    let out = Command::new("hostname").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn audit_events_and_log_lines_reach_rsyslog_over_udp_tcp_and_tls() {
    let state = state_dir("syslog");
    let work = state.join("rsyslog");
    std::fs::create_dir_all(&work).unwrap();
    certificates(&work);
    let ca = std::fs::read_to_string(work.join("ca.pem")).unwrap();
    let other_ca = std::fs::read_to_string(work.join("other-ca.pem")).unwrap();
    let mut rs = Rsyslog::new(&work);
    rs.start();

    let d = DevDaemon::start(
        Path::new(env!("CARGO_BIN_EXE_appliance-daemon")),
        &state,
        false,
        &[
            ("APPLIANCE_SLOT", "A"),
            ("APPLIANCE_PROFILE", "box"),
            ("APPLIANCE_SYSLOG_QUEUE_BYTES", QUEUE_BYTES),
        ],
    );
    let token = d.first_login(PASSWORD);
    assert_eq!(
        d.call("GET", "/api/v1/logs/forwarding", None, None).status,
        401
    );
    let v = status(&d, &token);
    assert_eq!(v["servers"], json!([]));
    assert_eq!(v["queue_cap_bytes"], 16384);

    // Refused as a whole: every wrong field named, nothing changed.
    let (code, v) = put(
        &d,
        &token,
        json!([
            {"host": "127.0.0.1", "port": rs.udp, "transport": "udp"},
            {"host": "localhost", "port": rs.tls, "transport": "tls"},
            {"host": "bad host", "port": 0, "transport": "sctp"},
            {"host": "localhost", "port": rs.tls, "transport": "tls", "ca": "not a certificate"},
        ]),
    );
    assert_eq!(code, 422, "{v}");
    assert_eq!(v["error"], "invalid_forwarding");
    let fields: Vec<&str> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "servers[1].ca",
            "servers[2].host",
            "servers[2].port",
            "servers[2].transport",
            "servers[3].ca",
            "servers[3].host"
        ],
        "{v}"
    );
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("nothing was changed"),
        "{v}"
    );
    assert_eq!(status(&d, &token)["servers"], json!([]));

    let servers = json!([
        {"host": "127.0.0.1", "port": rs.udp, "transport": "udp"},
        {"host": "127.0.0.1", "port": rs.tcp, "transport": "tcp"},
        {"host": "localhost", "port": rs.tls, "transport": "tls", "ca": ca},
    ]);
    let (code, v) = put(&d, &token, servers.clone());
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["servers"].as_array().unwrap().len(), 3);
    wait_status(&d, &token, "all connected", |v| {
        v["servers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["connected"] == true)
    });

    // A login: its audit event over each transport, with actor and source address.
    let _session = d.token(PASSWORD);
    let host = hostname();
    for input in ["imudp", "imptcp", "imtcp"] {
        let lines = rs.wait_for(&format!("the login's audit event over {input}"), |l| {
            l[0] == input
                && l[3] == "audit"
                && l[4].contains("action=\"session.create\"")
                && l[4].contains("actor=\"admin\"")
                && l[4].contains("address=\"127.0.0.1\"")
        });
        let l = lines
            .iter()
            .find(|l| l[0] == input && l[4].contains("session.create"))
            .unwrap();
        assert_eq!(l[1], host, "{l:?}");
        assert_eq!(l[2], "appliance-daemon", "{l:?}");
        assert!(l[4].starts_with("[audit@32473 id=\""), "{l:?}");
        assert_eq!(l[5].trim(), "API session", "{l:?}");
    }
    // The settings change itself was audited and forwarded, and the daemon's own lines
    // (its log in dev mode, as init's ring on the appliance) arrive as log lines.
    rs.wait_for("the forwarding change's audit event", |l| {
        l[0] == "imptcp" && l[4].contains("action=\"logs.forwarding\"")
    });
    d.call("GET", "/api/v1/logs/forwarding", Some("not-a-token"), None);
    let _ = d.call(
        "POST",
        "/api/v1/session",
        None,
        Some(r#"{"username":"admin","password":"wrong"}"#),
    );
    rs.wait_for("a failed login's audit event over TLS", |l| {
        l[0] == "imtcp"
            && l[3] == "audit"
            && l[4].contains("action=\"session.failed\"")
            && l[5].contains("wrong password")
    });
    rs.wait_for("a log line of the daemon", |l| {
        l[0] == "imptcp"
            && l[2] == "appliance-daemon"
            && l[3] == "-"
            && l[4].starts_with("[log@32473 boot=\"")
    });

    // rsyslog goes away: what happens meanwhile waits in the queue (16 KiB here).
    let (code, v) = put(
        &d,
        &token,
        json!([{"host": "127.0.0.1", "port": rs.tcp, "transport": "tcp"}]),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(
        v["servers"][0]["connected"], true,
        "the TCP link was kept: {v}"
    );
    rs.stop();
    wait_status(&d, &token, "the outage seen", |v| {
        v["servers"][0]["connected"] == false
    });
    let marker = |i: usize| format!("outage-{i:03}.example");
    const CHANGES: usize = 150;
    for i in 0..CHANGES {
        let r = d.call(
            "PUT",
            "/api/v1/time",
            Some(&token),
            Some(&json!({ "servers": [marker(i)] }).to_string()),
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    let during = status(&d, &token);
    let s = &during["servers"][0];
    assert_eq!(s["connected"], false, "{during}");
    assert!(
        s["dropped"].as_u64().unwrap() > 0,
        "the queue overflowed: {during}"
    );
    assert!(s["queued_bytes"].as_u64().unwrap() <= 16384, "{during}");
    assert!(
        s["last_error"].as_str().unwrap().contains("127.0.0.1"),
        "{during}"
    );
    assert!(s["last_error_at"].is_string(), "{during}");

    rs.start();
    let lines = rs.wait_for("the newest change made during the outage", |l| {
        l[0] == "imptcp" && l[5].contains(&marker(CHANGES - 1))
    });
    let after = wait_status(&d, &token, "the queue emptied", |v| {
        v["servers"][0]["connected"] == true && v["servers"][0]["queued_lines"] == 0
    });
    let dropped = after["servers"][0]["dropped"].as_u64().unwrap();
    // What arrived of the outage: the newest changes, in order, none twice.
    let got: Vec<usize> = lines
        .iter()
        .filter(|l| l[3] == "audit" && l[5].contains("outage-"))
        .map(|l| {
            let at = l[5].find("outage-").unwrap();
            l[5][at + 7..at + 10].parse().unwrap()
        })
        .collect();
    let first = got[0];
    assert!(first > 0, "the oldest changes were dropped: {got:?}");
    assert_eq!(
        got,
        (first..CHANGES).collect::<Vec<_>>(),
        "the newest changes, in order, once each"
    );
    assert!(
        dropped >= first as u64,
        "{dropped} dropped, {first} changes missing"
    );
    // The note says how many: as many as the status counts.
    let told: u64 = lines
        .iter()
        .filter(|l| l[0] == "imptcp" && l[3] == "dropped")
        .map(|l| {
            l[5].split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("a count in {l:?}"))
        })
        .sum();
    assert_eq!(told, dropped, "the dropped lines told: {lines:?}");
    eprintln!(
        "outage: {CHANGES} changes made, the first {first} missing, {} arrived; {dropped} lines dropped and told",
        got.len()
    );

    // A CA that did not sign the server's certificate: no connection, the reason shown.
    let (code, v) = put(
        &d,
        &token,
        json!([{"host": "localhost", "port": rs.tls, "transport": "tls", "ca": other_ca}]),
    );
    assert_eq!(code, 200, "{v}");
    let v = wait_status(&d, &token, "the TLS failure shown", |v| {
        v["servers"][0]["last_error"].is_string()
    });
    let s = &v["servers"][0];
    assert_eq!(s["connected"], false, "{v}");
    let why = s["last_error"].as_str().unwrap();
    assert!(
        why.contains("TLS handshake") && why.contains("UnknownIssuer"),
        "{why}"
    );
    assert_eq!(s["sent"], 0, "{v}");

    // The Logs page shows the server and why it is not connected, in English and French.
    let en = d.web_page(PASSWORD, "/appliance/logs");
    let table = en
        .split("id=\"forwarding-status\"")
        .nth(1)
        .and_then(|t| t.split("</table>").next())
        .unwrap_or_else(|| panic!("no forwarding status: {en}"));
    assert!(
        table.contains(&format!("localhost:{} (tls)", rs.tls)),
        "{table}"
    );
    assert!(
        table.contains(">no<") && table.contains("UnknownIssuer"),
        "{table}"
    );
    assert!(
        en.contains("id=\"host_0\" name=\"host_0\" value=\"localhost\""),
        "{en}"
    );
    let fr = d.web_page(PASSWORD, "/appliance/logs?lang=fr");
    assert!(fr.contains("Transfert vers des serveurs syslog"), "{fr}");
    assert!(fr.contains(">non<"), "{fr}");

    // The page's form: a session cookie and its CSRF token, as a browser sends them.
    let web = |method: &str, path: &str, cookies: &str, body: &str| {
        let mut headers = vec![("Cookie", cookies)];
        if !body.is_empty() {
            headers.push(("Content-Type", "application/x-www-form-urlencoded"));
        }
        https::request(
            d.https,
            method,
            path,
            &headers,
            body.as_bytes(),
            &Trust::Any,
            Duration::from_secs(60),
        )
        .unwrap()
    };
    let cookies_of = |r: &https::Response| {
        r.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.split(';').next().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
            .join("; ")
    };
    let csrf_of = |html: &str| {
        html.split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap()
            .to_string()
    };
    let form = web("GET", "/appliance/login", "", "");
    let csrf = csrf_of(&String::from_utf8_lossy(&form.body));
    let login = web(
        "POST",
        "/appliance/login",
        &cookies_of(&form),
        &format!(
            "csrf={csrf}&username=admin&password={}",
            PASSWORD.replace(' ', "+")
        ),
    );
    let session = cookies_of(&login);
    let page =
        String::from_utf8_lossy(&web("GET", "/appliance/logs", &session, "").body).into_owned();
    let csrf = csrf_of(&page);
    let body = |csrf: &str, port: &str| {
        format!("csrf={csrf}&host_0=127.0.0.1&port_0={port}&transport_0=tcp&ca_0=&host_1=&port_1=&transport_1=udp&ca_1=")
    };
    // A wrong CSRF token, then a port that is not one: refused, nothing changed.
    let r = web(
        "POST",
        "/appliance/logs/forwarding",
        &session,
        &body("0000", &rs.tcp.to_string()),
    );
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    let r = web(
        "POST",
        "/appliance/logs/forwarding",
        &session,
        &body(&csrf, "x"),
    );
    assert_eq!(r.status, 422);
    let html = String::from_utf8_lossy(&r.body);
    assert!(
        html.contains("The syslog servers are refused") && html.contains("servers[0].port"),
        "{html}"
    );
    assert_eq!(status(&d, &token)["servers"][0]["transport"], "tls");
    let r = web(
        "POST",
        "/appliance/logs/forwarding",
        &session,
        &body(&csrf, &rs.tcp.to_string()),
    );
    assert_eq!(r.status, 303, "{}", String::from_utf8_lossy(&r.body));
    let v = wait_status(&d, &token, "the page's server connected", |v| {
        v["servers"][0]["connected"] == true
    });
    assert_eq!(v["servers"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["servers"][0]["port"], rs.tcp, "{v}");

    drop(d);
    rs.stop();
    let _ = std::fs::remove_dir_all(&state);
}
