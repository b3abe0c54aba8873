//! The persistent log ring kept on the data partition (docs/logs.md).
//!
//! init writes it (its own lines and every service's stdout/stderr, through pipes); the
//! daemon reads it for `GET /api/v1/logs`, the Logs page and the support bundle. The ring is
//! a directory of numbered segment files (`00000001.log`, …) plus a `boots` index; the
//! oldest segment is deleted when the newest would make the whole exceed the cap. One line
//! per record, text, so that a person with a shell can read it too.
//!
//! No dependency and no `unsafe`: std files only.
#![forbid(unsafe_code)]

mod follow;
mod reader;
mod record;
mod writer;

pub use follow::{Followed, Follower};
pub use reader::{boots, read, Boot, BootSel, Cursor, Page, Query};
pub use record::{Level, Record};
pub use writer::{Entry, Ring, DEFAULT_CAP};
