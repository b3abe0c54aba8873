//! The `appliancectl` command against the real daemon in dev mode, as an administrator runs
//! it: time servers, the network (shown, a wrong file refused, a change confirmed), package
//! upload (a corrupted package refused with its code, a signed one installed), the
//! factory reset (refused without a person's typed word, recorded with --yes), the
//! failover pair (key generated and typed, a refusal, establish, status, sync now, break),
//! and a settings backup saved to a file and restored on another appliance.
// Unsafe code: pre_exec (setsid) to run the CLI without a controlling terminal.
#![allow(unsafe_code)]

use appliance_tests::dev::{state_dir, DevDaemon};
use appliancectl::blocking::fetch_fingerprint;
use appliancectl::{format_fingerprint, Endpoint};
use package::{Metadata, Signer, Version};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

const PASSWORD: &str = "ctl-admin-secret";

/// The `appliancectl` binary of this workspace, built (or found up to date) by cargo: a
/// dependency's binaries are not built for another package's tests.
fn appliancectl() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .args(["build", "-p", "appliancectl", "--bin", "appliancectl"])
            .arg("--message-format=json-render-diagnostics")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stderr(Stdio::inherit());
        if !cfg!(debug_assertions) {
            build.arg("--release");
        }
        let out = build.output().expect("run cargo build");
        assert!(out.status.success(), "cargo build -p appliancectl failed");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "appliancectl")
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .expect("cargo names the appliancectl executable")
    })
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// One administrator's machine: its own appliancectl configuration, logged in.
struct Operator {
    config: PathBuf,
    host: String,
}

