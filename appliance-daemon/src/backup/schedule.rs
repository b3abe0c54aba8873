//! The backup schedule (docs/backup.md "Scheduled backups"): when backups are made (daily
//! or weekly at a time of day, UTC, the appliance's clock), how many are kept on data,
//! the password they are made with and where each is pushed. The [`Schedule`] record is
//! the service's (a backup, a restore and the pair carry it); what the runs did
//! ([`Runs`]) is this machine's.
//!
//! [`decide`] is the whole timing rule, pure so that clock jumps are unit-tested: the
//! latest due time not yet served runs once (never a burst for the days a jump or a
//! stopped daemon skipped), and a clock set back never replays nor stalls the schedule.

use serde::{Deserialize, Serialize};

use super::MIN_PASSWORD;
use crate::store::Record;

/// The most backups kept on data.
pub(crate) const MAX_RETENTION: u32 = 100;
/// Kept when the operator has not said.
const DEFAULT_RETENTION: u32 = 7;
const DAY: u64 = 86_400;
const WEEK: u64 = 7 * DAY;
/// 1970-01-01, day 0 of unix time, was a Thursday (Monday = 0).
const EPOCH_WEEKDAY: u64 = 3;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Frequency {
    #[default]
    Daily,
    Weekly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl Weekday {
    pub(crate) const ALL: [Weekday; 7] = [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
        Weekday::Sunday,
    ];

    fn parse(text: &str) -> Option<Weekday> {
        let text = text.trim().to_ascii_lowercase();
        Weekday::ALL
            .into_iter()
            .find(|d| d.name() == text || d.name()[..3] == text)
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Weekday::Monday => "monday",
            Weekday::Tuesday => "tuesday",
            Weekday::Wednesday => "wednesday",
            Weekday::Thursday => "thursday",
            Weekday::Friday => "friday",
            Weekday::Saturday => "saturday",
            Weekday::Sunday => "sunday",
        }
    }

    fn index(self) -> u64 {
        Weekday::ALL.iter().position(|d| *d == self).unwrap_or(0) as u64
    }
}

/// The `backup_schedule` record.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Schedule {
    pub(crate) enabled: bool,
    pub(crate) frequency: Frequency,
    /// Weekly only.
    pub(crate) weekday: Option<Weekday>,
    /// Minutes after midnight, UTC.
    pub(crate) minute_of_day: u32,
    /// Backups kept on data, 1 to [`MAX_RETENTION`].
    pub(crate) retention: u32,
    /// What the backups are encrypted with. Never returned by the API nor logged.
    pub(crate) password: Option<String>,
    pub(crate) destination: Option<Destination>,
    /// Unix seconds of the last change of the timing: due times before it were never due.
    pub(crate) changed_at: u64,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            enabled: false,
            frequency: Frequency::Daily,
            weekday: None,
            minute_of_day: 2 * 60,
            retention: DEFAULT_RETENTION,
            password: None,
            destination: None,
            changed_at: 0,
        }
    }
}

impl Record for Schedule {
    const KEY: &'static str = "backup_schedule";
}

/// Keeps the password and the destination's secrets out of logs.
impl std::fmt::Debug for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schedule")
            .field("enabled", &self.enabled)
            .field("frequency", &self.frequency)
            .field("weekday", &self.weekday)
            .field("minute_of_day", &self.minute_of_day)
            .field("retention", &self.retention)
            .field("password_set", &self.password.is_some())
            .field("destination", &self.destination)
            .field("changed_at", &self.changed_at)
            .finish()
    }
}

/// Where each scheduled backup is pushed after it is kept on data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(crate) enum Destination {
    Https(HttpsDestination),
    Sftp(SftpDestination),
}

impl Destination {
    /// The destination as an operator reads it (no secret).
    pub(crate) fn describe(&self) -> String {
        match self {
            Destination::Https(h) => h.url.clone(),
            Destination::Sftp(s) => {
                let host = if s.host.contains(':') {
                    format!("[{}]", s.host)
                } else {
                    s.host.clone()
                };
                let dir = s.directory.trim_start_matches('/');
                format!("sftp://{}@{host}:{}/{dir}", s.user, s.port)
            }
        }
    }
}

/// `PUT {url}{file name}`: the URL names a directory (it ends with `/`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct HttpsDestination {
    pub(crate) url: String,
    pub(crate) auth: HttpAuth,
    /// SHA-256 of the server's public key (`AB:CD:…`); `None`: the system's CA roots.
    pub(crate) pin_sha256: Option<String>,
}

