//! Logging: `tracing` events to stderr, one line each. On the appliance init passes stderr
//! through a pipe to the console (serial) and the persistent log (docs/logs.md), which are
//! terminals or files: no colours there. In dev mode the lines also go into the log in the
//! state directory (`logs::dev`).

use std::io::IsTerminal;
use std::path::Path;

/// Install the global subscriber. `RUST_LOG`-style filtering is not compiled in (the
/// `env-filter` feature is heavy); the level is INFO, or DEBUG with `APPLIANCE_DEBUG=1`.
/// Colours only when `colour_allowed` (dev mode) and stderr is a terminal.
pub fn init(colour_allowed: bool) {
    init_with_log(colour_allowed, None);
}

/// [`init`]; with `log_dir`, every line is also kept in the persistent log there (dev
/// mode: no init captures the daemon's output).
pub fn init_with_log(colour_allowed: bool, log_dir: Option<&Path>) {
    let level = if crate::paths::env::debug_logs() {
        tracing::Level::DEBUG
    } else {
        tracing::Level::INFO
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false);
    match log_dir.map(crate::logs::dev::open) {
        Some(Ok(())) => builder
            .with_writer(|| crate::logs::dev::Tee)
            .with_ansi(false)
            .init(),
        other => {
            builder
                .with_writer(std::io::stderr)
                .with_ansi(colour_allowed && std::io::stderr().is_terminal())
                .init();
            if let Some(Err(e)) = other {
                tracing::warn!("the log in the state directory cannot be opened: {e}");
            }
        }
    }
}
