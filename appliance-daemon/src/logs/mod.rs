//! The persistent log (docs/logs.md): init writes the ring on data (`/data/log`, crate
//! `logring`); this service reads it for `GET /api/v1/logs`, the Logs page, appliancectl and
//! the support bundle (`bundle.rs`). In dev mode the daemon writes its own lines there
//! (`dev.rs`), since no init captures them.

pub(crate) mod bundle;
pub(crate) use bundle::preload_kernel_log;
pub(crate) mod dev;
pub mod forward;

use api_types::{LogBoot, LogLine, Logs};
use logring::{BootSel, Cursor, Level, Query, Record};
use std::path::{Path, PathBuf};

/// The ring's directory inside the data directory.
pub const DIR: &str = "log";
/// Lines in one answer by default, and at most.
pub(crate) const DEFAULT_LIMIT: usize = 200;
pub(crate) const MAX_LIMIT: usize = 5000;

/// A request's filters, as typed (query string, form).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub(crate) struct Filter {
    pub service: Option<String>,
    pub level: Option<String>,
    pub boot: Option<String>,
    /// Unix seconds.
    pub since: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub limit: Option<usize>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum LogError {
    #[error("{0:?} is not a level: use error, warn, notice, info or debug")]
    BadLevel(String),
    #[error(
        "{0:?} is not a boot: give its number (1, 2, …) or count back from the running one (0, -1, …)"
    )]
    BadBoot(String),
    #[error("{0:?} is not a position in the log: pass back a cursor an answer gave")]
    BadCursor(String),
    #[error("{0:?} is not a time: give Unix seconds")]
    BadSince(String),
    #[error("reading the log on data failed: {0}")]
    Read(#[from] std::io::Error),
}

fn empty(s: Option<&String>) -> Option<&str> {
    s.map(|s| s.trim()).filter(|s| !s.is_empty())
}

impl Filter {
    /// The ring's query; `default_limit` when none was asked (0: every line).
    pub(crate) fn query(&self, default_limit: usize) -> Result<Query, LogError> {
        let level = match empty(self.level.as_ref()) {
            Some(l) => Some(Level::parse(l).ok_or_else(|| LogError::BadLevel(l.to_string()))?),
            None => None,
        };
        let boot = match empty(self.boot.as_ref()) {
            Some(b) => Some(
                b.parse::<BootSel>()
                    .map_err(|()| LogError::BadBoot(b.to_string()))?,
            ),
            None => None,
        };
        let since_us = match empty(self.since.as_ref()) {
            Some(s) => Some(
                s.parse::<u64>()
                    .ok()
                    .and_then(|v| v.checked_mul(1_000_000))
                    .ok_or_else(|| LogError::BadSince(s.to_string()))?,
            ),
            None => None,
        };
        let cursor = |c: Option<&String>| -> Result<Option<Cursor>, LogError> {
            match empty(c) {
                Some(c) => Ok(Some(
                    c.parse::<Cursor>()
                        .map_err(|()| LogError::BadCursor(c.to_string()))?,
                )),
                None => Ok(None),
            }
        };
        Ok(Query {
            service: empty(self.service.as_ref()).map(str::to_string),
            level,
            boot,
            since_us,
            before: cursor(self.before.as_ref())?,
            after: cursor(self.after.as_ref())?,
            limit: self.limit.map_or(default_limit, |l| l.clamp(1, MAX_LIMIT)),
        })
    }
}

/// Reads the ring.
#[derive(Debug, Clone)]
pub(crate) struct LogService {
    dir: PathBuf,
}

/// `2026-12-07T23:00:00.123456Z`.
pub(crate) fn time_text(time_us: u64) -> String {
    let secs = units::rfc3339(time_us / 1_000_000);
    match secs.strip_suffix('Z') {
        Some(s) => format!("{s}.{:06}Z", time_us % 1_000_000),
        None => secs,
    }
}