#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub(crate) enum HttpAuth {
    #[default]
    None,
    Bearer {
        token: String,
    },
    Basic {
        user: String,
        password: String,
    },
}

impl std::fmt::Debug for HttpAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpAuth::None => f.write_str("None"),
            HttpAuth::Bearer { .. } => f.write_str("Bearer(<hidden>)"),
            HttpAuth::Basic { user, .. } => write!(f, "Basic({user}, <hidden>)"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SftpDestination {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) user: String,
    /// Where the files go on the server (relative to the user's home unless absolute).
    pub(crate) directory: String,
    /// The server's host key as pinned: `SHA256:<base64>`, as `ssh-keygen -lf` prints it.
    pub(crate) host_key: String,
}

/// What the scheduled runs did on this machine: the `backup_runs` record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Runs {
    /// The due time (unix seconds) the last scheduled run served.
    pub(crate) last_slot: Option<u64>,
    pub(crate) last: Option<Run>,
}

impl Record for Runs {
    const KEY: &'static str = "backup_runs";
}

/// One run's result, stored as Status shows it.
pub(crate) use api_types::BackupRun as Run;

/// What the runner does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Run now for this due time.
    Run { slot: u64 },
    /// Nothing is due before this unix second.
    WaitUntil(u64),
}

impl Schedule {
    /// The first due time and the period between due times.
    fn grid(&self) -> (u64, u64) {
        let minute = u64::from(self.minute_of_day) * 60;
        match (self.frequency, self.weekday) {
            (Frequency::Weekly, Some(day)) => {
                let first_day = (day.index() + 7 - EPOCH_WEEKDAY) % 7;
                (first_day * DAY + minute, WEEK)
            }
            _ => (minute, DAY),
        }
    }

    /// The latest due time at or before `now`.
    pub(crate) fn slot_at_or_before(&self, now: u64) -> Option<u64> {
        let (first, period) = self.grid();
        (now >= first).then(|| first + (now - first) / period * period)
    }

    /// The first due time after `now`.
    pub(crate) fn slot_after(&self, now: u64) -> u64 {
        let (first, period) = self.grid();
        self.slot_at_or_before(now)
            .map_or(first, |slot| slot + period)
    }

    /// `HH:MM`.
    pub(crate) fn time_of_day(&self) -> String {
        format!(
            "{:02}:{:02}",
            self.minute_of_day / 60,
            self.minute_of_day % 60
        )
    }
}

/// Run or wait, at `now` by the appliance's clock, given the due time the last scheduled
/// run served. Every due time after the later of that and the last change of the schedule
/// is owed, but only the latest runs (one catch-up after a stop or a jump forward). A
/// clock set back behind those counts as "served up to now": nothing replays, and the
/// schedule goes on from the new time instead of waiting for the old one.
pub(crate) fn decide(schedule: &Schedule, last_slot: Option<u64>, now: u64) -> Decision {
    let served = last_slot.unwrap_or(0).max(schedule.changed_at).min(now);
    match schedule.slot_at_or_before(now) {
        Some(slot) if slot > served => Decision::Run { slot },
        _ => Decision::WaitUntil(schedule.slot_after(now)),
    }
}

/// `PUT /api/v1/backup/schedule`: what the operator sends. Secrets left out keep the
/// stored ones.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Change {
    pub(crate) enabled: bool,
    pub(crate) frequency: String,
    #[serde(default)]
    pub(crate) weekday: Option<String>,
    pub(crate) time: String,
    pub(crate) retention: i64,
    #[serde(default)]
    pub(crate) password: Option<String>,
    #[serde(default)]
    pub(crate) destination: Option<DestinationChange>,
}

#[derive(Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub(crate) enum DestinationChange {
    Https {
        url: String,
        /// `none` (the default), `bearer` or `basic`.
        #[serde(default)]
        auth: Option<String>,
        #[serde(default)]
        token: Option<String>,
        #[serde(default)]
        user: Option<String>,
        #[serde(default)]
        password: Option<String>,
        #[serde(default)]
        pin_sha256: Option<String>,
    },
    Sftp {
        host: String,
        #[serde(default = "ssh_port")]
        port: i64,
        user: String,
        #[serde(default)]
        directory: Option<String>,
        host_key: String,
    },
}

/// Keeps the backup password out of logs, as [`Schedule`]'s does.
impl std::fmt::Debug for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Change")
            .field("enabled", &self.enabled)
            .field("frequency", &self.frequency)
            .field("weekday", &self.weekday)
            .field("time", &self.time)
            .field("retention", &self.retention)
            .field("password_set", &self.password.is_some())
            .field("destination", &self.destination)
            .finish()
    }
}

