//! Every body survives a write and a read, the daemon's answers have the API's exact JSON,
//! and answers from a newer appliance (unknown fields, missing ones) still read.

use super::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;
use std::fmt::Debug;

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: T) {
    let text = serde_json::to_string(&value).unwrap();
    let back: T = serde_json::from_str(&text).unwrap();
    assert_eq!(back, value, "{text}");
}

#[test]
fn every_body_round_trips() {
    round_trip(Health {
        status: "ok".into(),
        version: "1.2.0".into(),
        slot: "A".into(),
        profile: "vm".into(),
    });
    round_trip(Credentials {
        username: "admin".into(),
        password: "secret".into(),
        totp: Some("123456".into()),
    });
    round_trip(Session {
        token: "t0k".into(),
        must_change_password: true,
        must_enrol_totp: false,
    });
    round_trip(PasswordChange {
        current: "old".into(),
        new: "new".into(),
    });
    round_trip(RestoreReport {
        restored_from: BackupInfo {
            format: 1,
            profile: "box".into(),
            extras: vec!["network".into()],
            ..BackupInfo::default()
        },
        left_out: vec![LeftOut {
            what: "appliance id".into(),
            why: "the machine's".into(),
        }],
        network: NetworkOutcome {
            state: "factory_defaults".into(),
            hostname: String::new(),
            note: Some("no such NIC".into()),
        },
        history: Some(HistoryOutcome {
            added: 3,
            already_present: 1,
        }),
        session: "kept".into(),
        ..RestoreReport::default()
    });
    round_trip(PowerAction {
        status: "rebooting".into(),
    });
    round_trip(FactoryReset {
        confirm: Some("factory-reset".into()),
        then: Some("reboot".into()),
    });
    round_trip(ResetAccepted {
        status: "resetting".into(),
        then: "poweroff".into(),
    });
    round_trip(Certificate {
        installed: true,
        certificate_sha256: "AB:CD".into(),
    });
    round_trip(CertificateInstall {
        certificate: "-----BEGIN CERTIFICATE-----".into(),
        key: "-----BEGIN PRIVATE KEY-----".into(),
    });
    round_trip(Time {
        servers: vec!["pool.ntp.org".into()],
        synchronized: true,
        stratum: Some(2),
        server: Some("pool.ntp.org".into()),
        offset_seconds: Some(-0.25),
        last_sync: Some(1_700_000_000),
        time: "2026-01-01T00:00:00Z".into(),
        kernel_synchronized: true,
        daemon_error: None,
        sources: vec![TimeSource {
            name: "pool.ntp.org".into(),
            address: "192.0.2.1:123".into(),
            offset_seconds: Some(0.5),
            unanswered_polls: 1,
            last_update: None,
        }],
    });
    round_trip(TimeRequest {
        servers: vec!["192.0.2.1".into()],
    });
    round_trip(Installed {
        kind: "site".into(),
        name: "portal".into(),
        version: "2.0.0".into(),
        slot: None,
        restart_required: false,
        previous: Some("1.0.0".into()),
    });
    round_trip(Progress {
        phase: "writing".into(),
        version: Some("1.2.0".into()),
        bytes: 10,
        total: 20,
        message: None,
    });
    round_trip(Status {
        model: "Virtual Appliance".into(),
        profile: "vm".into(),
        serial: None,
        appliance_id: "ap-1".into(),
        hostname: "appliance".into(),
        version: "1.2.0".into(),
        slot: "A".into(),
        versions: Versions {
            base: "1.2.0".into(),
            site: None,
        },
        uptime_seconds: 60,
        time: "2026-01-01T00:00:00Z".into(),
        daemon_rss_bytes: Some(1 << 20),
        certificate_sha256: "AB:CD".into(),
        specs: Specs {
            dmi: Dmi {
                vendor: Some("QEMU".into()),
                ..Dmi::default()
            },
            cpu: Some(Cpu {
                model: None,
                logical_cores: 2,
                mhz: Some(2400.0),
            }),
            memory: Some(Memory {
                total_bytes: 2 << 30,
                available_bytes: 1 << 30,
            }),
            uptime_seconds: Some(60),
            load_average: Some([0.5, 0.25, 0.125]),
            disks: vec![Disk {
                name: "vda".into(),
                size_bytes: 8 << 30,
                partitions: vec![Partition {
                    name: "vda1".into(),
                    number: 1,
                    size_bytes: 1 << 20,
                    label: Some("root-a".into()),
                }],
                ..Disk::default()
            }],
            nics: vec![Nic {
                name: "eth0".into(),
                carrier: true,
                ipv4: vec!["10.0.2.15/24".into()],
                ..Nic::default()
            }],
            clock: ClockState {
                utc: "2026-01-01T00:00:00Z".into(),
                unix: 1_767_225_600,
                ..ClockState::default()
            },
        },
        sanitization: Some(SanitizationRecord {
            method: "zeroout".into(),
            bytes: 1 << 30,
            ..SanitizationRecord::default()
        }),
        scheduled_backup: ScheduledBackup {
            enabled: true,
            next_run: Some(1_796_608_800),
            last: Some(BackupRun {
                at: 1_796_522_460,
                trigger: "scheduled".into(),
                file: Some("appliance-0123abcd-vm-1.2.0-20261206T020000Z.backup".into()),
                size: Some(40_960),
                destination: Some("sftp://backup@192.0.2.7:22/backups".into()),
                push_error: Some("cannot reach sftp://backup@192.0.2.7:22/backups".into()),
                ..BackupRun::default()
            }),
        },
        update_keys: UpdateKeys {
            trusted: vec!["0123456789abcdef".into()],
            development: false,
        },
        failover: Some(PairStatus {
            role: Role::Backup,
            epoch: 3,
            peer: "10.0.0.1:443".into(),
            peer_reachable: true,
            last_sync: Some(1_796_522_460),
            generation: 7,
            lag_seconds: 0,
            last_error: Some(FailoverEvent {
                at: 1_796_522_400,
                message: "the sync did not finish".into(),
            }),
        }),
        certificates_expiring: vec![ExpiringCertificate {
            id: "0123456789abcdef".into(),
            name: "Portal".into(),
            not_after: "2027-01-05T00:00:00Z".into(),
            days_left: 5,
            assigned: vec!["10.0.0.5".into()],
        }],
    });
    round_trip(Updates {
        running: Running {
            version: "1.2.0".into(),
            slot: "A".into(),
            profile: "vm".into(),
        },
        slots: [(
            "B".to_string(),
            SlotInfo {
                version: "1.3.0".into(),
                installed_at: Some(1),
            },
        )]
        .into(),
        pending: Some(PendingInstall {
            slot: "B".into(),
            version: "1.3.0".into(),
            from_version: "1.2.0".into(),
            installed_at: 1,
        }),
        floor: Some("1.0.0".into()),
        sites: [(
            "portal".to_string(),
            SiteInfo {
                version: "2.0.0".into(),
                previous: None,
                installed_at: 2,
            },
        )]
        .into(),
        rollback: None,
        installing: false,
        history: vec![UpdateEvent {
            at: 1,
            kind: "installed".into(),
            version: "1.3.0".into(),
            slot: Some("B".into()),
            package: None,
            detail: String::new(),
        }],
        catalog: Some(CatalogInfo {
            url: "https://updates.example/catalog.json".into(),
            checked_at: 3,
            issued: Some(1),
            expires: None,
            problem: None,
        }),
        last_check_failure: Some(CatalogFailure {
            at: 4,
            code: "unreachable".into(),
            message: "No answer.".into(),
        }),
        available: vec![Available {
            id: "base-1.3.0".into(),
            kind: "base".into(),
            name: "base".into(),
            version: "1.3.0".into(),
            profiles: vec!["vm".into()],
            requires: vec![Requirement {
                name: "portal".into(),
                min_version: "2.0.0".into(),
            }],
            size: 100,
            installable: false,
            blocked: Some("Already installed.".into()),
            blocked_code: Some("already_installed".into()),
        }],
    });
    round_trip(ErrorBody {
        error: "invalid_time".into(),
        message: "The servers are refused.".into(),
        problems: vec![Problem {
            field: "servers[0]".into(),
            message: "not a host name".into(),
        }],
    });
}

