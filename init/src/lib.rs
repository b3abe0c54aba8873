//! init, PID 1 of the appliance. One binary, two stages: stage 1 runs from the
//! initramfs (modules, slot, data partition, switch_root); stage 2 runs from the slot
//! (services, watchdog, signals, shutdown). [`args`] says which is which.
//!
//! Pure logic (no I/O, unit-tested) lives in `cmdline`, `uevent`, `kmod::glob`,
//! `kmod::index`, `gpt`, `crc32`, `ext4`, `squashfs`, `stage1::reset::record`,
//! `stage2::services`, `stage2::supervise`; the factory reset's state machine is in the
//! `grubenv` crate.

pub mod args;
pub mod cmdline;
pub mod crc32;
pub mod ext4;
pub mod gpt;
pub mod kmod;
pub mod log;
pub mod power;
pub mod seed;
pub mod squashfs;
pub mod stage1;
pub mod stage2;
pub mod uevent;
