//! Logging: `tracing` events to stderr, one line each. On the appliance init passes stderr
//! to the console (serial), which is a terminal but also ends up in files: no colours there.

use std::io::IsTerminal;

/// Install the global subscriber. `RUST_LOG`-style filtering is not compiled in (the
/// `env-filter` feature is heavy); the level is INFO, or DEBUG with `APPLIANCE_DEBUG=1`.
/// Colours only when `colour_allowed` (dev mode) and stderr is a terminal.
pub fn init(colour_allowed: bool) {
    let level = if crate::paths::env::debug_logs() {
        tracing::Level::DEBUG
    } else {
        tracing::Level::INFO
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(colour_allowed && std::io::stderr().is_terminal())
        .with_max_level(level)
        .with_target(false)
        .init();
}
