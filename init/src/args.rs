//! Which stage to run and the stage-2 options (pure).
//!
//! The kernel starts stage 1 as `/init` from the initramfs; stage 1 execs `/sbin/init`
//! from the slot, which is stage 2. So the rule is: argv[0] exactly `/init` means stage 1,
//! anything else stage 2. `--stage1`/`--stage2` override it.
//!
//! Stage-2 options exist for tests that run init as PID 1 of a PID namespace:
//! `--services FILE` (service table), `--control-socket PATH`, `--log-dir DIR` and
//! `--log-cap BYTES` (the persistent log), `--health-timeout SECS`
//! (the health deadline without a kernel command line) and `--no-system` (skip
//! everything that touches the machine: mounts, hostname, Ctrl-Alt-Del, watchdog, power
//! button, /data). The kernel may pass stray command-line words to init as arguments,
//! so unknown arguments are ignored, never fatal.

use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    One,
    Two,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub stage: Stage,
    pub services: Option<PathBuf>,
    pub control_socket: PathBuf,
    pub system: bool,
    /// Seconds the booted slot has to report healthy before init restarts the machine
    /// (0: never); `None`: from the kernel command line (docs/boot.md). For tests.
    pub health_timeout: Option<u64>,
    /// The persistent log's directory (default `/data/log` with the system, none without)
    /// and its cap in bytes (default 64 MiB): for tests.
    pub log_dir: Option<PathBuf>,
    pub log_cap: Option<u64>,
    /// Arguments that meant nothing to us (reported once, then ignored).
    pub ignored: Vec<String>,
}

pub fn parse(args: &[String]) -> Options {
    let argv0 = args.first().map_or("", String::as_str);
    let mut o = Options {
        stage: if argv0 == "/init" {
            Stage::One
        } else {
            Stage::Two
        },
        services: None,
        control_socket: PathBuf::from(control::SOCKET_PATH),
        system: true,
        health_timeout: None,
        log_dir: None,
        log_cap: None,
        ignored: Vec::new(),
    };
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--stage1" => o.stage = Stage::One,
            "--stage2" => o.stage = Stage::Two,
            "--no-system" => o.system = false,
            "--services" => match it.next() {
                Some(p) => o.services = Some(PathBuf::from(p)),
                None => o.ignored.push(a.clone()),
            },
            "--health-timeout" => match it.next().and_then(|s| s.parse().ok()) {
                Some(secs) => o.health_timeout = Some(secs),
                None => o.ignored.push(a.clone()),
            },
            "--log-dir" => match it.next() {
                Some(p) => o.log_dir = Some(PathBuf::from(p)),
                None => o.ignored.push(a.clone()),
            },
            "--log-cap" => match it.next().and_then(|s| s.parse().ok()) {
                Some(n) => o.log_cap = Some(n),
                None => o.ignored.push(a.clone()),
            },
            "--control-socket" => match it.next() {
                Some(p) => o.control_socket = PathBuf::from(p),
                None => o.ignored.push(a.clone()),
            },
            _ => o.ignored.push(a.clone()),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(std::string::ToString::to_string).collect()
    }

    #[test]
    fn stage_follows_argv0() {
        assert_eq!(parse(&v(&["/init"])).stage, Stage::One);
        assert_eq!(parse(&v(&["/sbin/init"])).stage, Stage::Two);
        assert_eq!(parse(&v(&[])).stage, Stage::Two);
        assert_eq!(parse(&v(&["/sbin/init", "--stage1"])).stage, Stage::One);
    }

    #[test]
    fn test_options_and_stray_words() {
        let o = parse(&v(&[
            "/x/init",
            "single",
            "--services",
            "/t/s",
            "--control-socket",
            "/t/sock",
            "--no-system",
            "--services",
        ]));
        assert_eq!(o.services, Some(PathBuf::from("/t/s")));
        assert_eq!(o.control_socket, PathBuf::from("/t/sock"));
        assert!(!o.system);
        assert_eq!(o.ignored, v(&["single", "--services"]));
        let d = parse(&v(&["/sbin/init"]));
        assert!(d.system);
        assert_eq!(d.control_socket, PathBuf::from("/run/init.sock"));
    }
}
