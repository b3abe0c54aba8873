//! appliancectl's client library against the real daemon in dev mode: trust on first use
//! by public-key pin, the forced password change, typed status, restart request.

use appliance_tests::dev::{state_dir, DevDaemon};
use appliancectl::blocking::{fetch_fingerprint, Client};
use appliancectl::{Endpoint, Trust};
use std::path::Path;

#[test]
fn appliancectl_drives_the_real_daemon() {
    let d = DevDaemon::start(
        Path::new(env!("CARGO_BIN_EXE_appliance-daemon")),
        &state_dir("ctl"),
        false,
        &[("APPLIANCE_PROFILE", "box")],
    );
    let endpoint = Endpoint::from(d.https);
    let pin = fetch_fingerprint(&endpoint).unwrap();
    let mut c = Client::new(endpoint.clone(), &Trust::Pinned { sha256: pin }).unwrap();

    assert_eq!(c.health().unwrap().status, "ok");
    let session = c.login("admin", "password").unwrap();
    assert!(session.must_change_password);
    let err = c.status().unwrap_err();
    assert!(err.is_must_change_password(), "{err}");
    c.change_password("password", "ctl-secret-1").unwrap();

    let status = c.status().unwrap();
    assert_eq!(status.model, "Bomgar Box");
    assert!(status.specs.cpu.unwrap().logical_cores >= 1);
    // The pin the appliance shows is the one the client pinned.
    assert_eq!(
        status.certificate_sha256,
        appliancectl::tls::format_fingerprint(&pin)
    );
    // The typed calls for what the administrator manages.
    let servers = vec!["ntp.example.com".to_string()];
    assert_eq!(c.set_time_servers(&servers).unwrap().servers, servers);
    assert_eq!(c.time().unwrap().servers, servers);
    let network = c.network().unwrap();
    assert!(!network.interfaces.is_empty());
    assert!(!network.applied, "dev mode applies nothing");
    let err = c
        .set_network(&serde_json::json!({"interfaces": [{"mac": "nope"}]}))
        .unwrap_err();
    assert_eq!(err.api_code(), Some("invalid_network"), "{err}");
    assert_eq!(err.problems()[0].field, "interfaces[0].mac");
    assert_eq!(c.updates().unwrap().running.slot, "A");
    assert_eq!(
        c.certificate().unwrap().certificate_sha256,
        appliancectl::tls::format_fingerprint(&pin)
    );
    assert_eq!(c.reboot().unwrap().status, "rebooting");

    // A wrong pin is refused before any request is sent.
    let mut wrong = pin;
    wrong[0] ^= 1;
    let other = Client::new(endpoint, &Trust::Pinned { sha256: wrong }).unwrap();
    let err = other.health().unwrap_err();
    assert!(err.to_string().contains("fingerprint"), "{err}");
}
