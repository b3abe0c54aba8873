//! Kernel module loading for stage 1: the pure index ([`index`], [`glob`]) and the
//! loader that reads sysfs and calls finit_module ([`load`]).

pub mod glob;
pub mod index;
pub mod load;
