//! init as PID 1 of a PID namespace: supervision, reaping, signals, control socket and
//! the shutdown sequence, observed through its console log. Needs root (CI is root).

mod ns;

use control::{Request, Response, ServiceState};
use ns::{assert_in_order, end_signal, Ns};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

/// Seconds in every "restart in X s" line, in order.
fn restart_delays(log: &str) -> Vec<f64> {
    log.lines()
        .filter_map(|l| l.split("restart in ").nth(1))
        .filter_map(|r| r.split(' ').next()?.parse().ok())
        .collect()
}

#[test]
fn crashing_service_backs_off_exponentially_then_gives_up() {
    need_root!();
    let mut ns = Ns::start(
        &[("crash.sh", "echo crasher ran; exit 3")],
        "crasher restart=100..400 give-up=5 @DIR@/crash.sh\n",
    );
    assert!(ns.wait_for("giving up", T), "{}", ns.output());
    let log = ns.output();
    assert_eq!(restart_delays(&log), [0.1, 0.2, 0.4, 0.4], "{log}");
    assert_eq!(
        log.matches("service crasher started pid=").count(),
        5,
        "{log}"
    );
    assert!(log.contains("service crasher failed 5 times in a row; giving up"));
    // The delays are real: the five starts span at least 0.1+0.2+0.4+0.4 s.
    let stamps: Vec<f64> = log
        .lines()
        .filter(|l| l.contains("service crasher started"))
        .filter_map(|l| {
            l.trim_start_matches('[')
                .split(']')
                .next()?
                .trim()
                .parse()
                .ok()
        })
        .collect();
    assert!(stamps[4] - stamps[0] >= 1.05, "{stamps:?}");

    match control::call(ns.socket.to_str().unwrap(), &Request::ServiceStatus).unwrap() {
        Response::Services(s) => {
            assert_eq!(s.len(), 1);
            assert_eq!(s[0].state, ServiceState::GaveUp);
            assert_eq!(s[0].restarts, 4);
            assert_eq!(s[0].pid, None);
        }
        other => panic!("unexpected {other:?}"),
    }
    ns.signal(libc::SIGTERM);
    assert_eq!(end_signal(ns.wait_end(T)), Some(libc::SIGHUP));
}

#[test]
fn orphans_are_reaped_and_ctrl_alt_del_reboots() {
    need_root!();
    // Each orphan's parent (the subshell) exits at once, so init inherits the sleep,
    // which then exits too: only init can reap it.
    let mut ns = Ns::start(
        &[(
            "spawn.sh",
            "for i in 1 2 3 4 5 6 7 8; do (sleep 0.3 &) ; done\necho orphans spawned\nexec sleep 1000",
        )],
        "spawner @DIR@/spawn.sh\n",
    );
    assert!(ns.wait_for("orphans spawned", T), "{}", ns.output());
    // Wait (bounded) for the eight orphans to end; a zombie never goes away unless
    // init reaps it, so a broken reaper fails here.
    let end = std::time::Instant::now() + T;
    let mut states = ns.process_states();
    while (states.len() != 1 || states.iter().any(|&(_, s)| s == 'Z'))
        && std::time::Instant::now() < end
    {
        std::thread::sleep(Duration::from_millis(100));
        states = ns.process_states();
    }
    // The spawner's sleep is still there; the orphans ended and were reaped.
    assert!(
        !states.iter().any(|&(_, s)| s == 'Z'),
        "zombies left: {states:?}"
    );
    assert_eq!(states.len(), 1, "{states:?}");

    ns.signal(libc::SIGINT);
    let st = ns.wait_end(T);
    let log = ns.output();
    assert_in_order(
        &log,
        &[
            "shutdown requested by SIGINT (Ctrl-Alt-Del): reboot",
            "shutdown: stopping services",
            "shutdown: stopping service spawner pid=",
            "shutdown: sending SIGTERM to all processes",
            "shutdown: sending SIGKILL to all processes",
            "shutdown: syncing disks",
            "init: reboot now",
        ],
    );
    assert!(!log.contains("did not stop"), "{log}");
    assert_eq!(end_signal(st), Some(libc::SIGHUP));
}

