//! The appliance's network settings and what follows from them, without I/O: the settings
//! as the operator writes them and the factory defaults ([`config`]), their checks
//! ([`validate`]), the DHCPv4 lease in the appliance's terms ([`lease`]), the plan that
//! turns settings, lease and held shared IPs into changes to one interface ([`plan`]),
//! the resolver file's content ([`resolv`]), the shared IP's ARP and NDP frames ([`arp`],
//! [`ndp`]), and the plain data of `GET /api/v1/network` ([`view`]), which the daemon
//! writes and `appliancectl` reads. The daemon reads the kernel's state, the store and
//! the DHCP client, sends the frames and carries the changes out; docs/network.md is the
//! operator's side.
//!
//! The modules depend one way only, so that each can be read and tested from the bottom
//! up: [`ipnet`] (addresses with a prefix) is used by [`route`], both by [`lease`];
//! [`validate`] uses [`config`], [`ipnet`], [`route`] and [`problem`]; [`plan`] uses the
//! lease, the routes and the checked settings; [`resolv`] takes the resolver's limits
//! from [`validate`]; [`view`] uses [`config`]; [`arp`] and [`ndp`] stand alone.
#![forbid(unsafe_code)]

pub mod arp;
pub mod config;
pub mod ipnet;
pub mod lease;
pub mod ndp;
pub mod plan;
pub mod problem;
pub mod resolv;
pub mod route;
pub mod validate;
pub mod view;

pub use config::NetworkConfig;
pub use ipnet::{IpNet, Ipv4Net};
pub use lease::Lease;
pub use problem::Problem;
pub use route::{Origin, Route};
