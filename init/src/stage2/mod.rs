//! Stage 2, PID 1 of the running system: set the system up, start and supervise the
//! services, reap zombies, pet the watchdog, answer the control socket, and turn
//! signals, the power button and control requests into an orderly shutdown.
//!
//! One thread, one poll(2) loop over the signalfd, the control socket and the power
//! buttons, with a timeout for the next restart or watchdog pet.

pub mod control_socket;
pub mod journal;
pub mod output;
pub mod power_button;
pub mod process;
pub mod services;
pub mod shutdown;
pub mod signals;
pub mod supervise;
pub mod system;
pub mod watchdog;

use crate::args::Options;
use crate::log;
use crate::power::{self, Action};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signalfd::SignalFd;
use services::ServiceSpec;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};
use supervise::{Exit, Service};
use watchdog::Watchdog;

/// How often a service waiting for its `after` path looks for it.
const AFTER_POLL: Duration = Duration::from_millis(100);
/// How often to look for a power button that appeared late.
const BUTTON_RESCAN: Duration = Duration::from_secs(5);

/// What the loop and the shutdown path share.
pub struct Ctx {
    pub services: Vec<Service>,
    pub signals: SignalFd,
    pub watchdog: Option<Watchdog>,
    pub system: bool,
    /// The services' output pipes still open.
    pub outputs: Vec<output::Output>,
    pub journal: journal::Journal,
}

impl Ctx {
    /// Read every output pipe that has something (or has ended); `ready` says which.
    pub fn drain_outputs(&mut self, ready: &dyn Fn(usize) -> bool) {
        let handle = self.journal.handle.clone();
        let mut n = 0;
        self.outputs.retain_mut(|o| {
            let keep = !ready(n) || o.drain(&handle);
            n += 1;
            keep
        });
    }
}

fn load_table(opts: &Options) -> Vec<ServiceSpec> {
    let path = match &opts.services {
        Some(p) => p.clone(),
        None if std::path::Path::new(services::TABLE_PATH).exists() => services::TABLE_PATH.into(),
        None => return services::builtin(),
    };
    match std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|t| services::parse(&t).map_err(|e| e.to_string()))
    {
        Ok(t) => {
            log!("service table {} ({} services)", path.display(), t.len());
            t
        }
        Err(e) => {
            log!(
                "service table {} is unusable ({e}); using the built-in table",
                path.display()
            );
            services::builtin()
        }
    }
}

fn start(svc: &mut Service, outputs: &mut Vec<output::Output>, now: Instant) {
    match process::spawn(&svc.spec) {
        Ok((pid, out)) => {
            if let Some(fd) = out {
                outputs.push(output::Output::new(&svc.spec.name, fd));
            }
            svc.started(pid, now);
            log!("service {} started pid={pid}", svc.spec.name);
        }
        Err(e) => {
            log!(
                "service {} cannot start {}: {e}",
                svc.spec.name,
                svc.spec.argv[0]
            );
            let exit = svc.start_failed(now);
            report(svc, exit);
        }
    }
}

fn report(svc: &Service, exit: Exit) {
    match exit {
        Exit::Restart {
            delay,
            failure,
            limit,
        } => log!(
            "service {} restart in {:.3} s (failure {failure} of {limit})",
            svc.spec.name,
            delay.as_secs_f64()
        ),
        Exit::GaveUp { failures } => crate::say!(
            "service {} failed {failures} times in a row; giving up",
            svc.spec.name
        ),
        Exit::Stopped => {}
    }
}

fn reap(ctx: &mut Ctx) {
    let (ended, _) = process::reap();
    let now = Instant::now();
    for e in ended {
        if let Some(svc) = ctx.services.iter_mut().find(|s| s.pid() == Some(e.pid)) {
            let ran = match svc.state {
                supervise::State::Running { since, .. } => now.duration_since(since),
                _ => Duration::ZERO,
            };
            log!(
                "service {} pid={} {} after {:.1} s",
                svc.spec.name,
                e.pid,
                e.how,
                ran.as_secs_f64()
            );
            let exit = svc.exited(now);
            report(svc, exit);
        }
        // Orphans are reaped silently: that is all PID 1 owes them.
    }
}

