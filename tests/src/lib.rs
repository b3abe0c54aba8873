//! QEMU harness for end-to-end tests of the built disk images.
//!
//! - [`machine`]: start QEMU with a profile's virtual hardware on a copy-on-write overlay of
//!   an image, forward guest 443 to a free loopback port, power button, power cut, exit.
//! - [`devices`]: the QEMU arguments of each machine profile (the one place they are listed
//!   on the Rust side; mirrors `qemu/README.md`).
//! - [`qmp`]: the QEMU Machine Protocol over a unix socket: commands and events.
//! - [`console`]: the serial console captured to a file, and waiting for lines on it.
//! - [`browser`]: headless Chromium through chromedriver, for the web UI.
//! - [`https`]: a small blocking HTTPS client for the appliance's API.
//! - [`dev`]: the daemon in dev mode on loopback, for API and browser tests.
//! - [`lab`]: an L2 segment (a bridge in a network namespace the test makes) that
//!   machines join with a second NIC on a tap, and a client on it.
//! - [`flood`]: abusive clients (from chosen loopback sources) and the daemon's memory
//!   peak, for the resource-limit tests.
//! - [`disk`]: locating built images, overlays, raw copies, editing grubenv, reading
//!   partitions of a disk image.
//! - [`openssl`]: the openssl command, and a PEM certificate's DER.
//! - [`scan`]: every occurrence of given bytes in a raw disk image, by partition.

pub mod api;
pub mod browser;
pub mod console;
pub mod dev;
pub mod devices;
pub mod disk;
pub mod flood;
pub mod https;
pub mod lab;
pub mod machine;
pub mod openssl;
pub mod qmp;
pub mod scan;
pub mod workdir;

pub use api::Api;
pub use machine::{Machine, MachineSpec};