impl std::fmt::Debug for DestinationChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DestinationChange::Https { url, .. } => write!(f, "Https({url})"),
            DestinationChange::Sftp { host, port, .. } => write!(f, "Sftp({host}:{port})"),
        }
    }
}

fn ssh_port() -> i64 {
    22
}

impl Change {
    /// The schedule to store in place of `current`, every field checked; `now` becomes its
    /// `changed_at` when the timing changes. An error names the wrong field.
    pub(crate) fn validate(self, current: &Schedule, now: u64) -> Result<Schedule, String> {
        let frequency = match self.frequency.trim().to_ascii_lowercase().as_str() {
            "daily" => Frequency::Daily,
            "weekly" => Frequency::Weekly,
            other => {
                return Err(format!(
                    "frequency must be \"daily\" or \"weekly\", not {other:?}"
                ))
            }
        };
        let weekday = match (frequency, self.weekday.as_deref()) {
            (Frequency::Daily, None) => None,
            (Frequency::Daily, Some(_)) => {
                return Err("weekday is for a weekly schedule only".into())
            }
            (Frequency::Weekly, None) => {
                return Err("a weekly schedule needs a weekday (monday to sunday)".into())
            }
            (Frequency::Weekly, Some(day)) => Some(
                Weekday::parse(day)
                    .ok_or_else(|| format!("weekday must be monday to sunday, not {day:?}"))?,
            ),
        };
        let minute_of_day = parse_time(&self.time)?;
        let retention = u32::try_from(self.retention)
            .ok()
            .filter(|r| (1..=MAX_RETENTION).contains(r))
            .ok_or_else(|| {
                format!(
                    "retention must be from 1 to {MAX_RETENTION} backups, not {}",
                    self.retention
                )
            })?;
        let password = match self.password {
            Some(p) if p.chars().count() < MIN_PASSWORD => {
                return Err(format!(
                    "the backup password must have at least {MIN_PASSWORD} characters (a backup holds the appliance's private keys)"
                ))
            }
            Some(p) => Some(p),
            None => current.password.clone(),
        };
        if self.enabled && password.is_none() {
            return Err(format!(
                "scheduled backups need a password of at least {MIN_PASSWORD} characters to encrypt them with"
            ));
        }
        let destination = match self.destination {
            None => None,
            Some(d) => Some(d.validate(current.destination.as_ref())?),
        };
        let timing_changed = current.enabled != self.enabled
            || current.frequency != frequency
            || current.weekday != weekday
            || current.minute_of_day != minute_of_day;
        Ok(Schedule {
            enabled: self.enabled,
            frequency,
            weekday,
            minute_of_day,
            retention,
            password,
            destination,
            changed_at: if timing_changed {
                now
            } else {
                current.changed_at
            },
        })
    }
}

