//! The start of the daemon on the appliance: prepare, fork, and each side goes its way.
//!
//! Unsafe: fork(2), before any thread starts.
#![allow(unsafe_code)]

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{chown, fork, getppid, ForkResult, Gid, Pid, Uid};

use super::server::{self, Context};
use super::{drop, GID, INIT_RELAY, RUN_DIR, SOCKET, UID};
use crate::config::{Config, Mode};
use crate::paths;
use crate::system::SystemInfo;

/// Entries of `data` that are not the service's: init's log ring stays root's (the
/// service reads it), and ext4's own directory.
const NOT_THE_SERVICES: &[&str] = &["log", "lost+found"];

/// Split the daemon (appliance mode; dev mode returns `config` as it is). Returns in the
/// service, unprivileged, with the configuration it runs with; the privileged part never
/// returns from here: it exits with the service.
pub fn split(config: Config) -> anyhow::Result<Config> {
    if config.mode != Mode::Appliance {
        return Ok(config);
    }
    let system = SystemInfo::load(Path::new(paths::RELEASE), Path::new(paths::CMDLINE))?;
    prepare(&config.state_dir);
    crate::time::restore_clock(&config.state_dir.join(crate::time::SAVED_CLOCK));
    let requests = listen(SOCKET)?;
    let relay = listen(INIT_RELAY)?;
    let parent = nix::unistd::getpid();
    // SAFETY: no thread was started yet (logging writes from the calling thread).
    match unsafe { fork() }.context("cannot fork the service")? {
        ForkResult::Child => {
            std::mem::drop((requests, relay));
            preload();
            drop::drop_privileges().map_err(|e| anyhow::anyhow!("cannot drop privileges: {e}"))?;
            if getppid() != parent {
                anyhow::bail!("the privileged part ended while the service started");
            }
            tracing::info!(
                uid = UID,
                capabilities = %drop::KEPT.iter().map(|(_, n)| *n).collect::<Vec<_>>().join(","),
                "service running unprivileged"
            );
            let mut config = config;
            config.control_socket = INIT_RELAY.into();
            Ok(config)
        }
        ForkResult::Parent { child } => {
            let ctx = Arc::new(Context {
                booted: system.slot,
                profile: system.release.profile.clone(),
                keys: paths::KEYS_DIR.into(),
            });
            std::process::exit(privileged(child, requests, relay, ctx))
        }
    }
}

/// A socket the service (and only it, besides root) may connect to.
fn listen(path: &str) -> anyhow::Result<UnixListener> {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).with_context(|| format!("cannot listen on {path}"))?;
    chown(path, Some(Uid::from_raw(0)), Some(Gid::from_raw(GID)))
        .with_context(|| format!("cannot give {path} to the service's group"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .with_context(|| format!("cannot set the mode of {path}"))?;
    Ok(listener)
}

/// The privileged part: serve both sockets, pass SIGTERM and SIGINT on to the service,
/// end with it. Returns the exit code.
fn privileged(child: Pid, requests: UnixListener, relay: UnixListener, ctx: Arc<Context>) -> i32 {
    let mut signals = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGCHLD] {
        signals.add(s);
    }
    // Blocked before any thread starts, so that only `wait` below receives them.
    if let Err(err) = signals.thread_block() {
        tracing::error!("privileged: cannot block signals: {err}");
    }
    let _ = std::thread::Builder::new()
        .name("privileged".into())
        .spawn(move || server::serve(requests, ctx));
    let _ = std::thread::Builder::new()
        .name("init-relay".into())
        .spawn(move || server::relay(relay));
    tracing::info!(pid = %child, "privileged part serving the service");
    // A service that ended before the signals were blocked: its SIGCHLD is gone.
    match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, code)) => return code,
        Ok(WaitStatus::Signaled(..)) => return 1,
        _ => {}
    }
    loop {
        match signals.wait() {
            Ok(Signal::SIGCHLD) => match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, code)) => return code,
                Ok(WaitStatus::Signaled(_, sig, _)) => {
                    tracing::error!("the service was killed by {sig}");
                    return 1;
                }
                _ => {}
            },
            Ok(sig) => {
                let _ = kill(child, sig);
            }
            Err(err) => {
                tracing::error!("privileged: waiting for signals: {err}");
                return 1;
            }
        }
    }
}