fn line(cursor: Cursor, r: Record) -> LogLine {
    LogLine {
        cursor: cursor.to_string(),
        boot: r.boot,
        time: time_text(r.time_us),
        boot_id: r.boot_id,
        time_us: r.time_us,
        uptime_ms: r.uptime_ms,
        service: r.service,
        level: r.level.as_str().to_string(),
        message: r.message,
    }
}

/// One line as text: `TIME boot N [+UPTIME s] SERVICE LEVEL: MESSAGE`.
pub(crate) fn text_line(l: &LogLine) -> String {
    format!(
        "{} boot {} [{:>9.3}] {} {}: {}\n",
        l.time,
        l.boot,
        l.uptime_ms as f64 / 1000.0,
        l.service,
        l.level,
        l.message.replace('\n', "\n    ")
    )
}

impl LogService {
    pub(crate) fn new(state_dir: &Path) -> Self {
        LogService {
            dir: state_dir.join(DIR),
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// A page of lines, newest first (blocking: call from a blocking thread).
    pub(crate) fn page_blocking(&self, filter: &Filter) -> Result<Logs, LogError> {
        let q = filter.query(DEFAULT_LIMIT)?;
        let page = logring::read(&self.dir, &q)?;
        let boots = logring::boots(&self.dir);
        let last = boots.last().map(|b| b.number);
        let size = std::fs::read_dir(&self.dir).map_or(0, |rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        });
        Ok(Logs {
            lines: page.lines.into_iter().map(|(c, r)| line(c, r)).collect(),
            next: page.next.map(|c| c.to_string()),
            head: page.head.to_string(),
            boot: page.boot,
            boots: boots
                .into_iter()
                .map(|b| LogBoot {
                    boot: b.number,
                    current: Some(b.number) == last,
                    started: time_text(b.time_us),
                    boot_id: b.boot_id,
                })
                .collect(),
            size_bytes: size,
            cap_bytes: logring::DEFAULT_CAP,
        })
    }

    pub(crate) async fn page(&self, filter: Filter) -> Result<Logs, LogError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.page_blocking(&filter))
            .await
            .map_err(|e| LogError::Read(std::io::Error::other(e.to_string())))?
    }

    /// Every matching line as text, oldest first (the download), at most `MAX_DOWNLOAD`
    /// bytes of the newest lines.
    pub(crate) async fn text(&self, filter: Filter) -> Result<String, LogError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.text_blocking(&filter))
            .await
            .map_err(|e| LogError::Read(std::io::Error::other(e.to_string())))?
    }

    pub(crate) fn text_blocking(&self, filter: &Filter) -> Result<String, LogError> {
        let mut q = filter.query(0)?;
        q.before = None;
        q.after = None;
        let page = logring::read(&self.dir, &q)?;
        let mut out = String::new();
        for (c, r) in page.lines.into_iter().rev() {
            out.push_str(&text_line(&line(c, r)));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_checked_with_a_sentence() {
        let f = |level: &str, boot: &str, before: &str| Filter {
            level: Some(level.into()),
            boot: Some(boot.into()),
            before: Some(before.into()),
            ..Filter::default()
        };
        let q = f("warn", "-1", "3-120").query(10).unwrap();
        assert_eq!(q.level, Some(Level::Warn));
        assert_eq!(q.boot, Some(BootSel::Back(1)));
        assert_eq!(
            q.before,
            Some(Cursor {
                segment: 3,
                offset: 120
            })
        );
        assert_eq!(q.limit, 10);
        assert!(matches!(
            f("loud", "", "").query(1),
            Err(LogError::BadLevel(_))
        ));
        assert!(matches!(f("", "x", "").query(1), Err(LogError::BadBoot(_))));
        assert!(matches!(
            f("", "", "3:4").query(1),
            Err(LogError::BadCursor(_))
        ));
        assert_eq!(f("", "", "").query(7).unwrap().limit, 7);
        assert!(f("", "", "").query(7).unwrap().level.is_none());
    }

    #[test]
    fn times_carry_microseconds() {
        assert_eq!(
            time_text(951_782_400_000_042),
            "2000-02-29T00:00:00.000042Z"
        );
    }
}