/// `HH:MM`, 24-hour, as minutes after midnight.
fn parse_time(text: &str) -> Result<u32, String> {
    let bad = || format!("time must be HH:MM (UTC, 00:00 to 23:59), not {text:?}");
    let (h, m) = text.trim().split_once(':').ok_or_else(bad)?;
    let digits = |s: &str| !s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(h) || m.len() != 2 || !digits(m) {
        return Err(bad());
    }
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

impl DestinationChange {
    fn validate(self, current: Option<&Destination>) -> Result<Destination, String> {
        match self {
            DestinationChange::Https {
                url,
                auth,
                token,
                user,
                password,
                pin_sha256,
            } => {
                let url = url.trim().to_string();
                crate::update::fetch::HttpsUrl::parse(&url)
                    .map_err(|e| format!("destination url: {e}"))?;
                let url = if url.ends_with('/') {
                    url
                } else {
                    format!("{url}/")
                };
                let stored = match current {
                    Some(Destination::Https(h)) => &h.auth,
                    _ => &HttpAuth::None,
                };
                let auth = match auth.as_deref().map_or("none", str::trim) {
                    "none" => {
                        if token.is_some() || user.is_some() || password.is_some() {
                            return Err(
                                "destination: token, user and password need auth \"bearer\" or \"basic\""
                                    .into(),
                            );
                        }
                        HttpAuth::None
                    }
                    "bearer" => {
                        let token = match (token, stored) {
                            (Some(t), _) => t,
                            (None, HttpAuth::Bearer { token }) => token.clone(),
                            (None, _) => {
                                return Err("destination: auth \"bearer\" needs a token".into())
                            }
                        };
                        if token.is_empty() || !header_safe(&token) {
                            return Err(
                                "destination: the token must be printable text on one line".into(),
                            );
                        }
                        HttpAuth::Bearer { token }
                    }
                    "basic" => {
                        let user = user.unwrap_or_default();
                        if user.is_empty() || user.contains(':') || !header_safe(&user) {
                            return Err("destination: auth \"basic\" needs a user name without ':'".into());
                        }
                        let password = match (password, stored) {
                            (Some(p), _) => p,
                            (None, HttpAuth::Basic { password, .. }) => password.clone(),
                            (None, _) => {
                                return Err("destination: auth \"basic\" needs a password".into())
                            }
                        };
                        if password.contains(['\r', '\n']) {
                            return Err("destination: the password must be on one line".into());
                        }
                        HttpAuth::Basic { user, password }
                    }
                    other => {
                        return Err(format!(
                            "destination: auth must be \"none\", \"bearer\" or \"basic\", not {other:?}"
                        ))
                    }
                };
                let pin_sha256 = match pin_sha256.map(|p| p.trim().to_string()) {
                    None => None,
                    Some(p) if p.is_empty() => None,
                    Some(p) => Some(appliancectl::format_fingerprint(
                        &appliancectl::parse_fingerprint(&p).map_err(|_| {
                            format!("destination: pin_sha256 must be a SHA-256 (64 hexadecimal digits), not {p:?}")
                        })?,
                    )),
                };
                Ok(Destination::Https(HttpsDestination {
                    url,
                    auth,
                    pin_sha256,
                }))
            }
            DestinationChange::Sftp {
                host,
                port,
                user,
                directory,
                host_key,
            } => {
                let host = host.trim().to_string();
                let host = host
                    .strip_prefix('[')
                    .and_then(|h| h.strip_suffix(']'))
                    .map_or(host.clone(), str::to_string);
                if host.is_empty()
                    || host.len() > 253
                    || !host
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
                    || host.starts_with('-')
                {
                    return Err(format!(
                        "destination: {host:?} is not a host name or address"
                    ));
                }
                let port = u16::try_from(port).ok().filter(|p| *p > 0).ok_or_else(|| {
                    format!("destination: port must be from 1 to 65535, not {port}")
                })?;
                if user.is_empty()
                    || user.len() > 64
                    || user.starts_with('-')
                    || !user
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
                {
                    return Err(format!("destination: {user:?} is not a user name"));
                }
                let directory = directory
                    .map(|d| d.trim().to_string())
                    .filter(|d| !d.is_empty())
                    .unwrap_or_else(|| ".".to_string());
                if directory.len() > 1024 || directory.chars().any(char::is_control) {
                    return Err("destination: the directory must be a path on one line".into());
                }
                let directory = match directory.trim_end_matches('/') {
                    "" => "/".to_string(),
                    d => d.to_string(),
                };
                Ok(Destination::Sftp(SftpDestination {
                    host,
                    port,
                    user,
                    directory,
                    host_key: super::push::host_key_fingerprint(&host_key)
                        .map_err(|e| format!("destination: host_key: {e}"))?,
                }))
            }
        }
    }
}

/// Printable ASCII, what a header value carries safely.
fn header_safe(text: &str) -> bool {
    text.bytes().all(|b| (0x20..0x7f).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-07 (a Monday) 00:00 UTC.
    const MONDAY: u64 = 1_796_601_600;

    fn daily(hh: u32, mm: u32) -> Schedule {
        Schedule {
            enabled: true,
            minute_of_day: hh * 60 + mm,
            password: Some("password".into()),
            ..Schedule::default()
        }
    }

    fn weekly(day: Weekday, hh: u32) -> Schedule {
        Schedule {
            frequency: Frequency::Weekly,
            weekday: Some(day),
            ..daily(hh, 0)
        }
    }

    #[test]
    fn the_calendar_is_right() {
        assert_eq!(units::rfc3339(MONDAY), "2026-12-07T00:00:00Z");
        // 1970-01-05 was the first Monday.
        let s = weekly(Weekday::Monday, 0);
        assert_eq!(s.slot_after(0), 4 * DAY);
    }

    #[test]
    fn daily_due_times() {
        let s = daily(2, 30);
        let at = MONDAY + 2 * 3600 + 30 * 60;
        assert_eq!(s.slot_after(MONDAY), at);
        assert_eq!(s.slot_at_or_before(at), Some(at));
        assert_eq!(s.slot_after(at), at + DAY);
        assert_eq!(s.slot_at_or_before(at - 1), Some(at - DAY));
    }

    #[test]
    fn weekly_due_times() {
        let s = weekly(Weekday::Wednesday, 23);
        let wednesday = MONDAY + 2 * DAY + 23 * 3600;
        assert_eq!(s.slot_after(MONDAY), wednesday);
        assert_eq!(s.slot_after(wednesday), wednesday + WEEK);
        assert_eq!(units::rfc3339(wednesday), "2026-12-09T23:00:00Z");
        let s = weekly(Weekday::Sunday, 0);
        assert_eq!(units::rfc3339(s.slot_after(MONDAY)), "2026-12-13T00:00:00Z");
        let s = weekly(Weekday::Monday, 0);
        assert_eq!(s.slot_at_or_before(MONDAY), Some(MONDAY));
    }

    #[test]
    fn waits_then_runs_once_per_due_time() {
        let s = Schedule {
            changed_at: MONDAY,
            ..daily(2, 0)
        };
        let due = MONDAY + 2 * 3600;
        assert_eq!(decide(&s, None, MONDAY + 60), Decision::WaitUntil(due));
        assert_eq!(decide(&s, None, due), Decision::Run { slot: due });
        assert_eq!(
            decide(&s, Some(due), due + 5),
            Decision::WaitUntil(due + DAY)
        );
    }

    #[test]
    fn a_schedule_set_after_the_time_waits_for_the_next_day() {
        let s = Schedule {
            changed_at: MONDAY + 10 * 3600,
            ..daily(2, 0)
        };
        assert_eq!(
            decide(&s, None, MONDAY + 10 * 3600 + 1),
            Decision::WaitUntil(MONDAY + DAY + 2 * 3600)
        );
    }

    #[test]
    fn a_jump_forward_catches_up_once() {
        let s = Schedule {
            changed_at: MONDAY,
            ..daily(2, 0)
        };
        let served = MONDAY + 2 * 3600;
        // Ten days later (the clock jumped, or the appliance was off): one run for the
        // latest due time, then the next day's.
        let now = served + 10 * DAY + 3600;
        let latest = served + 10 * DAY;
        assert_eq!(
            decide(&s, Some(served), now),
            Decision::Run { slot: latest }
        );
        assert_eq!(
            decide(&s, Some(latest), now + 1),
            Decision::WaitUntil(latest + DAY)
        );
    }

    #[test]
    fn a_jump_back_neither_replays_nor_stalls() {
        let s = Schedule {
            changed_at: MONDAY,
            ..daily(2, 0)
        };
        // A run served a due time a year ahead (the clock was wrong), then the clock was
        // set right: nothing runs now, and the next due time is tomorrow's, not next year's.
        let future = MONDAY + 365 * DAY + 2 * 3600;
        let now = MONDAY + 12 * 3600;
        assert_eq!(
            decide(&s, Some(future), now),
            Decision::WaitUntil(MONDAY + DAY + 2 * 3600)
        );
        // Back by an hour right after a run: the same due time is not run twice.
        let due = MONDAY + 2 * 3600;
        assert_eq!(decide(&s, Some(due), due - 3600), Decision::WaitUntil(due));
        assert_eq!(
            decide(&s, Some(due), due),
            Decision::WaitUntil(due + DAY),
            "the due time already served"
        );
    }

    fn change(json: &str) -> Result<Schedule, String> {
        let change: Change = serde_json::from_str(json).map_err(|e| e.to_string())?;
        change.validate(&Schedule::default(), MONDAY)
    }

    #[test]
    fn a_good_schedule_is_taken() {
        let s = change(
            r#"{"enabled":true,"frequency":"weekly","weekday":"fri","time":"23:05","retention":3,
                "password":"long enough","destination":{"type":"https","url":"https://backup.example.net/a",
                "auth":"bearer","token":"t0k","pin_sha256":"ab".repeat(32)}}"#
                .replace("\"ab\".repeat(32)", &format!("\"{}\"", "ab".repeat(32)))
                .as_str(),
        )
        .unwrap();
        assert_eq!(s.weekday, Some(Weekday::Friday));
        assert_eq!(s.time_of_day(), "23:05");
        assert_eq!(s.changed_at, MONDAY);
        let Some(Destination::Https(h)) = &s.destination else {
            panic!("{s:?}")
        };
        assert_eq!(h.url, "https://backup.example.net/a/");
        assert!(h.pin_sha256.as_deref().unwrap().starts_with("AB:AB:"));
        assert!(
            !format!("{s:?}").contains("t0k"),
            "secrets stay out of logs"
        );
        assert!(!format!("{s:?}").contains("long enough"));
    }

    #[test]
    fn bad_input_is_refused_with_the_field_named() {
        let base = r#""enabled":true,"frequency":"daily","time":"02:00","retention":7,"password":"long enough""#;
        for (json, word) in [
            (r#"{"enabled":true,"frequency":"hourly","time":"02:00","retention":7,"password":"long enough"}"#.to_string(), "frequency"),
            (format!("{{{}}}", base.replace("02:00", "24:00")), "time"),
            (format!("{{{}}}", base.replace("02:00", "2h")), "time"),
            (format!("{{{}}}", base.replace("02:00", "02:5")), "time"),
            (format!("{{{}}}", base.replace(":7,", ":0,")), "retention"),
            (format!("{{{}}}", base.replace(":7,", ":101,")), "retention"),
            (format!("{{{}}}", base.replace(":7,", ":-1,")), "retention"),
            (format!("{{{}}}", base.replace("long enough", "short")), "password"),
            (r#"{"enabled":true,"frequency":"daily","time":"02:00","retention":7}"#.to_string(), "password"),
            (r#"{"enabled":true,"frequency":"weekly","time":"02:00","retention":7,"password":"long enough"}"#.to_string(), "weekday"),
            (format!(r#"{{{base},"weekday":"monday"}}"#), "weekday"),
            (format!(r#"{{{base},"destination":{{"type":"https","url":"http://x/"}}}}"#), "url"),
            (format!(r#"{{{base},"destination":{{"type":"https","url":"https://x:0/"}}}}"#), "url"),
            (format!(r#"{{{base},"destination":{{"type":"https","url":"https://x/","auth":"bearer"}}}}"#), "token"),
            (format!(r#"{{{base},"destination":{{"type":"https","url":"https://x/","pin_sha256":"abc"}}}}"#), "pin_sha256"),
            (format!(r#"{{{base},"destination":{{"type":"sftp","host":"bad host","user":"u","host_key":"SHA256:{}"}}}}"#, "A".repeat(43)), "host"),
            (format!(r#"{{{base},"destination":{{"type":"sftp","host":"h","port":70000,"user":"u","host_key":"SHA256:{}"}}}}"#, "A".repeat(43)), "port"),
            (format!(r#"{{{base},"destination":{{"type":"sftp","host":"h","user":"u","host_key":"ssh-ed25519 AAAA"}}}}"#), "host_key"),
            (format!(r#"{{{base},"destination":{{"type":"sftp","host":"h","user":"u","host_key":"SHA256:abc"}}}}"#), "host_key"),
        ] {
            let err = change(&json).expect_err(&json);
            assert!(err.contains(word), "{json}: {err}");
        }
    }

    #[test]
    fn secrets_left_out_keep_the_stored_ones() {
        let stored = Schedule {
            destination: Some(Destination::Https(HttpsDestination {
                url: "https://x/".into(),
                auth: HttpAuth::Basic {
                    user: "u".into(),
                    password: "secret".into(),
                },
                pin_sha256: None,
            })),
            ..daily(2, 0)
        };
        let change: Change = serde_json::from_str(
            r#"{"enabled":true,"frequency":"daily","time":"02:00","retention":7,
                "destination":{"type":"https","url":"https://y/","auth":"basic","user":"v"}}"#,
        )
        .unwrap();
        let s = change.validate(&stored, MONDAY).unwrap();
        assert_eq!(s.password.as_deref(), Some("password"));
        assert_eq!(s.changed_at, stored.changed_at, "the timing did not change");
        let Some(Destination::Https(h)) = s.destination else {
            panic!()
        };
        assert_eq!(
            h.auth,
            HttpAuth::Basic {
                user: "v".into(),
                password: "secret".into()
            }
        );
    }

    #[test]
    fn a_change_shows_no_secret_in_logs() {
        let change: Change = serde_json::from_str(
            r#"{"enabled":true,"frequency":"daily","time":"02:00","retention":7,
                "password":"backup secret 1",
                "destination":{"type":"https","url":"https://y/","auth":"bearer","token":"tok secret 2"}}"#,
        )
        .unwrap();
        let shown = format!("{change:?}");
        assert!(shown.contains("password_set: true"), "{shown}");
        assert!(!shown.contains("secret"), "{shown}");
    }
}
