//! The `appliancectl` binary against a small HTTPS appliance, as a script would run it.
// Unsafe code: pre_exec (setsid) to run the CLI without a controlling terminal.
#![allow(unsafe_code)]

mod common;

use appliancectl::format_fingerprint;
use common::{scratch_dir, TestServer, PASSWORD, STATUS_BODY};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// One operator's machine: its own configuration directory.
struct Operator {
    config: PathBuf,
    host: String,
}

impl Operator {
    fn new(server: &TestServer) -> Self {
        Operator {
            config: scratch_dir("config"),
            host: server.addr.to_string(),
        }
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = Command::new(env!("CARGO_BIN_EXE_appliancectl"));
        command
            .args(args)
            .env("XDG_CONFIG_HOME", &self.config)
            .env("APPLIANCE_HOST", &self.host)
            .env_remove("APPLIANCE_PASSWORD")
            .env_remove("APPLIANCE_NEW_PASSWORD")
            .envs(env.iter().copied());
        // SAFETY: setsid is async-signal-safe. It detaches the command from any terminal,
        // so that it behaves as in a script (it must never wait for a person here).
        unsafe {
            command.pre_exec(|| {
                nix::unistd::setsid()
                    .map(|_| ())
                    .map_err(std::io::Error::from)
            });
        }
        let Output {
            status,
            stdout,
            stderr,
        } = command.output().unwrap();
        Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8(stdout).unwrap(),
            stderr: String::from_utf8(stderr).unwrap(),
        }
    }

    fn host_file(&self) -> PathBuf {
        let stem = self.host.replace(':', "_");
        self.config
            .join("appliancectl")
            .join("hosts")
            .join(format!("{stem}.json"))
    }

    fn login(&self, server: &TestServer) -> Run {
        let pin = format_fingerprint(&server.fingerprint);
        self.run(
            &["--pin", &pin, "login"],
            &[("APPLIANCE_PASSWORD", PASSWORD)],
        )
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn login_remembers_pin_and_token_privately_then_status_reads_well() {
    let server = TestServer::start();
    let operator = Operator::new(&server);
    let run = operator.login(&server);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        format!("Logged in to {} as admin.\n", server.addr)
    );

    let file = operator.host_file();
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(file.parent().unwrap()), 0o700);
    let record: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(
        record["fingerprint"],
        format_fingerprint(&server.fingerprint)
    );
    assert_eq!(record["token"], common::TOKEN);

    // No --pin any more: the remembered one is used.
    let run = operator.run(&["status"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let expected = "\
Model:        RS-1000
Profile:      box
Serial:       SN123
Appliance ID: ap-42
Hostname:     appliance
Version:      1.2.0 (slot A)
Uptime:       2 h 03 min
Time:         2025-01-02T03:04:05Z
CPU:          Xeon E-2224, 4 cores, 3400 MHz
Memory:       4.0 GiB (3.0 GiB available)
Disk sda:     64.0 GiB, QEMU HARDDISK
NIC eth0:     up, 1000 Mb/s, 52:54:00:12:34:56, 10.0.2.15/24
";
    assert_eq!(run.stdout, expected);
    assert!(server
        .authorizations()
        .iter()
        .all(|a| a.as_deref() == Some(&format!("Bearer {}", common::TOKEN))));

    let run = operator.run(&["status", "--json"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, format!("{STATUS_BODY}\n"));
}

#[test]
fn health_needs_no_login() {
    let server = TestServer::start();
    let operator = Operator::new(&server);
    let pin = format_fingerprint(&server.fingerprint);
    let run = operator.run(&["--pin", &pin, "health"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "Status:  ok\nVersion: 1.2.0\nSlot:    A\nProfile: vm\n"
    );
}

#[test]
fn an_unknown_certificate_is_not_trusted_without_a_person() {
    let server = TestServer::start();
    let operator = Operator::new(&server);
    let run = operator.run(&["login"], &[("APPLIANCE_PASSWORD", PASSWORD)]);
    assert_eq!(run.code, 1);
    let pin = format_fingerprint(&server.fingerprint);
    assert!(
        run.stderr.starts_with("appliancectl: the certificate of"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("--pin {pin}")),
        "{}",
        run.stderr
    );
    assert!(server.authorizations().is_empty());
    assert!(!operator.host_file().exists());

    let run = operator.run(&["fingerprint"], &[]);
    assert_eq!((run.code, run.stdout), (0, format!("{pin}\n")));
}

#[test]
fn a_wrong_pin_is_refused_with_the_fingerprint_seen() {
    let server = TestServer::start();
    let operator = Operator::new(&server);
    let wrong = "00".repeat(32);
    let run = operator.run(&["--pin", &wrong, "health"], &[]);
    assert_eq!(run.code, 1);
    let seen = format_fingerprint(&server.fingerprint);
    assert!(
        run.stderr.starts_with(&format!(
            "appliancectl: the certificate of {} has SHA-256 fingerprint {seen}, not the pinned",
            server.addr
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn the_first_login_leads_to_passwd() {
    let server = TestServer::start_fresh();
    let operator = Operator::new(&server);
    let run = operator.login(&server);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stderr,
        "The password must be changed first: run `appliancectl passwd`.\n"
    );

    let run = operator.run(&["status"], &[]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "appliancectl: The password must be changed first: run `appliancectl passwd`.\n"
    );

    let weak = [
        ("APPLIANCE_PASSWORD", PASSWORD),
        ("APPLIANCE_NEW_PASSWORD", "short"),
    ];
    let run = operator.run(&["passwd"], &weak);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "appliancectl: The new password needs at least 8 characters. (weak_password)\n"
    );

    let good = [
        ("APPLIANCE_PASSWORD", PASSWORD),
        ("APPLIANCE_NEW_PASSWORD", "a-long-one"),
    ];
    let run = operator.run(&["passwd"], &good);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "Password changed.\n"),
        "{}",
        run.stderr
    );
    assert_eq!(operator.run(&["status"], &[]).code, 0);
}

#[test]
fn wrong_credentials_are_an_api_error() {
    let server = TestServer::start();
    let operator = Operator::new(&server);
    let pin = format_fingerprint(&server.fingerprint);
    let run = operator.run(&["--pin", &pin, "login"], &[("APPLIANCE_PASSWORD", "nope")]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "appliancectl: The user name or the password is wrong. (invalid_credentials)\n"
    );
}

#[test]
fn power_actions_ask_unless_told_yes() {
    let server = TestServer::start();
    let operator = Operator::new(&server);
    assert_eq!(operator.login(&server).code, 0);

    let run = operator.run(&["reboot"], &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("add --yes"), "{}", run.stderr);
    assert!(server.appliance.power.lock().unwrap().is_empty());

    let run = operator.run(&["reboot", "--yes"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        format!("The appliance at {} is rebooting.\n", server.addr)
    );
    let run = operator.run(&["--json", "shutdown", "-y"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "{\"status\":\"powering_off\"}\n");
}

#[test]
fn logout_forgets_the_token_but_keeps_the_pin() {
    let server = TestServer::start();
    let operator = Operator::new(&server);
    assert_eq!(operator.login(&server).code, 0);
    let run = operator.run(&["logout"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(operator.host_file()).unwrap()).unwrap();
    assert_eq!(record.get("token"), None);
    assert!(record["fingerprint"].is_string());

    let run = operator.run(&["status"], &[]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("not logged in to"), "{}", run.stderr);
    // The remembered pin still serves calls without a session.
    assert_eq!(operator.run(&["health"], &[]).code, 0);
}

#[test]
fn usage_errors_exit_2() {
    let server = TestServer::start();
    let operator = Operator::new(&server);
    for args in [
        &["frobnicate"][..],
        &["status", "--bogus"],
        &[],
        &["--host", "a/b", "health"],
    ] {
        let run = operator.run(args, &[]);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.starts_with("appliancectl: "), "{}", run.stderr);
    }
    let run = operator.run(&["health"], &[("APPLIANCE_HOST", "")]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("APPLIANCE_HOST"), "{}", run.stderr);
    let run = operator.run(&["--help"], &[]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.starts_with("Usage: appliancectl"));
}

#[test]
fn a_closed_port_is_exit_1_with_the_address() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let config = scratch_dir("config");
    let operator = Operator {
        config,
        host: format!("127.0.0.1:{port}"),
    };
    let run = operator.run(&["--pin", &"00".repeat(32), "health"], &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.starts_with(&format!(
            "appliancectl: cannot connect to 127.0.0.1:{port}: "
        )),
        "{}",
        run.stderr
    );
}
