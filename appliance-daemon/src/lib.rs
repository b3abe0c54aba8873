//! The management daemon: HTTPS API on 443, HTTP redirect on 80, and the health gate that
//! marks the booted slot good. `main.rs` only parses arguments and calls [`run`].

pub(crate) mod api;
pub(crate) mod auth;
pub(crate) mod backup;
pub(crate) mod boot;
pub mod config;
pub(crate) mod failover;
pub mod logging;
pub mod logs;
pub(crate) mod net;
pub(crate) mod paths;
pub mod privileged;
/// The hidden `--net-only` mode (tests): the factory network bring-up alone.
pub use net::oneshot as net_only;
/// One wrong field of a request: `netconfig`'s, whose network checks report it; the time
/// settings report the same.
pub(crate) mod reset;
pub(crate) mod server;
pub(crate) mod snapshot;
pub(crate) mod state;
pub(crate) mod status;
pub mod store;
pub(crate) mod system;
pub(crate) mod time;
pub(crate) mod tls;
pub(crate) mod update;
pub(crate) mod web;

#[cfg(test)]
mod testdir;

use anyhow::Context;
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpListener;

use config::{Config, Mode};
use system::SystemInfo;

/// What an appliance that trusts the published development key says at start (console,
/// log); Status and `GET /api/v1/status` say it with `update_keys.development`.
const DEVELOPMENT_BUILD: &str =
    "development build: accepts packages signed with the public development key";

/// Run until SIGTERM or SIGINT.
pub fn run(config: Config) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config))
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let system = match config.mode {
        Mode::Appliance => SystemInfo::load(Path::new(paths::RELEASE), Path::new(paths::CMDLINE))?,
        Mode::Dev => SystemInfo::dev()?,
    };
    tracing::info!(
        version = %system.release.version,
        profile = %system.release.profile,
        slot = %system.slot,
        mode = ?config.mode,
        "appliance-daemon starting"
    );

    std::fs::create_dir_all(&config.state_dir)
        .with_context(|| format!("cannot create {}", config.state_dir.display()))?;
    let store = store::Store::open(&config.store_path())?;
    // A snapshot apply a power cut interrupted ends on the old service part or the new
    // one before anything reads either.
    // A failure is logged, not fatal: the daemon must serve (a restart would meet the same
    // files, and never reaching the health gate would roll the slot back for nothing).
    if let Err(err) = snapshot::recover(&store, &config.state_dir) {
        tracing::error!(
            "cannot settle an interrupted settings apply; restore the backup again: {err}"
        );
    }
    backup::clear_leftovers(&config.state_dir);
    // Loopback is up when this returns (the self-check needs it); DHCP carries on in the
    // background so HTTPS is never held up by a slow or absent DHCP server.
    let net = start_network(&config, &system, store.clone()).await?;
    let hostname = system::hostname();
    let tls_dir = config.tls_dir();
    let identity = tls::open(&tls_dir, &hostname).with_context(|| {
        format!(
            "cannot set up the HTTPS certificate in {}",
            tls_dir.display()
        )
    })?;
    tracing::info!(
        path = %identity.cert_path.display(),
        created = identity.created,
        "TLS certificate ready"
    );
    let certificates = Arc::new(
        tls::Certificates::new(tls_dir.clone(), &identity, store.clone()).with_context(|| {
            format!("cannot read the certificate store in {}", tls_dir.display())
        })?,
    );
    let pin = certificates.pin();
    if config.mode == Mode::Appliance {
        // On the console and the screen, beside the admin URL: what an administrator
        // compares on first use.
        screen::show(&format!("HTTPS certificate public key SHA-256: {pin}\n"));
    }
    // The pair channel's own identity: made at the first start, never the served certificate
    // (which a pair's sync makes the same on both appliances).
    let pair_dir = config.pair_dir();
    let pair_identity = tls::load_or_create(&pair_dir, pair::PAIR_SERVER_NAME)
        .with_context(|| format!("cannot set up the pair identity in {}", pair_dir.display()))?;
    let tls_config = server::https::TlsConfigs {
        service: certificates.selector(),
        pair: tls::pair_server_config(&pair_identity)?,
    };

    let listener = TcpListener::bind(config.https_listen).await.with_context(|| {
        format!(
            "cannot listen for HTTPS on {} (another process on the port, or no permission for a port below 1024?)",
            config.https_listen
        )
    })?;
    let https_addr = listener.local_addr()?;
    let slot = system.slot;
    let (state, app) = app(
        &config,
        system,
        store,
        net,
        &pair_identity,
        Arc::clone(&certificates),
    )?;
    tokio::spawn(server::https::serve(listener, tls_config, app));
    tracing::info!(addr = %https_addr, "serving HTTPS");
    server::local::start(&config.local_socket(), Arc::clone(&state));

    if let Some(http_listen) = config.http_listen {
        let listener = TcpListener::bind(http_listen).await.with_context(|| {
            format!("cannot listen for HTTP on {http_listen} (another process on the port?)")
        })?;
        tracing::info!(addr = %listener.local_addr()?, "redirecting HTTP to HTTPS");
        tokio::spawn(server::redirect::serve(listener, https_addr.port()));
    }

    let self_check_cert = certificates
        .selector()
        .leaf_for(server::selfcheck::loopback_of(https_addr).ip());
    if health_gate(config.mode, https_addr, self_check_cert, slot).await {
        // init restarts the machine if this never comes (docs/boot.md: health deadline).
        match system::power::report_healthy(&config.control_socket).await {
            Ok(()) => tracing::info!("init told the slot is healthy"),
            Err(err) => tracing::error!(
                "cannot tell init the slot is healthy; it will restart the machine at its health deadline: {err}"
            ),
        }
    }
    if let Err(err) = state.time.start_time_daemon() {
        tracing::error!("cannot prepare the time daemon's configuration: {err}");
    }
    // After mark-good: what became of an install that waited for this boot.
    let settle = Arc::clone(&state);
    match tokio::task::spawn_blocking(move || settle.updater.at_start()).await {
        Ok(Ok(_)) => {}
        Ok(Err(err)) => tracing::error!("cannot settle the update state at start: {err:#}"),
        Err(err) => tracing::error!("settling the update state did not finish: {err}"),
    }
    // Scheduled backups (docs/backup.md): after the settings are settled.
    tokio::spawn(Arc::clone(&state.backup_schedule).run_loop());
    // Certificate expiry warnings: at start, then daily (docs/certificates.md).
    tokio::spawn(Arc::clone(&state.tls).watch_expiry());
    if config.mode == Mode::Appliance {
        // After the self-check, which pins the certificate it started with.
        tokio::spawn(Arc::clone(&state.tls).follow_names());
    }

    wait_for_stop_signal().await?;
    Ok(())
}

