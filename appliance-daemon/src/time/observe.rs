//! Reading the time daemon's state from its observation socket: each connection gets an
//! 8-byte big-endian length, then that many bytes of JSON (ntpd-rs's ObservableState).

use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// Largest answer accepted.
const MAX_JSON: u64 = 1 << 20;
/// Seconds between 1900 (NTP) and 1970 (Unix).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;
/// Stratum 16 means "not synchronized" in NTP.
const UNSYNCHRONIZED: u8 = 16;

/// What the appliance reports about its time source.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct NtpState {
    pub synchronized: bool,
    pub stratum: Option<u8>,
    /// The source the clock follows (the one with the smallest uncertainty that answered).
    pub server: Option<String>,
    /// Offset of the local clock from that source, in seconds.
    pub offset_seconds: Option<f64>,
    /// Unix seconds of that source's last measurement.
    pub last_sync: Option<u64>,
    pub sources: Vec<Source>,
}

pub(crate) use api_types::TimeSource as Source;

#[derive(Debug, Deserialize)]
struct Observed {
    system: System,
    #[serde(default)]
    sources: Vec<ObservedSource>,
}

#[derive(Debug, Deserialize)]
struct System {
    stratum: u8,
}

#[derive(Debug, Deserialize)]
struct ObservedSource {
    #[serde(default)]
    name: String,
    #[serde(default)]
    address: String,
    offset: Option<f64>,
    uncertainty: Option<f64>,
    #[serde(default)]
    unanswered_polls: u32,
    last_update: Option<Timestamp>,
}

#[derive(Debug, Deserialize)]
struct Timestamp {
    timestamp: u64,
}

/// NTP timestamp (32.32 fixed point from 1900, era 0 or 1) to Unix seconds; 0 is "never".
fn unix(ts: &Timestamp) -> Option<u64> {
    let seconds = ts.timestamp >> 32;
    if ts.timestamp == 0 {
        return None;
    }
    Some(if seconds >= NTP_UNIX_OFFSET {
        seconds - NTP_UNIX_OFFSET
    } else {
        // Era 1 (after 2036-02-07).
        seconds + (1 << 32) - NTP_UNIX_OFFSET
    })
}

/// Pure: the daemon's JSON to our summary.
pub(crate) fn parse(json: &[u8]) -> Result<NtpState, serde_json::Error> {
    let o: Observed = serde_json::from_slice(json)?;
    let sources: Vec<Source> = o
        .sources
        .iter()
        .map(|s| Source {
            name: s.name.clone(),
            address: s.address.clone(),
            offset_seconds: s.offset,
            unanswered_polls: s.unanswered_polls,
            last_update: s.last_update.as_ref().and_then(unix),
        })
        .collect();
    let best = o
        .sources
        .iter()
        .zip(&sources)
        .filter(|(raw, s)| s.last_update.is_some() && raw.uncertainty.is_some())
        .min_by(|(a, _), (b, _)| {
            a.uncertainty
                .unwrap_or(f64::MAX)
                .total_cmp(&b.uncertainty.unwrap_or(f64::MAX))
        })
        .map(|(_, s)| s.clone());
    let synchronized = o.system.stratum < UNSYNCHRONIZED && best.is_some();
    Ok(NtpState {
        synchronized,
        stratum: Some(o.system.stratum),
        server: best.as_ref().map(|s| {
            if s.name.is_empty() {
                s.address.clone()
            } else {
                format!("{} ({})", s.name, s.address)
            }
        }),
        offset_seconds: best.as_ref().and_then(|s| s.offset_seconds),
        last_sync: best.as_ref().and_then(|s| s.last_update),
        sources,
    })
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ObserveError {
    #[error("the time daemon is not running or not ready ({path}: {source})")]
    Unreachable {
        path: String,
        source: std::io::Error,
    },
    #[error("the time daemon did not answer within 2 s")]
    Timeout,
    #[error("the time daemon's answer of {0} bytes is too large")]
    TooLarge(u64),
    #[error("the time daemon's answer is not what was expected: {0}")]
    Format(#[from] serde_json::Error),
}

/// Ask the daemon listening on `path`.
pub(crate) async fn read(path: &Path) -> Result<NtpState, ObserveError> {
    let io = |source| ObserveError::Unreachable {
        path: path.display().to_string(),
        source,
    };
    let work = async {
        let mut stream = tokio::net::UnixStream::connect(path).await.map_err(io)?;
        let len = stream.read_u64().await.map_err(io)?;
        if len > MAX_JSON {
            return Err(ObserveError::TooLarge(len));
        }
        let mut json = vec![0u8; len as usize];
        stream.read_exact(&mut json).await.map_err(io)?;
        Ok(parse(&json)?)
    };
    tokio::time::timeout(Duration::from_secs(2), work)
        .await
        .map_err(|_| ObserveError::Timeout)?
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from a real ntp-daemon 1.9 answer synced to one chronyd.
    const SYNCED: &str = r#"{"program":{"version":"1.9.0","build_commit":"x","build_commit_date":"x","uptime_seconds":40.1,"now":{"timestamp":16945068310000000000}},
      "system":{"stratum":9,"reference_id":1,"accumulated_steps_threshold":null,"precision":1e-9,"root_delay":0.001,"root_variance_base_time":{"timestamp":0},"root_variance_base":0.0,"root_variance_linear":0.0,"root_variance_quadratic":0.0,"root_variance_cubic":0.0,"leap_indicator":"NoWarning","accumulated_steps":0.0},
      "sources":[{"offset":-0.00012,"uncertainty":0.0004,"delay":0.001,"remote_delay":0.0,"remote_uncertainty":0.0,"last_update":{"timestamp":16945068300000000000},"unanswered_polls":0,"poll_interval":4,"nts_cookies":null,"name":"10.0.2.2:123","address":"10.0.2.2:123","id":1}],
      "servers":[]}"#;

    #[test]
    fn a_synchronized_daemon() {
        let s = parse(SYNCED.as_bytes()).unwrap();
        assert!(s.synchronized);
        assert_eq!(s.stratum, Some(9));
        assert_eq!(s.offset_seconds, Some(-0.00012));
        assert!(s.server.as_deref().unwrap().contains("10.0.2.2"));
        // 16945068300000000000 >> 32 = 3945413xxx s since 1900: 2025.
        let t = s.last_sync.unwrap();
        assert!((1_735_000_000..1_800_000_000).contains(&t), "{t}");
    }

    #[test]
    fn an_unsynchronized_daemon() {
        let json = r#"{"system":{"stratum":16},"sources":[{"offset":null,"uncertainty":null,"unanswered_polls":5,"last_update":{"timestamp":0},"name":"pool.ntp.org","address":"x"}]}"#;
        let s = parse(json.as_bytes()).unwrap();
        assert!(!s.synchronized);
        assert_eq!(s.server, None);
        assert_eq!(s.sources[0].unanswered_polls, 5);
        assert!(parse(b"{}").is_err());
    }
}