impl Operator {
    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut command = Command::new(appliancectl());
        command
            .args(args)
            .env("XDG_CONFIG_HOME", &self.config)
            .env("APPLIANCE_HOST", &self.host)
            .env_remove("APPLIANCE_PASSWORD")
            .env_remove("APPLIANCE_NEW_PASSWORD")
            .envs(env.iter().copied());
        command
    }

    /// Run as a script would: no terminal (a new session without a controlling one).
    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = self.command(args, env);
        // SAFETY: setsid is async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                nix::unistd::setsid()
                    .map(|_| ())
                    .map_err(std::io::Error::from)
            });
        }
        let out = command.output().expect("run appliancectl");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }

    /// Run with `input` on its standard input (a file piped in, a password from a script).
    fn run_with_input(&self, args: &[&str], input: &str) -> Run {
        let mut child = self
            .command(args, &[])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start appliancectl");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }

    /// Run with a terminal (a pseudo-terminal as controlling terminal) on which `typed` is
    /// entered; what the terminal showed comes back in `stderr`.
    fn run_typing(&self, args: &[&str], typed: &str) -> Run {
        let pty = nix::pty::openpty(None, None).expect("a pseudo-terminal");
        let (master, slave): (OwnedFd, OwnedFd) = (pty.master, pty.slave);
        let slave_fd = slave.as_raw_fd();
        let mut command = self.command(args, &[]);
        command.stdin(Stdio::null());
        // SAFETY: setsid and ioctl are async-signal-safe; the descriptor is open.
        unsafe {
            command.pre_exec(move || {
                nix::unistd::setsid().map_err(std::io::Error::from)?;
                if nix::libc::ioctl(slave_fd, nix::libc::TIOCSCTTY as _, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start appliancectl");
        drop(slave);
        let mut master = std::fs::File::from(master);
        master.write_all(typed.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        // What the terminal showed (the prompt); EIO once the child is gone ends it.
        let mut shown = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            shown.extend_from_slice(&buf[..n]);
        }
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: format!(
                "{}{}",
                String::from_utf8_lossy(&shown),
                String::from_utf8(out.stderr).unwrap()
            ),
        }
    }
}

/// A daemon in dev mode and an operator logged in to it with the password changed.
fn start(tag: &str, prepare: impl FnOnce(&Path)) -> (DevDaemon, Operator) {
    let state = state_dir(tag);
    prepare(&state);
    let d = DevDaemon::start(
        Path::new(env!("CARGO_BIN_EXE_appliance-daemon")),
        &state,
        false,
        &[("APPLIANCE_SLOT", "A"), ("APPLIANCE_PROFILE", "vm")],
    );
    let config = state.join("operator");
    std::fs::create_dir_all(&config).unwrap();
    let operator = Operator {
        config,
        host: d.https.to_string(),
    };
    let pin = format_fingerprint(&fetch_fingerprint(&Endpoint::from(d.https)).unwrap());
    let run = operator.run(
        &["--pin", &pin, "login"],
        &[("APPLIANCE_PASSWORD", "password")],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = operator.run(
        &["passwd"],
        &[
            ("APPLIANCE_PASSWORD", "password"),
            ("APPLIANCE_NEW_PASSWORD", PASSWORD),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    (d, operator)
}

fn ok(run: Run) -> Run {
    assert_eq!(
        run.code, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    run
}

#[test]
fn time_servers_set_then_shown() {
    let (_d, op) = start("ctl-time", |_| {});
    let run = ok(op.run(
        &["time", "set-servers", "ntp1.example.com", "192.0.2.123"],
        &[],
    ));
    assert!(run.stdout.contains("NTP servers set"), "{}", run.stdout);
    let run = ok(op.run(&["time"], &[]));
    assert!(
        run.stdout
            .starts_with("Servers:      ntp1.example.com, 192.0.2.123\nSynchronized: "),
        "{}",
        run.stdout
    );
    let run = ok(op.run(&["--json", "time"], &[]));
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        json["servers"],
        serde_json::json!(["ntp1.example.com", "192.0.2.123"])
    );

    let run = op.run(&["time", "set-servers", "not a host!"], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("(invalid_time)"), "{}", run.stderr);
    let run = ok(op.run(&["time", "set-servers", "--none"], &[]));
    assert!(
        run.stdout.contains("Servers:      none (NTP is off)"),
        "{}",
        run.stdout
    );
}

#[test]
fn network_shown_a_wrong_file_refused_and_a_change_confirmed() {
    let (d, op) = start("ctl-network", |_| {});
    let run = ok(op.run(&["network"], &[]));
    assert!(run.stdout.starts_with("Hostname:"), "{}", run.stdout);
    assert!(
        run.stdout.contains("Interface eth0: 52:54:00:12:34:56, up"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("Note: "), "{}", run.stdout);

    let work = d.state.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let bad = work.join("bad.json");
    std::fs::write(
        &bad,
        r#"{"interfaces":[{"mac":"52:54:00:12:34:56","addresses":["192.168.1.300/24"]}]}"#,
    )
    .unwrap();
    let before = ok(op.run(&["--json", "network"], &[])).stdout;
    let run = op.run(&["network", "set", bad.to_str().unwrap()], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.starts_with(
            "appliancectl: The network settings have 1 problem; nothing was changed. \
             (invalid_network)\n  interfaces[0].addresses[0]: "
        ),
        "{}",
        run.stderr
    );
    let mut unchanged: serde_json::Value =
        serde_json::from_str(&ok(op.run(&["--json", "network"], &[])).stdout).unwrap();
    let mut was: serde_json::Value = serde_json::from_str(&before).unwrap();
    for v in [&mut unchanged, &mut was] {
        v["interfaces"] = serde_json::Value::Null; // lease timers move
    }
    assert_eq!(unchanged, was);

    let run = op.run(
        &["network", "set", work.join("absent.json").to_str().unwrap()],
        &[],
    );
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("cannot read"), "{}", run.stderr);

    let good = r#"{
        "interfaces": [
            {"mac": "52:54:00:12:34:56", "addresses": ["192.168.1.10/24"]},
            {"mac": "52:54:00:12:34:57", "dhcp": true}
        ],
        "gateways": ["192.168.1.1"],
        "dns": {"servers": ["192.168.1.53"]}
    }"#;
    let run = ok(op.run_with_input(&["network", "set", "-"], good));
    let stdout = run.stdout;
    assert!(stdout.starts_with("Changed:\n"), "{stdout}");
    assert!(
        stdout.contains("  interface 52:54:00:12:34:56: up DHCP -> up 192.168.1.10/24\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  gateways: none -> 192.168.1.1\n"),
        "{stdout}"
    );
    assert!(stdout.contains("Confirm within "), "{stdout}");
    let run = ok(op.run(&["network"], &[]));
    assert!(
        run.stdout.contains("Pending change by admin"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("DNS servers: 192.168.1.53"),
        "{}",
        run.stdout
    );

    let run = ok(op.run(&["network", "confirm"], &[]));
    assert_eq!(
        run.stdout,
        "Confirmed: the appliance keeps its new network settings.\n"
    );
    let run = op.run(&["network", "confirm"], &[]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("(no_pending_change)"), "{}", run.stderr);
}

/// A base package of 3 MiB for the vm profile, signed by `signer`.
fn package(dir: &Path, version: &str, signer: &Signer) -> PathBuf {
    let slot = dir.join(format!("{version}.sqfs"));
    let payload: Vec<u8> = (0..(3 << 20)).map(|i| (i % 251) as u8).collect();
    std::fs::write(&slot, &payload).unwrap();
    let out = dir.join(format!("{version}.pkg"));
    package::build_base(
        &slot,
        &Metadata {
            version: version.parse::<Version>().unwrap(),
            profiles: vec!["vm".into()],
            requires: vec![],
            floor: None,
            created: 1_700_000_000,
        },
        &out,
        std::slice::from_ref(signer),
    )
    .unwrap();
    out
}

#[test]
fn update_upload_refuses_a_corrupted_package_and_installs_a_signed_one() {
    let signer = Signer::generate().unwrap();
    let public = signer.public().to_text();
    let (d, op) = start("ctl-updates", |state| {
        std::fs::create_dir_all(state.join("keys")).unwrap();
        std::fs::write(state.join("keys/vendor.pub"), &public).unwrap();
    });
    let work = d.state.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let good = package(&work, "1.0.1", &signer);
    let bytes = std::fs::read(&good).unwrap();
    let grubenv = || std::fs::read(d.state.join("grubenv")).ok();
    let before = grubenv();

    // One flipped byte in the middle of the payload.
    let start: Vec<u8> = (0..64).collect();
    let at = bytes
        .windows(64)
        .position(|w| w == start.as_slice())
        .expect("the payload inside the package");
    let mut corrupted = bytes.clone();
    corrupted[at + 1_000_000] ^= 1;
    let bad = work.join("corrupted.pkg");
    std::fs::write(&bad, &corrupted).unwrap();
    let run = op.run(&["update", "upload", bad.to_str().unwrap()], &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stderr.starts_with("appliancectl: "), "{}", run.stderr);
    assert!(run.stderr.ends_with("(hash_mismatch)\n"), "{}", run.stderr);
    assert_eq!(grubenv(), before, "boot order untouched");

    let run = op.run(
        &["update", "upload", work.join("nope.pkg").to_str().unwrap()],
        &[],
    );
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("cannot read"), "{}", run.stderr);

    let run = ok(op.run(&["update", "upload", good.to_str().unwrap()], &[]));
    assert!(
        run.stdout.starts_with("Installed 1.0.1 into slot B ("),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("next restart"), "{}", run.stdout);
    assert_ne!(grubenv(), before);

    let run = ok(op.run(&["updates"], &[]));
    assert!(
        run.stdout.contains("Pending: 1.0.1 in slot B (from "),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("failed 1.0.1 slot B: payload"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("installed 1.0.1 slot B"),
        "{}",
        run.stdout
    );
}

#[test]
fn factory_reset_needs_the_typed_word_or_yes() {
    let (d, op) = start("ctl-reset", |_| {});
    let requested = || {
        std::fs::read_to_string(d.state.join("grubenv"))
            .unwrap_or_default()
            .contains("FACTORY_RESET=")
    };

    let run = op.run(&["factory-reset"], &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("add --yes"), "{}", run.stderr);
    assert!(!requested());

    let run = op.run_typing(&["factory-reset", "--then", "reboot"], "factory-rest\n");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("Factory reset of the appliance at"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("appliancectl: \"factory-rest\" is not factory-reset; nothing was done"),
        "{}",
        run.stderr
    );
    let run = op.run_typing(&["factory-reset"], "\n");
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "Nothing done.\n"),
        "{}",
        run.stderr
    );
    assert!(!requested());

    // The password again: none (no terminal, no $APPLIANCE_PASSWORD) or a wrong one, and
    // nothing is requested.
    let run = op.run(&["factory-reset", "--yes", "--then", "reboot"], &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("needs your password again"),
        "{}",
        run.stderr
    );
    let run = op.run(
        &["factory-reset", "--yes", "--then", "reboot"],
        &[("APPLIANCE_PASSWORD", "not the password")],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("(wrong_password)"), "{}", run.stderr);
    assert!(!requested());

    let run = ok(op.run(
        &["factory-reset", "--yes", "--then", "reboot"],
        &[("APPLIANCE_PASSWORD", PASSWORD)],
    ));
    assert!(
        run.stdout
            .contains("is restarting to erase itself; it will then start as new"),
        "{}",
        run.stdout
    );
    let env = std::fs::read_to_string(d.state.join("grubenv")).unwrap();
    assert!(env.contains("FACTORY_RESET=reboot"), "{env}");
}

#[test]
fn certificate_shown_and_replaced_with_the_pin_followed() {
    let (_d, op) = start("ctl-cert", |_| {});
    let run = ok(op.run(&["certificate"], &[]));
    assert!(
        run.stdout
            .starts_with("Certificate:        self-signed by the appliance\n"),
        "{}",
        run.stdout
    );
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["support.example.com".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let dir = op.config.join("pem");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
    let install = [
        "certificate",
        "install",
        cert_file.to_str().unwrap(),
        key_file.to_str().unwrap(),
    ];
    let run = op.run(&install, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("needs your password again"),
        "{}",
        run.stderr
    );
    let run = op.run(&install, &[("APPLIANCE_PASSWORD", "not the password")]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("(wrong_password)"), "{}", run.stderr);
    let run = ok(op.run(&install, &[("APPLIANCE_PASSWORD", PASSWORD)]));
    assert!(
        run.stdout
            .contains("Certificate:        installed by an administrator"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("now pins the new public key"),
        "{}",
        run.stderr
    );
    // The remembered pin followed: the next call trusts the new certificate.
    let run = ok(op.run(&["certificate"], &[]));
    let expected = format_fingerprint(&appliancectl::tls::fingerprint(cert.der()));
    assert!(run.stdout.contains(&expected), "{}", run.stdout);

    let run = op.run(
        &[
            "certificate",
            "install",
            dir.join("cert.pem").to_str().unwrap(),
            dir.join("cert.pem").to_str().unwrap(),
        ],
        &[("APPLIANCE_PASSWORD", PASSWORD)],
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("(invalid_certificate)")
            || run.stderr.contains("(certificate_key_mismatch)"),
        "{}",
        run.stderr
    );

    let run = ok(op.run(
        &["certificate", "self-signed"],
        &[("APPLIANCE_PASSWORD", PASSWORD)],
    ));
    assert!(
        run.stdout.contains("self-signed by the appliance"),
        "{}",
        run.stdout
    );
    ok(op.run(&["certificate"], &[]));
}

#[test]
fn failover_key_establish_status_and_break() {
    let (a, op_a) = start("ctl-pair-a", |_| {});
    let (b, op_b) = start("ctl-pair-b", |_| {});
    let run = ok(op_a.run(&["failover"], &[]));
    assert_eq!(field(&run.stdout, "Role"), "none", "{}", run.stdout);
    assert_eq!(field(&run.stdout, "Key"), "not set", "{}", run.stdout);

    // Generated on A, shown once; typed on B (from the environment, as a script would).
    let run = ok(op_a.run(&["failover", "key", "--generate"], &[]));
    let key = run.stdout.lines().nth(1).unwrap().trim().to_string();
    assert_eq!(key.len(), 64, "{}", run.stdout);
    let fingerprint = run.stdout.lines().nth(2).unwrap().to_string();
    assert!(fingerprint.starts_with("Fingerprint: "), "{}", run.stdout);
    let run = ok(op_b.run(
        &["failover", "key"],
        &[("APPLIANCE_FAILOVER_KEY", key.as_str())],
    ));
    assert!(run.stdout.contains(&fingerprint), "{}", run.stdout);
    let run = op_b.run(
        &["failover", "key"],
        &[("APPLIANCE_FAILOVER_KEY", "too short")],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("(invalid_key)"), "{}", run.stderr);

    // A refusal, then the establish.
    let (a_addr, b_addr) = (a.https.to_string(), b.https.to_string());
    let run = op_a.run(
        &[
            "failover",
            "establish",
            "--backup",
            &a_addr,
            "--reverse",
            &a_addr,
        ],
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("(peer_is_self)"), "{}", run.stderr);
    let run = ok(op_a.run(
        &[
            "failover",
            "establish",
            "--backup",
            &b_addr,
            "--reverse",
            &a_addr,
        ],
        &[],
    ));
    assert_eq!(field(&run.stdout, "Role"), "primary", "{}", run.stdout);
    assert_eq!(
        field(&run.stdout, "Peer"),
        format!("{b_addr} (answering)"),
        "{}",
        run.stdout
    );
    let run = ok(op_b.run(&["--json", "failover"], &[]));
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["role"], "backup");
    assert_eq!(json["epoch"], 1);
    assert_eq!(json["peer"]["port"], a.https.port());

    // Sync now: on the primary, answered with the generation applied; refused on the
    // backup.
    let run = ok(op_a.run(&["failover", "sync"], &[]));
    assert!(
        run.stdout.starts_with("Generation 1 applied on the backup"),
        "{}",
        run.stdout
    );
    let run = ok(op_a.run(&["failover"], &[]));
    assert_eq!(field(&run.stdout, "Generation"), "1", "{}", run.stdout);
    assert_eq!(field(&run.stdout, "Sync lag"), "0 s", "{}", run.stdout);
    // The backup now serves the primary's certificate (the served certificate is part of
    // the service): its operator is told, pins it again and logs in with the primary's
    // password (the accounts are the primary's too).
    let run = op_b.run(&["failover"], &[]);
    assert!(run.stderr.contains("not the pinned"), "{}", run.stderr);
    let pin = format_fingerprint(&fetch_fingerprint(&Endpoint::from(b.https)).unwrap());
    assert_eq!(
        pin,
        format_fingerprint(&fetch_fingerprint(&Endpoint::from(a.https)).unwrap())
    );
    ok(op_b.run(
        &["--pin", &pin, "login"],
        &[("APPLIANCE_PASSWORD", PASSWORD)],
    ));
    let run = op_b.run(&["failover", "sync"], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("(not_primary)"), "{}", run.stderr);

    // Break from the backup, without a terminal: --yes is needed.
    let run = op_b.run(&["failover", "break"], &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let run = ok(op_b.run(&["--json", "failover", "break", "--yes"], &[]));
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["peer_told"], true);
    let run = ok(op_a.run(&["failover"], &[]));
    assert_eq!(field(&run.stdout, "Role"), "none", "{}", run.stdout);
    assert!(
        field(&run.stdout, "Last event").contains("The peer broke"),
        "{}",
        run.stdout
    );
}

/// The value of `name` in `Name: value` lines.
fn field(text: &str, name: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

#[test]
fn backup_saved_to_a_file_and_restored_on_another_appliance() {
    let (_a, a_op) = start("ctl-backup-a", |_| {});
    ok(a_op.run(&["time", "set-servers", "ntp.backup.example"], &[]));
    let dir = a_op.config.parent().unwrap().join("backups");
    std::fs::create_dir_all(&dir).unwrap();
    let pw = dir.join("pw");
    std::fs::write(&pw, "backup password 1\n").unwrap();
    let pw_arg = pw.to_str().unwrap();
    let file = dir.join("a.backup");
    let file_arg = file.to_str().unwrap();

    let run = a_op.run(&["backup", "--password-file", pw_arg, "-o", file_arg], &[]);
    let run = ok(run);
    assert!(run.stdout.starts_with("Backup saved to "), "{}", run.stdout);
    let saved = std::fs::read(&file).unwrap();
    assert!(saved.len() > 1024);
    assert!(String::from_utf8_lossy(&saved).contains("age-encryption.org/v1"));
    // Never over an existing file unless --force.
    let run = a_op.run(&["backup", "--password-file", pw_arg, "-o", file_arg], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("--force"), "{}", run.stderr);
    assert_eq!(std::fs::read(&file).unwrap(), saved);
    let run = ok(a_op.run(
        &[
            "--json",
            "backup",
            "--password-file",
            pw_arg,
            "-o",
            file_arg,
            "--force",
            "--include-history",
        ],
        &[],
    ));
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["bytes"], std::fs::metadata(&file).unwrap().len());
    // The appliance's own file name by default, in the current directory.
    let out = a_op
        .command(&["backup", "--password-file", pw_arg], &[])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let named: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("appliance-") && n.ends_with(".backup"))
        .collect();
    assert_eq!(named.len(), 1, "{named:?}");
    assert!(!std::fs::read_dir(&dir).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .ends_with(".part")));
    // A password too weak for the private keys: refused, nothing saved.
    std::fs::write(dir.join("short"), "short\n").unwrap();
    let weak = dir.join("weak.backup");
    let run = a_op.run(
        &[
            "backup",
            "--password-file",
            dir.join("short").to_str().unwrap(),
            "-o",
            weak.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("(weak_password)"), "{}", run.stderr);
    assert!(!weak.exists());

    let (_b, b_op) = start("ctl-backup-b", |_| {});
    let restore_file = |file_arg: &str, password: &str, json: bool| {
        let mut args = vec!["restore", file_arg, "--password-stdin"];
        if json {
            args.insert(0, "--json");
        }
        b_op.run_with_input(&args, &format!("{password}\n"))
    };
    let restore = |password: &str, json: bool| restore_file(file_arg, password, json);
    let run = restore("not the password", false);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("(wrong_password)"), "{}", run.stderr);
    let run = ok(b_op.run(&["--json", "time"], &[]));
    assert!(!run.stdout.contains("ntp.backup.example"));

    let run = ok(restore("backup password 1", false));
    assert!(
        run.stdout.starts_with("Restored the backup of appliance "),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("time servers"), "{}", run.stdout);
    assert!(run.stdout.contains("History:"), "{}", run.stdout);
    assert!(run.stdout.contains("  appliance id: "), "{}", run.stdout);
    // B now serves A's certificate: the operator's pin follows it.
    assert!(
        run.stdout.contains("fingerprint is pinned"),
        "{}",
        run.stdout
    );
    let run = ok(b_op.run(&["--json", "time"], &[]));
    let time: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(time["servers"], serde_json::json!(["ntp.backup.example"]));
    // --json: the API's report; the same backup again adds no history twice.
    let run = ok(restore("backup password 1", true));
    let report: api_types::RestoreReport = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report.session, "kept");
    assert_eq!(report.network.state, "restored");
    assert_eq!(report.history.unwrap().added, 0);

    // A password beyond ASCII (the page and the API take any text) restores too.
    std::fs::write(&pw, "mot de passe d'été\n").unwrap();
    let accented = dir.join("accented.backup");
    let accented_arg = accented.to_str().unwrap();
    ok(a_op.run(
        &["backup", "--password-file", pw_arg, "-o", accented_arg],
        &[],
    ));
    let run = restore_file(accented_arg, "mot de passe d'ete", false);
    assert!(run.stderr.contains("(wrong_password)"), "{}", run.stderr);
    let run = ok(restore_file(accented_arg, "mot de passe d'été", false));
    assert!(
        run.stdout.starts_with("Restored the backup of appliance "),
        "{}",
        run.stdout
    );
}

/// `openssl ARGS` in `dir`; its standard output.
fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn certificates_requested_imported_assigned_and_exported_from_the_command_line() {
    let (_d, op) = start("ctl-certs", |_| {});
    let dir = op.config.join("certs");
    std::fs::create_dir_all(&dir).unwrap();
    let path = |n: &str| dir.join(n).to_str().unwrap().to_string();
    // A request made on the appliance, signed by a CA made here.
    let run = ok(op.run(
        &[
            "certificate",
            "request",
            "ctl.example.test",
            "-o",
            &path("ctl.csr"),
        ],
        &[],
    ));
    assert!(run.stdout.contains("CSR saved"), "{}", run.stdout);
    openssl(&dir, &["req", "-verify", "-in", "ctl.csr", "-noout"]);
    openssl(
        &dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "ca.key",
        ],
    );
    openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-key",
            "ca.key",
            "-subj",
            "/CN=Ctl CA",
            "-days",
            "30",
            "-out",
            "ca.crt",
        ],
    );
    openssl(
        &dir,
        &[
            "x509",
            "-req",
            "-in",
            "ctl.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "60",
            "-copy_extensions",
            "copy",
            "-out",
            "ctl.crt",
        ],
    );
    let run = ok(op.run(
        &[
            "--json",
            "certificate",
            "import",
            &path("ctl.crt"),
            "--name",
            "From the CLI",
        ],
        &[("APPLIANCE_PASSWORD", PASSWORD)],
    ));
    let imported: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(imported["from_request"], true);
    assert_eq!(imported["certificate"]["name"], "From the CLI");
    let id = imported["certificate"]["id"].as_str().unwrap().to_string();
    let run = ok(op.run(
        &["certificate", "assign", &id, "127.0.0.9"],
        &[("APPLIANCE_PASSWORD", PASSWORD)],
    ));
    assert!(run.stdout.contains("127.0.0.9"), "{}", run.stdout);
    let run = ok(op.run(&["--json", "certificate", "list"], &[]));
    let list: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(list[0]["id"], "self-signed");
    assert_eq!(list[1]["assigned"], serde_json::json!(["127.0.0.9"]));

    // PKCS#12 export: never without a password; opened by openssl with the one given.
    let run = op.run(
        &[
            "certificate",
            "export",
            &id,
            "--format",
            "pkcs12",
            "-o",
            &path("x.p12"),
        ],
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    std::fs::write(dir.join("pw"), "ctl-export-pass\n").unwrap();
    ok(op.run(
        &[
            "certificate",
            "export",
            &id,
            "--format",
            "pkcs12",
            "--password-file",
            &path("pw"),
            "-o",
            &path("x.p12"),
        ],
        &[],
    ));
    let opened = openssl(
        &dir,
        &[
            "pkcs12",
            "-in",
            "x.p12",
            "-passin",
            "pass:ctl-export-pass",
            "-nodes",
        ],
    );
    assert!(
        opened.contains("PRIVATE KEY") && opened.contains("CN = ctl.example.test"),
        "{opened}"
    );
    let run = op.run(
        &["certificate", "delete", &id],
        &[("APPLIANCE_PASSWORD", PASSWORD)],
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("(certificate_in_use)"),
        "{}",
        run.stderr
    );
    ok(op.run(
        &["certificate", "assign", &id],
        &[("APPLIANCE_PASSWORD", PASSWORD)],
    ));
    ok(op.run(
        &["certificate", "delete", &id],
        &[("APPLIANCE_PASSWORD", PASSWORD)],
    ));

    // TLS settings: shown, then changed one field at a time.
    let run = ok(op.run(&["certificate", "settings"], &[]));
    assert!(
        run.stdout.contains("Minimum TLS version")
            && run.stdout.contains("1.2")
            && run.stdout.contains("HSTS")
            && run.stdout.contains("on (sent when"),
        "{}",
        run.stdout
    );
    let run = ok(op.run(&["certificate", "settings", "--min-tls", "1.3"], &[]));
    assert!(run.stdout.contains("1.3"), "{}", run.stdout);
    let run = ok(op.run(&["--json", "certificate", "settings", "--hsts", "off"], &[]));
    let settings: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        settings,
        serde_json::json!({"min_tls_version": "1.3", "hsts": false})
    );
    let run = op.run(&["certificate", "settings", "--min-tls", "1.1"], &[]);
    assert_eq!(run.code, 2, "refused by the parser: {}", run.stderr);
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