#[test]
fn sigterm_reboots_and_kills_a_service_that_ignores_it() {
    need_root!();
    let mut ns = Ns::start(
        &[("stubborn.sh", "trap '' TERM\nwhile :; do sleep 0.1; done")],
        "stubborn stop=500 @DIR@/stubborn.sh\n",
    );
    assert!(ns.wait_for("service stubborn started", T));
    std::thread::sleep(Duration::from_millis(200));
    ns.signal(libc::SIGTERM);
    let st = ns.wait_end(T);
    assert_in_order(
        &ns.output(),
        &[
            "shutdown requested by SIGTERM: reboot",
            "shutdown: stopping services",
            "shutdown: stopping service stubborn pid=",
            "shutdown: service stubborn pid=",
            "did not stop within 0.5 s; SIGKILL",
            "shutdown: sending SIGTERM to all processes",
            "shutdown: sending SIGKILL to all processes",
            "shutdown: syncing disks",
            "init: reboot now",
        ],
    );
    assert_eq!(end_signal(st), Some(libc::SIGHUP));
}

#[test]
fn sigusr2_powers_off() {
    need_root!();
    let mut ns = Ns::start(&[("idle.sh", "exec sleep 1000")], "idle @DIR@/idle.sh\n");
    assert!(ns.wait_for("service idle started", T));
    ns.signal(libc::SIGUSR2);
    let st = ns.wait_end(T);
    let log = ns.output();
    assert_in_order(
        &log,
        &[
            "shutdown requested by SIGUSR2: power off",
            "shutdown: stopping service idle pid=",
            "shutdown: sending SIGTERM to all processes",
            "shutdown: syncing disks",
            "init: power off now",
        ],
    );
    assert!(!log.contains("reboot now"));
    // reboot(RB_POWER_OFF) in a PID namespace ends its init with SIGINT.
    assert_eq!(end_signal(st), Some(libc::SIGINT));
}