/// What only root may open, opened before the service drops privileges.
fn preload() {
    screen::keep_open();
    crate::logs::preload_kernel_log();
    crate::system::preload_serial();
}

/// Before the fork: the service's run directory, the files others read through links
/// into it, and `data` owned by the service. Failures are logged: the service then says
/// what it cannot write.
fn prepare(data: &Path) {
    let uid = Some(Uid::from_raw(UID));
    let gid = Some(Gid::from_raw(GID));
    let run = Path::new(RUN_DIR);
    let made = std::fs::create_dir_all(run)
        .and_then(|()| std::fs::set_permissions(run, std::fs::Permissions::from_mode(0o750)))
        .map_err(|e| e.to_string())
        .and_then(|()| chown(run, uid, gid).map_err(|e| e.to_string()));
    if let Err(err) = made {
        tracing::error!("cannot prepare {RUN_DIR}: {err}");
    }
    for (link, name) in [
        (paths::RESOLV_LINK, "resolv.conf"),
        (paths::NTP_LINK, "ntp.toml"),
    ] {
        link_into_run_dir(Path::new(link), name);
    }
    // The service cannot write /proc/sys: every interface, present and to come.
    for path in [
        paths::PROMOTE_SECONDARIES_ALL,
        "/proc/sys/net/ipv4/conf/default/promote_secondaries",
    ] {
        if let Err(err) = std::fs::write(path, b"1") {
            tracing::warn!("cannot write {path}: {err}");
        }
    }
    if let Err(err) = chown(data, uid, gid) {
        tracing::error!("cannot give {} to the service: {err}", data.display());
    }
    let Ok(entries) = std::fs::read_dir(data) else {
        return;
    };
    let started = std::time::Instant::now();
    let mut changed = 0u64;
    for entry in entries.flatten() {
        if NOT_THE_SERVICES.iter().any(|n| entry.file_name() == *n) {
            continue;
        }
        changed += give(&entry.path());
    }
    tracing::info!(
        "{changed} files and directories of {} given to the service ({} ms to look)",
        data.display(),
        started.elapsed().as_millis()
    );
}

/// `path` and what it holds, owned by the service (links themselves, not what they
/// name). Returns how many changed owner.
fn give(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    let mut changed = 0;
    if meta.uid() != UID || meta.gid() != GID {
        let owned = nix::unistd::fchownat(
            None,
            path,
            Some(Uid::from_raw(UID)),
            Some(Gid::from_raw(GID)),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        );
        match owned {
            Ok(()) => changed += 1,
            Err(err) => tracing::error!("cannot give {} to the service: {err}", path.display()),
        }
    }
    if meta.is_dir() {
        if let Ok(entries) = std::fs::read_dir(path) {
            for entry in entries.flatten() {
                changed += give(&entry.path());
            }
        }
    }
    changed
}

/// `link` (read by others: the resolver, init and the time daemon) made a link to `name`
/// in the service's run directory, keeping a file already there.
fn link_into_run_dir(link: &Path, name: &str) {
    let target = Path::new(RUN_DIR).join(name);
    let relative = Path::new("appliance").join(name);
    if std::fs::read_link(link).is_ok_and(|t| t == relative) {
        return;
    }
    if link.is_file() {
        if let Err(err) = std::fs::rename(link, &target) {
            tracing::error!(
                "cannot move {} to {}: {err}",
                link.display(),
                target.display()
            );
        }
        let _ = chown(&target, Some(Uid::from_raw(UID)), Some(Gid::from_raw(GID)));
    }
    let _ = std::fs::remove_file(link);
    if let Err(err) = std::os::unix::fs::symlink(&relative, link) {
        tracing::error!(
            "cannot link {} to {}: {err}",
            link.display(),
            target.display()
        );
    }
}
