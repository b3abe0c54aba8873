//! How the product writes times and sizes: one definition for the daemon, init,
//! appliancectl, the package tools and the image builder. No I/O beyond reading the clock.
#![forbid(unsafe_code)]

pub mod clock;
mod size;

pub use clock::{now, rfc3339, utc};
pub use size::bytes;
