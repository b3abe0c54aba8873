//! The management daemon: HTTPS API on 443, HTTP redirect on 80, and the health gate that
//! marks the booted slot good. `main.rs` only parses arguments and calls [`run`].

pub mod api;
pub mod boot;
pub mod config;
pub mod logging;
pub mod net;
pub mod server;
pub mod store;
pub mod system;
pub mod tls;

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
    let tls_config = tls::server_config(&identity, &tls_dir)?;

    let listener = TcpListener::bind(config.https_listen).await.with_context(|| {
        format!(
            "cannot listen for HTTPS on {} (another process on the port, or no permission for a port below 1024?)",
            config.https_listen
        )
    })?;
    let https_addr = listener.local_addr()?;
    let slot = system.slot;
    let app = api::router(Arc::new(api::AppState { system }));
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

    wait_for_stop_signal().await?;
    Ok(())
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
