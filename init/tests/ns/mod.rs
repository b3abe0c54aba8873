//! Runs the init binary as PID 1 of a new PID namespace (`unshare -pf --mount-proc`)
//! with an injected service table, and watches its console output.
// Unsafe code: pre_exec hooks and signals of the namespace's processes.
#![allow(unsafe_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Why these tests cannot run here, if they cannot.
pub(crate) fn skip_reason() -> Option<&'static str> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root: PID namespaces need root");
    }
    if Command::new("unshare").arg("--version").output().is_err() {
        return Some("unshare(1) is not installed");
    }
    None
}

/// Skip the calling test (with the reason printed) when it cannot run here.
#[macro_export]
macro_rules! need_root {
    () => {
        if let Some(why) = ns::skip_reason() {
            eprintln!("SKIPPED: {why}");
            return;
        }
    };
}

pub(crate) struct Ns {
    pub dir: PathBuf,
    pub socket: PathBuf,
    log: PathBuf,
    child: Child,
    /// init's pid as seen from here (it is 1 inside).
    pub init_pid: i32,
}

impl Ns {
    /// Start init with `scripts` (name, shell text) written into a fresh directory and a
    /// service table in which `@DIR@` is replaced by that directory.
    pub(crate) fn start(scripts: &[(&str, &str)], table: &str) -> Ns {
        Ns::start_with(scripts, table, &[])
    }

    /// [`Ns::start`] with more arguments for init.
    pub(crate) fn start_with(scripts: &[(&str, &str)], table: &str, args: &[&str]) -> Ns {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("init-test-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        for (name, text) in scripts {
            let p = dir.join(name);
            fs::write(&p, format!("#!/bin/sh\n{text}\n")).unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        }
        let table_path = dir.join("services");
        fs::write(&table_path, table.replace("@DIR@", dir.to_str().unwrap())).unwrap();
        let socket = dir.join("init.sock");
        let log = dir.join("console.log");
        let out = fs::File::create(&log).unwrap();
        let child = Command::new("unshare")
            .args(["-pf", "--mount-proc", env!("CARGO_BIN_EXE_init")])
            .arg("--services")
            .arg(&table_path)
            .arg("--control-socket")
            .arg(&socket)
            .arg("--no-system")
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let init_pid = find_child(child.id() as i32);
        let ns = Ns {
            dir,
            socket,
            log,
            child,
            init_pid,
        };
        assert!(
            ns.wait_for("init: stage2 start", Duration::from_secs(10)),
            "{}",
            ns.output()
        );
        ns
    }

    pub(crate) fn output(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait until the console shows `needle`.
    pub(crate) fn wait_for(&self, needle: &str, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if self.output().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub(crate) fn signal(&self, sig: i32) {
        // SAFETY: plain kill(2) on a pid we started.
        assert_eq!(unsafe { libc::kill(self.init_pid, sig) }, 0);
    }

    /// Wait for the namespace to end; its status (unshare re-raises init's end signal).
    pub(crate) fn wait_end(&mut self, timeout: Duration) -> ExitStatus {
        let end = Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                panic!("init did not end within {timeout:?}:\n{}", self.output());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// States of the processes in the namespace other than init (from /proc/PID/stat).
    pub(crate) fn process_states(&self) -> Vec<(i32, char)> {
        let ns_of = |pid: i32| fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
        let Some(mine) = ns_of(self.init_pid) else {
            return vec![];
        };
        let mut out = Vec::new();
        for e in fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            if pid == self.init_pid || ns_of(pid).as_ref() != Some(&mine) {
                continue;
            }
            if let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) {
                if let Some(state) = stat
                    .rsplit(')')
                    .next()
                    .and_then(|r| r.trim().chars().next())
                {
                    out.push((pid, state));
                }
            }
        }
        out
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // SAFETY: plain kill(2); init may already be gone.
        unsafe { libc::kill(self.init_pid, libc::SIGKILL) };
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The pid of unshare's forked child (init), from /proc/*/stat's ppid field.
fn find_child(parent: i32) -> i32 {
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        for e in fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let ppid = stat
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().nth(1))
                .and_then(|p| p.parse::<i32>().ok());
            if ppid == Some(parent) {
                return pid;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("unshare {parent} did not fork init");
}

/// The signal that ended the namespace (init's end through reboot(2)).
pub(crate) fn end_signal(st: ExitStatus) -> Option<i32> {
    st.signal()
}

/// Assert that `needles` appear in `text` in this order.
pub(crate) fn assert_in_order(text: &str, needles: &[&str]) {
    let mut from = 0;
    for n in needles {
        match text[from..].find(n) {
            Some(i) => from += i + n.len(),
            None => panic!("{n:?} missing or out of order in:\n{text}"),
        }
    }
}