#[test]
fn accounts_added_disabled_deleted_and_a_login_with_a_two_factor_code() {
    let (d, op) = start("ctl-accounts", |_| {});
    let confirm = [("APPLIANCE_PASSWORD", PASSWORD)];

    // The last enabled account stays; a change without the password is not sent.
    let run = op.run(&["account", "delete", "admin"], &confirm);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("(last_enabled_account)"),
        "{}",
        run.stderr
    );
    let run = op.run(
        &["account", "add", "carol"],
        &[("APPLIANCE_NEW_PASSWORD", "Carol initial 2026")],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("nothing was sent"), "{}", run.stderr);

    let run = ok(op.run(
        &["account", "add", "carol"],
        &[
            ("APPLIANCE_PASSWORD", PASSWORD),
            ("APPLIANCE_NEW_PASSWORD", "Carol initial 2026"),
        ],
    ));
    assert!(
        run.stdout.contains("Account carol created"),
        "{}",
        run.stdout
    );
    let run = ok(op.run(&["account", "disable", "carol"], &confirm));
    assert!(run.stdout.contains("disabled"), "{}", run.stdout);
    let run = ok(op.run(&["account"], &[]));
    let carol = run.stdout.lines().find(|l| l.starts_with("carol")).unwrap();
    assert!(
        carol.contains("disabled") && carol.contains("never"),
        "{}",
        run.stdout
    );
    ok(op.run(&["account", "enable", "carol"], &confirm));
    let run = ok(op.run(&["--json", "account", "list"], &[]));
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["accounts"][1]["name"], "carol");
    assert_eq!(json["accounts"][1]["enabled"], true);

    // Carol sets her password, enrols a TOTP (API), then logs in with appliancectl and a code.
    let r = d.call(
        "POST",
        "/api/v1/session",
        None,
        Some(r#"{"username": "carol", "password": "Carol initial 2026"}"#),
    );
    let token = appliance_tests::api::token_of(&r);
    let r = d.call(
        "PUT",
        "/api/v1/account/password",
        Some(&token),
        Some(r#"{"current": "Carol initial 2026", "new": "Carol own 2026"}"#),
    );
    assert_eq!(r.status, 204);
    let r = d.call("POST", "/api/v1/account/totp", Some(&token), None);
    let secret = r.value()["secret"].as_str().unwrap().to_string();
    let step = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 30;
    let r = d.call(
        "POST",
        "/api/v1/account/totp/confirm",
        Some(&token),
        Some(&format!(r#"{{"code": "{}"}}"#, totp(&secret, step))),
    );
    assert_eq!(r.status, 200);
    let carol_op = Operator {
        config: op.config.with_file_name("carol"),
        host: op.host.clone(),
    };
    std::fs::create_dir_all(&carol_op.config).unwrap();
    let pin = format_fingerprint(&fetch_fingerprint(&Endpoint::from(d.https)).unwrap());
    // Without a code and without a terminal: refused.
    let run = carol_op.run(
        &["--pin", &pin, "login", "--user", "carol"],
        &[("APPLIANCE_PASSWORD", "Carol own 2026")],
    );
    assert_ne!(run.code, 0, "{}", run.stdout);
    let run = ok(carol_op.run(
        &["--pin", &pin, "login", "--user", "carol"],
        &[
            ("APPLIANCE_PASSWORD", "Carol own 2026"),
            ("APPLIANCE_TOTP", &totp(&secret, step + 1)),
        ],
    ));
    assert!(run.stdout.contains("as carol"), "{}", run.stdout);
    ok(carol_op.run(&["status"], &[]));

    // Deleted: her session ends at once.
    ok(op.run(&["account", "delete", "carol"], &confirm));
    let run = carol_op.run(&["status"], &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let run = ok(op.run(&["account"], &[]));
    assert!(!run.stdout.contains("carol"), "{}", run.stdout);
}
