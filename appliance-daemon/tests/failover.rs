//! The failover pair against the daemon binary in dev mode, several appliances on
//! loopback, each with its own state directory and port: the inter-appliance key, every
//! refusal of an establish (nothing stored on either side), the establish itself (roles,
//! epoch, each side's peer and pinned identity), a third appliance refused, the pair
//! channel refusing requests without the pair's proof (plain, stranger, wrong key,
//! replayed), and a break from the backup learnt by the primary at once, or when it next
//! calls after being down.

use appliance_tests::api::token_of;
use appliance_tests::dev::{state_dir, DevDaemon};
use appliance_tests::Api;
use appliancectl::{Client, ClientIdentity, Endpoint, Method, Trust};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{json, Value};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::time::{Duration, Instant};

struct Appliance {
    daemon: DevDaemon,
    token: String,
}

impl Appliance {
    fn start(tag: &str, version: Option<&str>) -> Appliance {
        let state = state_dir(tag);
        let daemon = start_on(&state, version);
        let token = daemon.first_login(&format!("password of {tag} 1"));
        Appliance { daemon, token }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let body = body.map(|b| b.to_string());
        let r = self
            .daemon
            .call(method, path, Some(&self.token), body.as_deref());
        let value = r.json().unwrap_or(Value::Null);
        (r.status, value)
    }

    fn failover(&self) -> Value {
        let (status, value) = self.call("GET", "/api/v1/failover", None);
        assert_eq!(status, 200, "{value}");
        value
    }

    /// The audit log's actions, newest first, and the whole log as text.
    fn audit(&self) -> (Vec<String>, String) {
        let (status, value) = self.call("GET", "/api/v1/audit?limit=100", None);
        assert_eq!(status, 200, "{value}");
        let entries = value["entries"].as_array().unwrap().clone();
        let actions = entries
            .iter()
            .map(|e| e["action"].as_str().unwrap_or_default().to_string())
            .collect();
        (actions, serde_json::to_string(&entries).unwrap())
    }

    fn port(&self) -> u16 {
        self.daemon.https.port()
    }

    fn address(&self) -> Value {
        json!({"host": "127.0.0.1", "port": self.port()})
    }

    fn establish(&self, backup: Value, reverse: Value) -> (u16, Value) {
        self.call(
            "POST",
            "/api/v1/failover/establish",
            Some(json!({"backup": backup, "reverse": reverse})),
        )
    }

    fn set_key(&self, key: &str) -> Value {
        let (status, value) = self.call("PUT", "/api/v1/failover/key", Some(json!({"key": key})));
        assert_eq!(status, 200, "{value}");
        value
    }

    fn pair_identity_sha256(&self) -> String {
        let cert = CertificateDer::from_pem_file(self.daemon.state.join("pair/cert.pem")).unwrap();
        appliancectl::format_fingerprint(&appliancectl::tls::fingerprint(cert.as_ref()))
    }
}

fn start_on(state: &Path, version: Option<&str>) -> DevDaemon {
    let mut env = vec![("APPLIANCE_SLOT", "A"), ("APPLIANCE_PROFILE", "box")];
    if let Some(v) = version {
        env.push(("APPLIANCE_VERSION", v));
    }
    DevDaemon::start(
        Path::new(env!("CARGO_BIN_EXE_appliance-daemon")),
        state,
        false,
        &env,
    )
}

/// A refusal: the status and the error code, then nothing stored on either side.
fn refused(answer: (u16, Value), status: u16, code: &str, unchanged: &[(&Appliance, &Value)]) {
    assert_eq!(
        (answer.0, answer.1["error"].as_str().unwrap_or_default()),
        (status, code),
        "{}",
        answer.1
    );
    let message = answer.1["message"].as_str().unwrap_or_default();
    assert!(message.len() > 20, "a sentence: {message:?}");
    for (appliance, before) in unchanged {
        assert_eq!(&appliance.failover(), *before, "after {code}");
    }
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A TCP server that answers every connection with plain HTTP (not an appliance).
fn not_an_appliance() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            use std::io::Write;
            let mut stream = stream;
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello");
        }
    });
    port
}

// The pair channel as a stranger would use it: the product's client, its own certificate.

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn stranger_identity() -> (ClientIdentity, [u8; 32]) {
    let made = rcgen::generate_simple_self_signed(vec!["stranger".to_string()]).unwrap();
    let cert = made.cert.der().clone();
    let sha256 = appliancectl::tls::fingerprint(cert.as_ref());
    let key = PrivateKeyDer::from_pem_slice(made.key_pair.serialize_pem().as_bytes()).unwrap();
    (
        ClientIdentity {
            chain: vec![cert],
            key,
        },
        sha256,
    )
}