/// Start the network manager: on the appliance it owns the NICs; in dev mode it applies
/// nothing, unless a test names a network namespace for it.
pub(crate) async fn start_network(
    config: &Config,
    system: &SystemInfo,
    store: store::Store,
) -> anyhow::Result<net::Handle> {
    let kernel = match (config.mode, &config.net_namespace) {
        (Mode::Appliance, _) => Some(net::Kernel::appliance()),
        (Mode::Dev, None) => None,
        (Mode::Dev, Some(ns)) => Some(net::Kernel {
            netns: Some(ns.clone()),
            interfaces: (!config.net_interfaces.is_empty()).then(|| config.net_interfaces.clone()),
            resolv_conf: config.state_dir.join("resolv.conf"),
            sysfs_net: std::path::PathBuf::from(paths::SYS_CLASS_NET),
            set_hostname: false,
        }),
    };
    let appliance = config.mode == Mode::Appliance;
    // In a failover pair no shared IP is taken at start: the failover service decides
    // (`Failover::at_start`), after asking the peer who is primary.
    let shared_role = failover::shared_role_at_start(&store);
    let options = net::Options {
        kernel,
        store: Some(store),
        profile: system.release.profile.clone(),
        config: None,
        init_dir: appliance.then(|| config.state_dir.join("etc")),
        confirm_after: config
            .net_confirm_seconds
            .map_or(net::CONFIRM_AFTER, std::time::Duration::from_secs),
        unapplied: None,
        shared_role,
    };
    match net::start(options.clone()).await {
        Ok(handle) => Ok(handle),
        Err(err) if appliance => {
            // The daemon must still serve: the settings can then be read, not applied.
            tracing::error!("network: {err}; the settings cannot be applied");
            let options = net::Options {
                kernel: None,
                unapplied: Some(format!(
                    "not applied: the network manager could not reach the kernel ({err})"
                )),
                ..options
            };
            Ok(net::start(options).await?)
        }
        Err(err) => Err(err.into()),
    }
}

