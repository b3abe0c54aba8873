//! The privilege boundary (docs/security.md "Who may do what").
//!
//! On the appliance init starts the daemon as root; before anything else [`split`] makes
//! two processes of it:
//! - the **privileged part** (the process init started, root): prepares what the service
//!   needs at start (its directories, `data` owned by it, the clock moved forward to the
//!   last good time), then serves two local sockets and nothing else: [`SOCKET`], the
//!   typed requests of [`Request`], checked here whatever the service says ([`server`],
//!   [`rules`]), and [`INIT_RELAY`], which passes the service's requests on to init's
//!   control socket (restart, power off, service states, healthy). It parses no network
//!   input; it forwards SIGTERM to the service and exits with it.
//! - the **service** (its child): opens what only root may open ([`preload`]), becomes
//!   the `appliance` user ([`UID`], [`GID`]) with only CAP_NET_ADMIN, CAP_NET_RAW and
//!   CAP_NET_BIND_SERVICE ([`drop`]), and runs the whole daemon: TLS, HTTP, uploads,
//!   packages, the pair channel, the network.
//!
//! Dev mode does not split: the daemon runs as the developer and does the same acts on
//! files in its state directory.

pub mod client;
mod drop;
mod rules;
mod server;
mod split;

pub use split::split;

use serde::{Deserialize, Serialize};

/// The service's user and group on the appliance (no name in the image: `/proc` shows
/// the number).
pub const UID: u32 = 200;
pub const GID: u32 = 200;

/// The privileged part's socket (root:`GID`, mode 0660; the peer's uid is checked too).
pub(crate) const SOCKET: &str = "/run/appliance-privileged.sock";
/// Init's control protocol, relayed for the service (same modes as [`SOCKET`]).
pub(crate) const INIT_RELAY: &str = "/run/appliance-init.sock";
/// The service's own directory on tmpfs (its local socket, resolver and time daemon files).
pub(crate) const RUN_DIR: &str = "/run/appliance";

/// What the service may ask of the privileged part. Each is checked there: the service is
/// not trusted with more than the request names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Request {
    /// The ESP's grubenv block.
    ReadBootState,
    /// Replace grubenv with this block, if [`rules::check_write`] allows the change: no
    /// slot becomes bootable this way and the anti-rollback floor never goes down.
    WriteBootState(Vec<u8>),
    /// The booted slot passed its health gate.
    MarkGood,
    /// Write the inactive slot: the package's signed entries first; the privileged part
    /// verifies them against the slot's own keys (signature, kind, profile, floor, size)
    /// and answers [`Response::Ready`]; then exactly the payload's size in bytes follows,
    /// hashed as it is written; the slot is made bootable only if the hash matches.
    InstallSlot {
        slot: String,
        manifest: Vec<u8>,
        signature: Vec<u8>,
    },
    /// sethostname(2) with a name the network settings accepted (checked again).
    SetHostname(String),
    /// Stop the time daemon; init starts it again with its new configuration.
    RestartTimeService,
}

/// The privileged part's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Response {
    Done,
    BootState(Vec<u8>),
    /// [`Request::MarkGood`]: whether grubenv changed, and the ESP's device.
    Marked {
        changed: bool,
        device: String,
    },
    /// [`Request::MarkGood`] on the factory image: nothing to mark.
    Factory,
    /// [`Request::InstallSlot`]: verified, send the payload.
    Ready,
    /// Not allowed; nothing was changed. The sentence says why.
    Refused(String),
    /// Allowed but it did not work. The sentence says why.
    Failed(String),
}
