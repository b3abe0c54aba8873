//! Logging: `tracing` events to stderr, one line each. init captures stderr into the
//! console and the log on `data`, so no timestamps of our own are needed beyond tracing's.

use std::io::IsTerminal;

/// Install the global subscriber. `RUST_LOG`-style filtering is not compiled in (the
/// `env-filter` feature is heavy); the level is INFO, or DEBUG with `APPLIANCE_DEBUG=1`.
pub fn init() {
    let level = if std::env::var_os("APPLIANCE_DEBUG").is_some_and(|v| v == "1") {
        tracing::Level::DEBUG
    } else {
        tracing::Level::INFO
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_max_level(level)
        .with_target(false)
        .init();
}