/// Build the domain services and the whole HTTP surface on them: API, web UI, 404s.
pub(crate) fn app(
    config: &Config,
    system: SystemInfo,
    store: store::Store,
    net: net::Handle,
    pair_identity: &tls::Identity,
    certificates: Arc<tls::Certificates>,
) -> anyhow::Result<(Arc<state::AppState>, axum::Router)> {
    let appliance_id = store.identity()?.appliance_id;
    tracing::info!(%appliance_id, "settings store open");
    let auth = Arc::new(auth::Auth::new(store.clone())?);
    let updater = Arc::new(update::Updater::new(
        update::Platform::new(config.mode, &config.state_dir),
        store.clone(),
        system.slot,
        &system.release.version,
        &system.release.profile,
    ));
    let time = time::TimeService::new(config.mode, &config.state_dir, store.clone());
    if config.mode == Mode::Appliance {
        tokio::spawn(time.clone().watch());
    }
    let failover = Arc::new(failover::Failover::new(
        store.clone(),
        Arc::clone(&updater),
        pair_identity,
        &system.release.version,
        &system.release.profile,
    )?);
    failover.attach_network(net.clone());
    if let Err(err) = failover.at_start() {
        tracing::error!("cannot read the failover pair's state: {err}");
    }
    tokio::spawn(Arc::clone(&failover).watch());
    let forwarding = logs::forward::Forwarder::new(
        Some(store.clone()),
        &config.state_dir.join(logs::DIR),
        (config.mode == Mode::Appliance)
            .then(|| std::path::PathBuf::from(paths::FORWARDING_POSITION)),
    );
    forwarding.start();
    let reload = snapshot::Reload {
        forwarding: Arc::clone(&forwarding),
        auth: Arc::clone(&auth),
        tls: Arc::clone(&certificates),
        time: time.clone(),
        net: net.clone(),
    };
    let backup = backup::BackupService::new(
        store.clone(),
        config.state_dir.clone(),
        &system.release.profile,
        &system.release.version,
        reload.clone(),
    );
    failover.set_sync(failover::SyncSetup {
        state_dir: config.state_dir.clone(),
        profile: system.release.profile.clone(),
        version: system.release.version.clone(),
        reload,
        timing: failover::SyncTiming::from_env(config.mode == Mode::Dev),
    });
    tokio::spawn(Arc::clone(&failover).sync_loop());
    let guard = Arc::downgrade(&failover);
    let _ = updater.site_guard.set(update::SiteGuard(Box::new(move || {
        guard.upgrade()?.managed_by_primary()
    })));
    let backups = Arc::new(backup::runner::Scheduler::new(
        store.clone(),
        &config.state_dir,
        &system.release.profile,
        &system.release.version,
    ));
    let pair = Arc::downgrade(&failover);
    let _ = backups
        .backup_of
        .set(backup::runner::BackupOf(Box::new(move || {
            pair.upgrade()?.primary_host()
        })));
    let update_keys = update::upload::update_keys(&updater.platform.keys_dir());
    if update_keys.development {
        tracing::warn!("{DEVELOPMENT_BUILD}");
        if config.mode == Mode::Appliance {
            screen::show(&format!("\n{DEVELOPMENT_BUILD}\n"));
        }
    }
    let state = Arc::new(state::AppState {
        mode: config.mode,
        status: status::StatusService::new(
            system.clone(),
            store.clone(),
            config.state_dir.clone(),
            Arc::clone(&certificates),
            update_keys,
            Arc::clone(&failover),
        ),
        system,
        shutdown: system::shutdown::Shutdown::new(
            config.mode,
            config.control_socket.clone(),
            store.clone(),
        ),
        store,
        state_dir: config.state_dir.clone(),
        logs: logs::LogService::new(&config.state_dir),
        forwarding,
        auth,
        net,
        tls: certificates,
        updater,
        time,
        backup,
        failover,
        backup_schedule: backups,
    });
    Ok((
        Arc::clone(&state),
        api::router(Arc::clone(&state))
            .merge(web::router(state))
            .fallback(api::not_found),
    ))
}

/// Self-check over loopback, then mark the booted slot good (appliance only). True when
/// an appliance's slot is now good (or it runs the factory image).
async fn health_gate(
    mode: Mode,
    https_addr: std::net::SocketAddr,
    cert: rustls::pki_types::CertificateDer<'static>,
    slot: system::BootSlot,
) -> bool {
    if let Err(err) = server::selfcheck::run(https_addr, cert).await {
        tracing::error!("HTTPS self-check failed, slot {slot} stays on trial: {err}");
        return false;
    }
    if mode == Mode::Dev {
        tracing::info!("HTTPS self-check passed (dev mode: grubenv not touched)");
        return false;
    }
    // The privileged part marks it (docs/security.md).
    match tokio::task::spawn_blocking(privileged::client::mark_good).await {
        Ok(Ok(boot::Outcome::Marked { device })) => {
            tracing::info!(%device, "HTTPS self-check passed; slot {slot} marked good");
            true
        }
        Ok(Ok(boot::Outcome::AlreadyGood { .. })) => {
            tracing::info!("HTTPS self-check passed; slot {slot} was already marked good");
            true
        }
        Ok(Ok(boot::Outcome::Factory)) => {
            tracing::info!("HTTPS self-check passed; running the factory image, no slot to mark");
            true
        }
        Ok(Err(err)) => {
            tracing::error!(
                "cannot mark slot {slot} good, it stays on trial and GRUB may roll back: {err}"
            );
            false
        }
        Err(err) => {
            tracing::error!("marking slot {slot} good did not finish: {err}");
            false
        }
    }
}

async fn wait_for_stop_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    tracing::info!("stopping on {name}");
    Ok(())
}