fn pair_call(
    addr: SocketAddr,
    identity: &ClientIdentity,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value, Option<[u8; 32]>) {
    let client = Client::with_identity(
        Endpoint::new("127.0.0.1", addr.port()),
        &Trust::InsecureAcceptAny,
        identity.clone(),
        pair::PAIR_SERVER_NAME,
    )
    .unwrap();
    let response = runtime()
        .block_on(client.send(method, path, body.as_ref()))
        .unwrap();
    let seen = response
        .peer_certificate
        .as_ref()
        .map(|c| appliancectl::tls::fingerprint(c.as_ref()));
    let value = response.json_value().unwrap_or(Value::Null);
    (response.status.as_u16(), value, seen)
}

fn hex32(text: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).unwrap();
    out
}

/// A stranger's hello to `target`: its answer, the nonce sent, the identity seen.
fn hello(target: &Appliance, identity: &ClientIdentity) -> (Value, [u8; 32], [u8; 32]) {
    let nonce = [7u8; 32];
    let (status, answer, seen) = pair_call(
        target.daemon.https,
        identity,
        Method::POST,
        "/api/v1/peer/hello",
        Some(json!({
            "facts": {"appliance_id": "stranger", "version": env!("CARGO_PKG_VERSION"), "sites": {}},
            "nonce": hex::encode(nonce),
        })),
    );
    assert_eq!(status, 200, "{answer}");
    (answer, nonce, seen.unwrap())
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(Instant::now() < deadline, "{what} within 15 s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_pair_is_established_refused_and_broken() {
    let a = Appliance::start("pair-a", None);
    let b = Appliance::start("pair-b", None);

    let a0 = a.failover();
    assert_eq!(a0["role"], "none");
    assert_eq!(a0["peer"], Value::Null);
    assert_eq!(a0["key_fingerprint"], Value::Null);
    assert_eq!(a0["auto"], json!({"enabled": false, "missed_checks": 5}));

    // No key yet.
    let b0 = b.failover();
    refused(
        a.establish(b.address(), a.address()),
        409,
        "no_key",
        &[(&a, &a0), (&b, &b0)],
    );

    // The key: generated on A (shown once), typed on B.
    let (status, generated) = a.call(
        "PUT",
        "/api/v1/failover/key",
        Some(json!({"generate": true})),
    );
    assert_eq!(status, 200, "{generated}");
    let key = generated["key"].as_str().unwrap().to_string();
    assert_eq!(key.split('-').count(), 13, "{key}");
    let a0 = a.failover();
    assert_eq!(a0["key_fingerprint"], generated["key_fingerprint"]);
    assert!(!a0.to_string().contains(&key.replace('-', "")[..10]));
    for bad in ["short", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
        let (status, answer) = b.call("PUT", "/api/v1/failover/key", Some(json!({"key": bad})));
        assert_eq!(
            (status, answer["error"].as_str()),
            (422, Some("invalid_key"))
        );
    }
    assert_eq!(b.failover(), b0, "a refused key changes nothing");

    // B has no key.
    refused(
        a.establish(b.address(), a.address()),
        409,
        "peer_no_key",
        &[(&a, &a0), (&b, &b0)],
    );
    // B has another key.
    b.set_key("0123-4567-89AB-CDEF-GHJK-MNPQ-RSTV-WXYZ");
    let b0 = b.failover();
    refused(
        a.establish(b.address(), a.address()),
        409,
        "key_mismatch",
        &[(&a, &a0), (&b, &b0)],
    );
    let typed = b.set_key(&key.to_lowercase().replace('-', " "));
    assert_eq!(typed["key_fingerprint"], generated["key_fingerprint"]);
    assert_eq!(typed.get("key"), None, "a typed key is not answered");
    let b0 = b.failover();

    // Unreachable, not an appliance, this appliance itself, bad addresses.
    let closed = json!({"host": "127.0.0.1", "port": closed_port()});
    refused(
        a.establish(closed.clone(), a.address()),
        502,
        "peer_unreachable",
        &[(&a, &a0), (&b, &b0)],
    );
    refused(
        a.establish(
            json!({"host": "127.0.0.1", "port": not_an_appliance()}),
            a.address(),
        ),
        502,
        "peer_not_appliance",
        &[(&a, &a0), (&b, &b0)],
    );
    refused(
        a.establish(a.address(), a.address()),
        422,
        "peer_is_self",
        &[(&a, &a0), (&b, &b0)],
    );
    refused(
        a.establish(json!({"host": "", "port": 443}), a.address()),
        422,
        "invalid_address",
        &[(&a, &a0)],
    );
    // The backup cannot reach this one back at the reverse address.
    refused(
        a.establish(b.address(), closed.clone()),
        502,
        "reverse_unreachable",
        &[(&a, &a0), (&b, &b0)],
    );
    // Another version.
    let v = Appliance::start("pair-v", Some("9.9.9"));
    v.set_key(&key);
    let v0 = v.failover();
    refused(
        a.establish(v.address(), a.address()),
        409,
        "version_mismatch",
        &[(&a, &a0), (&v, &v0)],
    );
    drop(v);

    // Established: A primary, B backup, one epoch, each pinning the other's pair identity.
    let (status, established) = a.establish(b.address(), a.address());
    assert_eq!(status, 200, "{established}");
    let a1 = a.failover();
    let b1 = b.failover();
    assert_eq!(a1["role"], "primary");
    assert_eq!(b1["role"], "backup");
    assert_eq!(a1["epoch"], 1);
    assert_eq!(b1["epoch"], 1);
    assert_eq!(a1["peer"]["port"], b.port());
    assert_eq!(b1["peer"]["port"], a.port());
    assert_eq!(a1["peer"]["reachable"], true);
    assert_eq!(a1["peer"]["identity_sha256"], b.pair_identity_sha256());
    assert_eq!(b1["peer"]["identity_sha256"], a.pair_identity_sha256());
    // The pair identity is not the served certificate.
    let served = a.call("GET", "/api/v1/tls", None).1["certificate_sha256"].clone();
    assert_ne!(served, a.pair_identity_sha256());
    let a1_peer = a1["peer"]["appliance_id"].clone();
    assert_eq!(
        a1_peer,
        b.call("GET", "/api/v1/status", None).1["appliance_id"]
    );

    // Audited on both sides, refusals on the primary's; the key never written there.
    let (actions, text) = a.audit();
    for action in [
        "failover.key",
        "failover.establish",
        "failover.establish_refused",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
    assert!(
        !text.contains(&key.replace('-', "")[..12]),
        "no key in the audit log"
    );
    assert!(text.contains(generated["key_fingerprint"].as_str().unwrap()));
    let (actions, text) = b.audit();
    assert!(
        actions.iter().any(|a| a == "failover.establish"),
        "{actions:?}"
    );
    assert!(!text.to_uppercase().contains(&key.replace('-', "")[..12]));

    // Again, and a third appliance with the same key: refused, nothing changes.
    let (status, answer) = a.establish(b.address(), a.address());
    assert_eq!(
        (status, answer["error"].as_str()),
        (409, Some("already_paired"))
    );
    let c = Appliance::start("pair-c", None);
    c.set_key(&key);
    let c0 = c.failover();
    for target in [&b, &a] {
        refused(
            c.establish(target.address(), c.address()),
            409,
            "peer_paired",
            &[(&c, &c0)],
        );
    }
    let a1 = a.failover();
    let b1 = b.failover();
    assert_eq!(
        (a1["role"].clone(), b1["role"].clone()),
        ("primary".into(), "backup".into())
    );

    // The pair channel refuses what does not carry the pair's proof.
    // Plain HTTPS (no pair channel), even with an administrator's token:
    for path in ["/api/v1/peer/state", "/api/v1/peer/break"] {
        let r = b.daemon.call("POST", path, Some(&b.token), Some("{}"));
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(r.value()["error"], "pair_channel_required");
    }
    // A stranger's certificate on the pair channel:
    let (stranger, stranger_sha256) = stranger_identity();
    for path in [
        "/api/v1/peer/state",
        "/api/v1/peer/break",
        "/api/v1/peer/primary",
    ] {
        let (status, answer, _) = pair_call(
            b.daemon.https,
            &stranger,
            Method::POST,
            path,
            Some(json!({"appliance_id": "stranger", "role": "primary", "epoch": 99})),
        );
        assert_eq!(
            (status, answer["error"].as_str()),
            (403, Some("not_your_peer")),
            "{path}"
        );
    }
    let (status, _, _) = pair_call(
        c.daemon.https,
        &stranger,
        Method::GET,
        "/api/v1/peer/confirm",
        None,
    );
    assert_eq!(status, 403);
    assert_eq!(b.failover(), b1, "the stranger changed nothing");
    // A stranger without the key: its proof is refused.
    let (answer, nonce, c_identity) = hello(&c, &stranger);
    let wrong = pair::Key::parse("0123-4567-89AB-CDEF-GHJK-MNPQ-RSTV-WXYZ").unwrap();
    let transcript = pair::Transcript {
        primary_nonce: nonce,
        backup_nonce: hex32(answer["nonce"].as_str().unwrap()),
        primary_key: stranger_sha256,
        backup_key: c_identity,
    };
    // C's own proof is right for the real key, bound to what it saw.
    let right = pair::Key::parse(&key).unwrap();
    assert!(pair::proof::verify(
        &right,
        pair::Direction::BackupToPrimary,
        &transcript,
        &hex::decode(answer["proof"].as_str().unwrap()).unwrap()
    ));
    let establish = |key: &pair::Key, transcript: &pair::Transcript, nonce: &str| {
        json!({
            "nonce": nonce,
            "proof": hex::encode(pair::proof::prove(key, pair::Direction::PrimaryToBackup, transcript)),
            "primary_id": "stranger",
            "epoch": 5,
            "reverse": {"host": "127.0.0.1", "port": closed_port()},
        })
    };
    let (status, refusal, _) = pair_call(
        c.daemon.https,
        &stranger,
        Method::POST,
        "/api/v1/peer/establish",
        Some(establish(
            &wrong,
            &transcript,
            answer["nonce"].as_str().unwrap(),
        )),
    );
    assert_eq!(
        (status, refusal["error"].as_str()),
        (409, Some("key_mismatch")),
        "{refusal}"
    );
    // A request replayed: a fresh challenge, a right proof whose establish fails at the
    // reverse check, then the same request again.
    let (answer, nonce, _) = hello(&c, &stranger);
    let transcript = pair::Transcript {
        primary_nonce: nonce,
        backup_nonce: hex32(answer["nonce"].as_str().unwrap()),
        ..transcript
    };
    let request = establish(&right, &transcript, answer["nonce"].as_str().unwrap());
    let (status, first, _) = pair_call(
        c.daemon.https,
        &stranger,
        Method::POST,
        "/api/v1/peer/establish",
        Some(request.clone()),
    );
    assert_eq!(
        (status, first["error"].as_str()),
        (502, Some("reverse_unreachable")),
        "{first}"
    );
    let (status, replayed, _) = pair_call(
        c.daemon.https,
        &stranger,
        Method::POST,
        "/api/v1/peer/establish",
        Some(request),
    );
    assert_eq!(
        (status, replayed["error"].as_str()),
        (403, Some("challenge_unknown")),
        "{replayed}"
    );
    assert_eq!(c.failover(), c0, "C is still in no pair");
    drop(c);

    // Break from the backup: the primary, reachable, learns it at once; the epoch stays.
    let (status, broken) = b.call("POST", "/api/v1/failover/break", None);
    assert_eq!(status, 200, "{broken}");
    assert_eq!(broken["peer_told"], true);
    assert_eq!(broken["failover"]["role"], "none");
    let a2 = a.failover();
    assert_eq!(a2["role"], "none");
    assert_eq!(a2["peer"], Value::Null);
    assert_eq!(a2["epoch"], 1);
    assert!(
        a2["last_event"]["message"]
            .as_str()
            .unwrap()
            .contains("peer broke"),
        "{a2}"
    );
    let (status, answer) = b.call("POST", "/api/v1/failover/break", None);
    assert_eq!(
        (status, answer["error"].as_str()),
        (409, Some("not_paired"))
    );

    // Established again: a new epoch above both.
    let (status, answer) = a.establish(b.address(), a.address());
    assert_eq!(status, 200, "{answer}");
    assert_eq!(a.failover()["epoch"], 2);
    assert_eq!(b.failover()["epoch"], 2);

    // Broken on the backup while the primary is down: the primary learns it when it
    // next calls.
    let a_state = a.daemon.state.clone();
    drop(a);
    let (status, broken) = b.call("POST", "/api/v1/failover/break", None);
    assert_eq!(status, 200, "{broken}");
    assert_eq!(broken["peer_told"], false);
    let a = Appliance {
        daemon: start_on(&a_state, None),
        token: String::new(),
    };
    let a = Appliance {
        token: token_of(&a.daemon.login("password of pair-a 1")),
        ..a
    };
    // A primary asks its peer as it starts (before holding the shared IPs): it learns
    // the break then, or at its next check.
    wait_for("the primary learns the break", || {
        a.failover()["role"] == "none"
    });
    let a3 = a.failover();
    assert!(
        a3["last_event"]["message"]
            .as_str()
            .unwrap()
            .contains("peer broke"),
        "{a3}"
    );
    assert_eq!(a3["epoch"], 2);
}