/// The JSON the daemon writes, byte for byte: field order and left-out fields are the API.
#[test]
fn answers_have_the_documented_json() {
    let error = ErrorBody {
        error: "not_found".into(),
        message: "Nothing here.".into(),
        problems: Vec::new(),
    };
    assert_eq!(
        serde_json::to_string(&error).unwrap(),
        r#"{"error":"not_found","message":"Nothing here."}"#
    );
    let installed = Installed {
        kind: "base".into(),
        name: "base".into(),
        version: "1.2.0".into(),
        slot: Some("B".into()),
        restart_required: true,
        previous: None,
    };
    assert_eq!(
        serde_json::to_string(&installed).unwrap(),
        r#"{"kind":"base","name":"base","version":"1.2.0","slot":"B","restart_required":true}"#
    );
    let health = Health {
        status: "ok".into(),
        version: "1.2.0".into(),
        slot: "A".into(),
        profile: "box".into(),
    };
    assert_eq!(
        serde_json::to_string(&health).unwrap(),
        r#"{"status":"ok","version":"1.2.0","slot":"A","profile":"box"}"#
    );
}

/// The two largest answers, empty: every field in the API's order (the updates view ends
/// with the catalog's three fields, as the daemon always wrote them).
#[test]
fn status_and_updates_keep_their_field_order() {
    assert_eq!(
        serde_json::to_string(&Updates::default()).unwrap(),
        concat!(
            r#"{"running":{"version":"","slot":"","profile":""},"slots":{},"pending":null,"#,
            r#""floor":null,"sites":{},"rollback":null,"installing":false,"history":[],"#,
            r#""catalog":null,"last_check_failure":null,"available":[]}"#
        )
    );
    assert_eq!(
        serde_json::to_string(&Status::default()).unwrap(),
        concat!(
            r#"{"model":"","profile":"","serial":null,"appliance_id":"","hostname":"","#,
            r#""version":"","slot":"","versions":{"base":"","site":null},"uptime_seconds":0,"#,
            r#""time":"","daemon_rss_bytes":null,"certificate_sha256":"","specs":{"dmi":"#,
            r#"{"vendor":null,"product":null,"serial":null,"board":null},"cpu":null,"#,
            r#""memory":null,"uptime_seconds":null,"load_average":null,"disks":[],"nics":[],"#,
            r#""clock":{"utc":"","unix":0,"kernel_synchronized":false,"max_error_us":null,"#,
            r#""est_error_us":null}},"sanitization":null,"#,
            r#""scheduled_backup":{"enabled":false,"next_run":null,"last":null},"#,
            r#""update_keys":{"trusted":[],"development":false},"failover":null,"certificates_expiring":[]}"#
        )
    );
}

