//! The appliance's network settings and what follows from them, without I/O: the settings
//! as the operator writes them and the factory defaults ([`config`]), their checks
//! ([`validate`]), the DHCPv4 lease in the appliance's terms ([`lease`]), and the plan
//! that turns settings, lease and held shared IPs into changes to one interface
//! ([`plan`]), and the plain data of `GET /api/v1/network` ([`view`]), which the daemon
//! writes and `appliancectl` reads. The daemon reads the kernel's state, the store and the DHCP client, and
//! carries the changes out; docs/network.md is the operator's side.
//!
//! The modules depend one way only, so that each can be read and tested from the bottom
//! up: [`ipnet`] (addresses with a prefix) is used by [`route`], both by [`lease`];
//! [`validate`] uses [`config`], [`ipnet`], [`route`] and [`problem`]; [`plan`] uses the
//! lease, the routes and the checked settings; [`view`] uses [`config`]. Nothing uses
//! [`plan`] or [`view`].

pub mod config;
pub mod ipnet;
pub mod lease;
pub mod plan;
pub mod problem;
pub mod route;
pub mod validate;
pub mod view;

pub use config::NetworkConfig;
pub use ipnet::{IpNet, Ipv4Net};
pub use lease::Lease;
pub use problem::Problem;
pub use route::{Origin, Route};