pub fn run(opts: &Options) -> ! {
    if opts.system {
        crate::log::enable_kmsg();
        crate::log::enable_screen();
    }
    log!("stage2 start");
    if opts.system {
        system::setup();
    }
    let signals = match signals::open() {
        Ok(s) => s,
        Err(e) => {
            crate::say!("cannot set up signal handling: {e}; rebooting");
            power::finish(Action::Reboot);
        }
    };
    // With signals blocked (so do the threads started from here on): the persistent log.
    let log_dir = opts.log_dir.clone().or_else(|| {
        opts.system
            .then(|| std::path::PathBuf::from(journal::RING_DIR))
    });
    let journal = journal::start(log_dir, opts.log_cap.unwrap_or(logring::DEFAULT_CAP));
    if opts.system {
        if let Ok(text) = std::fs::read_to_string(journal::STAGE1_LINES) {
            for l in journal::stage1_lines(&text) {
                journal.handle.ring(l);
            }
            let _ = std::fs::remove_file(journal::STAGE1_LINES);
        }
    }
    crate::log::set_journal(Some(journal.handle.clone()));
    // With signals blocked: the thread inherits the mask and never takes one. It saves
    // once the daemon reports healthy (below), not while the daemon starts.
    let mut save_seed = if opts.system {
        crate::seed::spawn_save("/data")
    } else {
        None
    };
    let listener = match control_socket::bind(&opts.control_socket) {
        Ok(l) => Some(l),
        Err(e) => {
            log!(
                "control socket {}: {e}; running without it",
                opts.control_socket.display()
            );
            None
        }
    };
    let now = Instant::now();
    let mut ctx = Ctx {
        services: load_table(opts)
            .into_iter()
            .map(|s| Service::new(s, now))
            .collect(),
        signals,
        watchdog: if opts.system { Watchdog::open() } else { None },
        system: opts.system,
        outputs: Vec::new(),
        journal,
    };
    let mut buttons = power_button::Buttons::default();
    let mut next_scan = now;
    // The booted slot must report healthy (the daemon, once it marked the slot good)
    // before this; otherwise the machine restarts and GRUB falls back (docs/boot.md).
    let health_timeout = match opts.health_timeout {
        Some(secs) => (secs > 0).then_some(secs),
        None if opts.system => std::fs::read_to_string("/proc/cmdline")
            .ok()
            .and_then(|c| crate::cmdline::health_timeout(&c)),
        None => None,
    };
    // The timeout comes from the command line, which grubenv's EXTRA_CMDLINE can extend:
    // one too large for a deadline means none, never a panic.
    let mut health_deadline =
        health_timeout.and_then(|secs| now.checked_add(Duration::from_secs(secs)));
    if let (Some(_), Some(secs)) = (health_deadline, health_timeout) {
        log!("health deadline: the slot must pass its health check within {secs} s");
    }

    loop {
        let now = Instant::now();
        let Ctx {
            services, outputs, ..
        } = &mut ctx;
        for svc in services.iter_mut().filter(|s| s.due(now)) {
            let exists = |p: &str| std::path::Path::new(p).exists();
            if let Some(path) = svc
                .missing_after(exists, now, AFTER_POLL)
                .map(str::to_owned)
            {
                if !svc.said_waiting {
                    log!("service {} waits for {path}", svc.spec.name);
                    svc.said_waiting = true;
                }
                continue;
            }
            start(svc, outputs, now);
        }
        watchdog::pet(&mut ctx.watchdog);
        if opts.system && now >= next_scan {
            buttons.scan();
            next_scan = now + BUTTON_RESCAN;
        }

        let mut wake = now + Duration::from_secs(60);
        wake = ctx
            .services
            .iter()
            .filter_map(Service::deadline)
            .fold(wake, Instant::min);
        if let Some(w) = &ctx.watchdog {
            wake = wake.min(w.next);
        }
        if let Some(d) = health_deadline {
            wake = wake.min(d);
        }
        if opts.system {
            wake = wake.min(next_scan);
        }
        let ms = wake
            .saturating_duration_since(now)
            .as_millis()
            .clamp(1, 60_000) as u16;

        let (sig_ready, sock_ready, pressed, outs) = {
            let mut fds = vec![PollFd::new(ctx.signals.as_fd(), PollFlags::POLLIN)];
            if let Some(l) = &listener {
                fds.push(PollFd::new(l.as_fd(), PollFlags::POLLIN));
            }
            let first_button = fds.len();
            fds.extend(
                buttons
                    .files
                    .iter()
                    .map(|f| PollFd::new(f.as_fd(), PollFlags::POLLIN)),
            );
            let first_output = fds.len();
            fds.extend(
                ctx.outputs
                    .iter()
                    .map(|o| PollFd::new(o.fd(), PollFlags::POLLIN)),
            );
            let _ = poll(&mut fds, PollTimeout::from(ms));
            let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
            let sock = listener.is_some() && ready(&fds[1]);
            let outs: Vec<bool> = fds[first_output..].iter().map(ready).collect();
            let pressed: Vec<usize> = fds[first_button..first_output]
                .iter()
                .enumerate()
                .filter(|(_, f)| ready(f))
                .map(|(i, _)| i)
                .collect();
            (ready(&fds[0]), sock, pressed, outs)
        };
        ctx.drain_outputs(&|i| outs.get(i).copied().unwrap_or(false));

        let mut action: Option<(Action, String)> = None;
        if sig_ready {
            for ev in signals::drain(&mut ctx.signals) {
                match ev {
                    signals::Event::Child => {}
                    signals::Event::Shutdown(a, why) => {
                        action = action.or(Some((a, why.to_string())));
                    }
                    signals::Event::Ignore => {}
                }
            }
        }
        // Reap on every wake-up, not only on SIGCHLD: signals coalesce.
        reap(&mut ctx);
        if sock_ready {
            if let Some(l) = &listener {
                let services = &ctx.services;
                let info = || services.iter().map(Service::info).collect();
                let served = control_socket::serve(l, &info);
                if let Some(a) = served.action {
                    action = action.or(Some((a, "control socket".to_string())));
                }
                if served.healthy {
                    // Dropping the sender is the go.
                    save_seed.take();
                }
                if served.healthy && health_deadline.take().is_some() {
                    log!(
                        "health deadline: the slot passed its health check (cpu idle so far {})",
                        crate::log::idle()
                    );
                }
            }
        }
        if let (Some(d), Some(secs)) = (health_deadline, health_timeout) {
            if Instant::now() >= d {
                health_deadline = None;
                let why = format!(
                    "health deadline: the slot did not pass its health check within {secs} s"
                );
                action = action.or(Some((Action::Reboot, why)));
            }
        }
        for i in pressed {
            if buttons.read(i) {
                action = action.or(Some((Action::PowerOff, "power button".to_string())));
            }
        }
        if let Some((a, why)) = action {
            drop(listener);
            let _ = std::fs::remove_file(&opts.control_socket);
            shutdown::run(&mut ctx, a, &why);
        }
    }
}