#[test]
fn control_socket_reports_services_and_accepts_reboot() {
    need_root!();
    let mut ns = Ns::start(&[("idle.sh", "exec sleep 1000")], "idle @DIR@/idle.sh\n");
    assert!(ns.wait_for("service idle started", T));
    let sock = ns.socket.to_str().unwrap().to_string();
    let mode = std::fs::metadata(&ns.socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    match control::call(&sock, &Request::ServiceStatus).unwrap() {
        Response::Services(s) => {
            assert_eq!(s.len(), 1);
            assert_eq!(s[0].name, "idle");
            assert_eq!(s[0].state, ServiceState::Running);
            // Inside the namespace the first service is pid 2 (init is 1).
            assert!(s[0].pid.is_some_and(|p| p > 1), "{s:?}");
            assert_eq!(s[0].restarts, 0);
        }
        other => panic!("unexpected {other:?}"),
    }
    // A malformed request is refused, and init keeps serving.
    {
        use std::io::Write;
        let mut s = std::os::unix::net::UnixStream::connect(&sock).unwrap();
        s.write_all(&[0, 0, 0, 1, 0xff]).unwrap();
        let r: Response = control::read_frame(&mut s).unwrap();
        assert!(matches!(r, Response::Refused(_)), "{r:?}");
    }
    assert_eq!(
        control::call(&sock, &Request::Reboot).unwrap(),
        Response::Accepted
    );
    let st = ns.wait_end(T);
    assert_in_order(
        &ns.output(),
        &[
            "control socket: reboot requested",
            "shutdown requested by control socket: reboot",
            "shutdown: stopping service idle",
            "init: reboot now",
        ],
    );
    assert_eq!(end_signal(st), Some(libc::SIGHUP));
}

#[test]
fn a_slot_that_never_reports_healthy_is_restarted_at_its_deadline() {
    need_root!();
    let mut ns = Ns::start_with(
        &[("idle.sh", "exec sleep 1000")],
        "idle @DIR@/idle.sh\n",
        &["--health-timeout", "2"],
    );
    let st = ns.wait_end(T);
    assert_in_order(
        &ns.output(),
        &[
            "health deadline: the slot must pass its health check within 2 s",
            "service idle started",
            "shutdown requested by health deadline: the slot did not pass its health check within 2 s: reboot",
            "init: reboot now",
        ],
    );
    assert_eq!(end_signal(st), Some(libc::SIGHUP));
}

#[test]
fn a_healthy_report_stops_the_deadline() {
    need_root!();
    let mut ns = Ns::start_with(
        &[("idle.sh", "exec sleep 1000")],
        "idle @DIR@/idle.sh\n",
        &["--health-timeout", "2"],
    );
    assert!(ns.wait_for("service idle started", T));
    let sock = ns.socket.to_str().unwrap().to_string();
    assert_eq!(
        control::call(&sock, &Request::Healthy).unwrap(),
        Response::Accepted
    );
    assert!(ns.wait_for("health deadline: the slot passed its health check", T));
    std::thread::sleep(Duration::from_secs(3));
    assert!(!ns.output().contains("reboot"), "{}", ns.output());
    assert_eq!(
        control::call(&sock, &Request::Reboot).unwrap(),
        Response::Accepted
    );
    ns.wait_end(T);
}

#[test]
fn a_health_timeout_too_large_for_a_deadline_means_none() {
    need_root!();
    let mut ns = Ns::start_with(
        &[("idle.sh", "exec sleep 1000")],
        "idle @DIR@/idle.sh\n",
        &["--health-timeout", "18446744073709551615"],
    );
    assert!(ns.wait_for("service idle started", T));
    let sock = ns.socket.to_str().unwrap().to_string();
    assert_eq!(
        control::call(&sock, &Request::Reboot).unwrap(),
        Response::Accepted
    );
    assert_eq!(end_signal(ns.wait_end(T)), Some(libc::SIGHUP));
    let out = ns.output();
    assert!(!out.contains("PANIC"), "{out}");
    assert!(!out.contains("health deadline"), "{out}");
}

#[test]
fn a_missing_program_backs_off_and_gives_up() {
    need_root!();
    let mut ns = Ns::start(&[], "ghost restart=50..50 give-up=2 @DIR@/does-not-exist\n");
    assert!(ns.wait_for("giving up", T), "{}", ns.output());
    assert!(ns.output().contains("service ghost cannot start"));
    ns.signal(libc::SIGTERM);
    assert_eq!(end_signal(ns.wait_end(T)), Some(libc::SIGHUP));
}

#[test]
fn an_unusable_service_table_falls_back_to_the_built_in_one() {
    need_root!();
    let mut ns = Ns::start(&[], "broken restart=fast /bin/true\n");
    assert!(
        ns.wait_for("using the built-in table", T),
        "{}",
        ns.output()
    );
    assert!(
        ns.wait_for("service appliance-daemon", T),
        "{}",
        ns.output()
    );
    ns.signal(libc::SIGTERM);
    assert_eq!(end_signal(ns.wait_end(T)), Some(libc::SIGHUP));
}

#[test]
fn a_service_with_after_starts_once_its_path_exists() {
    need_root!();
    let mut ns = Ns::start(
        &[("serve.sh", "echo reader ran; exec sleep 60")],
        "reader after=@DIR@/reader.conf @DIR@/serve.sh\n",
    );
    assert!(
        ns.wait_for("service reader waits for", T),
        "{}",
        ns.output()
    );
    std::thread::sleep(Duration::from_millis(500));
    let log = ns.output();
    assert!(
        !log.contains("reader ran"),
        "started before its path existed: {log}"
    );
    assert_eq!(log.matches("waits for").count(), 1, "said once: {log}");
    std::fs::write(ns.dir.join("reader.conf"), "x").unwrap();
    assert!(ns.wait_for("reader ran", T), "{}", ns.output());
    assert!(!ns.output().contains("restart in"), "{}", ns.output());
    ns.signal(libc::SIGTERM);
    assert_eq!(end_signal(ns.wait_end(T)), Some(libc::SIGHUP));
}

/// `nice=N` starts the service at that niceness, the others at init's.
#[test]
fn a_service_with_nice_runs_at_that_niceness() {
    need_root!();
    let script = "echo niceness $(cut -d' ' -f19 /proc/self/stat) of $1; exec sleep 60";
    let mut ns = Ns::start(
        &[("nice.sh", script)],
        "background nice=10 /bin/sh @DIR@/nice.sh background\n\
         foreground /bin/sh @DIR@/nice.sh foreground\n",
    );
    assert!(
        ns.wait_for("niceness 10 of background", T),
        "{}",
        ns.output()
    );
    assert!(
        ns.wait_for("niceness 0 of foreground", T),
        "{}",
        ns.output()
    );
    ns.signal(libc::SIGTERM);
    assert_eq!(end_signal(ns.wait_end(T)), Some(libc::SIGHUP));
}
