//! The failover pair's logic, without I/O, so that each rule is tested alone: the
//! inter-appliance key as an operator generates, types and compares it ([`key`]), the
//! proof each side gives of that key at establish without sending it ([`proof`]), and the
//! role and epoch state machine that decides who holds the shared IPs ([`role`]). The
//! daemon's `failover` service does the network, the store and the shared IPs;
//! docs/failover.md is the design and the threat model.
#![forbid(unsafe_code)]

pub mod key;
pub mod proof;
pub mod role;
pub mod takeover;

pub use key::{Key, KeyError};
pub use proof::{Direction, Transcript};
pub use role::{
    establish_epoch, step, Action, Event, Ids, LostReason, Note, Refusal, Role, SharedIps, State,
    Transition,
};

/// The TLS server name a client sends to reach the pair channel instead of the served
/// certificate: the appliance then presents its own pair identity and asks for the
/// client's. `.invalid` is reserved (RFC 2606): no real host ever has this name.
pub const PAIR_SERVER_NAME: &str = "pair.appliance.invalid";
