use super::channel::same_installation;
use super::*;
use api_types::{PeerAddress, PeerFacts};

fn facts(version: &str, sites: &[(&str, &str)]) -> PeerFacts {
    PeerFacts {
        appliance_id: "a".into(),
        version: version.into(),
        profile: "box".into(),
        sites: sites
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        ..PeerFacts::default()
    }
}

#[test]
fn a_pair_needs_the_same_version_and_site_packages_not_the_same_profile() {
    let ours = facts("1.2.0", &[("portal", "3.1.0")]);
    let mut vm = ours.clone();
    vm.profile = "vm".into();
    same_installation(&ours, &vm).unwrap();
    let err = same_installation(&ours, &facts("1.3.0", &[("portal", "3.1.0")])).unwrap_err();
    assert_eq!(err.code(), "version_mismatch");
    assert!(err.to_string().contains("1.2.0, the other 1.3.0"), "{err}");
    let err = same_installation(&ours, &facts("1.2.0", &[])).unwrap_err();
    assert!(
        err.to_string()
            .contains("this appliance has portal 3.1.0, the other no site package"),
        "{err}"
    );
    let err = same_installation(&ours, &facts("1.2.0", &[("portal", "3.0.0")])).unwrap_err();
    assert_eq!(err.code(), "version_mismatch");
}

#[test]
fn peer_addresses_are_checked_before_anything_is_sent() {
    let address = |host: &str, port| PeerAddress {
        host: host.into(),
        port,
    };
    let e = endpoint("backup", &address(" 192.0.2.7 ", 8443)).unwrap();
    assert_eq!((e.host.as_str(), e.port), ("192.0.2.7", 8443));
    let e = endpoint("backup", &address("[2001:db8::7]", 443)).unwrap();
    assert_eq!(e.host, "2001:db8::7");
    for (host, port) in [("", 443), ("b.example", 0), ("a b", 443), ("x/y", 443)] {
        let err = endpoint("reverse", &address(host, port)).unwrap_err();
        assert_eq!(err.code(), "invalid_address", "{host:?}:{port}");
        assert!(err.to_string().starts_with("the reverse address"), "{err}");
    }
}

#[test]
fn every_refusal_has_a_code_and_a_sentence() {
    for err in [
        FailoverError::NoKey,
        FailoverError::KeysDiffer,
        FailoverError::PeerNoKey("b:443".into()),
        FailoverError::SelfPair("b:443".into()),
        FailoverError::UnknownChallenge,
        FailoverError::NotYourPeer,
        FailoverError::PairBroken { at: 1 },
        FailoverError::Role(pair::Refusal::AlreadyPaired(pair::Role::Backup)),
    ] {
        assert!(!err.code().is_empty());
        assert!(err.to_string().len() > 20, "{err}");
    }
    assert_eq!(
        FailoverError::Role(pair::Refusal::NotPaired).code(),
        "not_paired"
    );
}

#[test]
fn the_stored_record_never_shows_its_key_in_a_view_field() {
    let key = pair::Key::parse("0123-4567-89AB-CDEF-GHJK-MNPQ-RSTV").unwrap();
    let record = PairRecord {
        key: Some(key.as_stored().to_string()),
        ..PairRecord::default()
    };
    assert_eq!(record.key(), Some(key.clone()));
    let shown = serde_json::to_string(&api_types::Failover {
        key_fingerprint: record.key().map(|k| k.fingerprint()),
        ..api_types::Failover::default()
    })
    .unwrap();
    assert!(!shown.contains(key.as_stored()), "{shown}");
}

#[test]
fn the_peers_sentence_becomes_a_clause_of_ours() {
    assert_eq!(
        super::channel::clause(
            "The backup cannot reach the primary back at h:1: refused; nothing was changed."
        ),
        "the backup cannot reach the primary back at h:1: refused"
    );
    assert_eq!(super::channel::clause(""), "");
}

#[test]
fn a_damaged_stored_pin_gives_no_pin_and_a_sentence() {
    let peer = |pin: String| PeerRecord {
        pin,
        ..PeerRecord::default()
    };
    assert_eq!(peer("ab".repeat(32)).pin_bytes(), Some([0xab; 32]));
    for damaged in [
        String::new(),
        "ab".repeat(31),
        "zz".repeat(32),
        "ab".repeat(33),
    ] {
        assert_eq!(peer(damaged.clone()).pin_bytes(), None, "{damaged:?}");
    }
    let err = FailoverError::BadPin {
        appliance_id: "b".into(),
    };
    assert_eq!(err.code(), "internal");
    assert!(
        err.to_string().contains("break the failover relationship"),
        "{err}"
    );
}