#[test]
fn answers_from_a_newer_appliance_still_read() {
    let health: Health = serde_json::from_value(json!({
        "status": "ok",
        "version": "9.0.0",
        "slot": "B",
        "profile": "vm",
        "uptime_seconds": 12,
    }))
    .unwrap();
    assert_eq!(health.running(), ("9.0.0", "B"));

    let time: Time = serde_json::from_value(json!({
        "servers": ["a"],
        "synchronized": false,
        "leap_second": "none",
        "sources": [{"name": "a", "reachability": 255}],
    }))
    .unwrap();
    assert_eq!(time.servers, ["a"]);
    assert_eq!(time.sources[0].name, "a");
    assert_eq!(time.time, "");

    let error: ErrorBody =
        serde_json::from_value(json!({"error": "busy", "retry_after": 3})).unwrap();
    assert_eq!(error.error, "busy");
    assert!(error.problems.is_empty());
}

#[test]
fn requests_the_daemon_parses_strictly_stay_strict() {
    let mistyped = json!({"username": "admin", "pasword": "x", "password": "y"});
    assert!(serde_json::from_value::<Credentials>(mistyped).is_err());
    assert!(serde_json::from_value::<TimeRequest>(json!({"servers": [], "pool": 1})).is_err());
    assert!(
        serde_json::from_value::<PasswordChange>(json!({"current": "a", "new": "b", "x": 1}))
            .is_err()
    );
    // The factory reset has always taken what it knows and ignored the rest.
    let reset: FactoryReset = serde_json::from_value(json!({"then": "reboot", "x": 1})).unwrap();
    assert_eq!(reset.confirm, None);
    assert_eq!(reset.then.as_deref(), Some("reboot"));
}
