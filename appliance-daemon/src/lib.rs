//! The management daemon: HTTPS API on 443, HTTP redirect on 80, and the health gate that
//! marks the booted slot good. `main.rs` only parses arguments and calls [`run`].

pub mod api;
pub mod auth;
pub mod boot;
pub mod config;
pub mod logging;
pub mod net;
pub mod reset;
pub mod server;
pub mod store;
pub mod system;
pub mod tls;
pub mod web;

#[cfg(test)]
mod testdir;

use anyhow::Context;
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpListener;

use config::{Config, Mode};
use system::SystemInfo;

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
        Mode::Appliance => SystemInfo::load(
            Path::new(system::RELEASE_PATH),
            Path::new(system::CMDLINE_PATH),
        )?,
        Mode::Dev => SystemInfo::dev()?,
    };
    tracing::info!(
        version = %system.release.version,
        profile = %system.release.profile,
        slot = %system.slot,
        mode = ?config.mode,
        "appliance-daemon starting"
    );

    let hostname = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    if config.mode == Mode::Appliance {
        // Loopback is up when this returns (the self-check needs it); DHCP carries on in
        // the background so HTTPS is never held up by a slow or absent DHCP server.
        if let Err(err) = net::start(net::Options::appliance(hostname.clone())).await {
            tracing::error!("network bring-up failed, the appliance may be unreachable: {err}");
        }
    }
    let tls_dir = config.tls_dir();
    let identity = tls::load_or_create(&tls_dir, &hostname).with_context(|| {
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
    let served = tls::Served::new(&identity)?;
    let tls_config = tls::server_config(Arc::clone(&served))?;

    let listener = TcpListener::bind(config.https_listen).await.with_context(|| {
        format!(
            "cannot listen for HTTPS on {} (another process on the port, or no permission for a port below 1024?)",
            config.https_listen
        )
    })?;
    let https_addr = listener.local_addr()?;
    let slot = system.slot;
    let app = app(&config, system)?;
    tokio::spawn(server::https::serve(listener, tls_config, app));
    tracing::info!(addr = %https_addr, "serving HTTPS");

    if let Some(http_listen) = config.http_listen {
        let listener = TcpListener::bind(http_listen).await.with_context(|| {
            format!("cannot listen for HTTP on {http_listen} (another process on the port?)")
        })?;
        tracing::info!(addr = %listener.local_addr()?, "redirecting HTTP to HTTPS");
        tokio::spawn(async move {
            if let Err(err) = server::redirect::serve(listener, https_addr.port()).await {
                tracing::error!("the HTTP redirect stopped: {err}");
            }
        });
    }

    health_gate(config.mode, https_addr, identity.cert.clone(), slot).await;
    if config.mode == Mode::Appliance {
        // After the self-check, which pins the certificate it started with.
        tokio::spawn(follow_names(tls_dir, served));
    }

    wait_for_stop_signal().await?;
    Ok(())
}

/// Open the settings store and build the whole HTTP surface: API, web UI, 404s.
pub fn app(config: &Config, system: SystemInfo) -> anyhow::Result<axum::Router> {
    std::fs::create_dir_all(&config.state_dir)
        .with_context(|| format!("cannot create {}", config.state_dir.display()))?;
    let store = store::Store::open(&config.store_path())?;
    let identity = store.identity()?;
    tracing::info!(appliance_id = %identity.appliance_id, "settings store open");
    let auth = auth::Auth::new(store.clone())?;
    let state = Arc::new(api::AppState {
        mode: config.mode,
        system,
        store,
        state_dir: config.state_dir.clone(),
        auth,
        control_socket: config.control_socket.clone(),
        sysroot: std::path::PathBuf::from("/"),
        started: std::time::Instant::now(),
        going_down: std::sync::atomic::AtomicBool::new(false),
        specs: api::SpecsCache::default(),
    });
    Ok(api::router(Arc::clone(&state))
        .merge(web::router(state))
        .fallback(api::not_found))
}

/// Keep the self-signed certificate naming the current host name and addresses.
async fn follow_names(dir: std::path::PathBuf, served: Arc<tls::Served>) {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        let hostname = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = dir.clone();
        let result = tokio::task::spawn_blocking(move || {
            tls::refresh(&dir, &hostname, tls::local_addresses())
        })
        .await;
        match result {
            Ok(Ok(Some(identity))) => match served.replace(&identity) {
                Ok(()) => tracing::info!(
                    "HTTPS certificate re-issued for the current host name and addresses"
                ),
                Err(err) => tracing::error!("cannot serve the re-issued certificate: {err}"),
            },
            Ok(Ok(None)) => {}
            Ok(Err(err)) => tracing::warn!("cannot re-issue the HTTPS certificate: {err}"),
            Err(err) => tracing::warn!("certificate refresh did not finish: {err}"),
        }
    }
}

/// Self-check over loopback, then mark the booted slot good (appliance only).
async fn health_gate(
    mode: Mode,
    https_addr: std::net::SocketAddr,
    cert: rustls::pki_types::CertificateDer<'static>,
    slot: system::BootSlot,
) {
    if let Err(err) = server::selfcheck::run(https_addr, cert).await {
        tracing::error!("HTTPS self-check failed, slot {slot} stays on trial: {err}");
        return;
    }
    if mode == Mode::Dev {
        tracing::info!("HTTPS self-check passed (dev mode: grubenv not touched)");
        return;
    }
    match tokio::task::spawn_blocking(move || boot::mark_good(slot)).await {
        Ok(Ok(boot::Outcome::Marked { device })) => {
            tracing::info!(%device, "HTTPS self-check passed; slot {slot} marked good")
        }
        Ok(Ok(boot::Outcome::AlreadyGood { .. })) => {
            tracing::info!("HTTPS self-check passed; slot {slot} was already marked good")
        }
        Ok(Ok(boot::Outcome::Factory)) => {
            tracing::info!("HTTPS self-check passed; running the factory image, no slot to mark")
        }
        Ok(Err(err)) => {
            tracing::error!(
                "cannot mark slot {slot} good, it stays on trial and GRUB may roll back: {err}"
            )
        }
        Err(err) => tracing::error!("marking slot {slot} good did not finish: {err}"),
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
