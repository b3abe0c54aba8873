//! The service table (pure): what stage 2 starts and how it restarts it.
//!
//! Built in: `appliance-daemon` = `/usr/sbin/appliance-daemon`. A table file replaces the
//! built-in table: `/etc/appliance/services` in the slot if present, or the file given
//! with `--services`. One service per line, whitespace-separated, `#` starts a comment:
//!
//! ```text
//! NAME [OPTION=VALUE ...] /absolute/program [ARG ...]
//! ```
//! Options: `restart=INITIAL_MS..MAX_MS` (backoff, default 1000..60000),
//! `give-up=N` (failures in a row before giving up, default 10),
//! `stable=MS` (uptime after which the failure count resets, default 60000),
//! `stop=MS` (how long shutdown waits after SIGTERM before SIGKILL, default 5000),
//! `after=/PATH` (not started until PATH exists: a program whose configuration another
//! service writes, so that it neither fails nor competes for the CPU while it waits),
//! `nice=N` (0-19: a background service that must not slow the others down, e.g. the
//! time daemon starting while the management daemon does).
//! There is no quoting: arguments cannot contain spaces (wrap such commands in a script).

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    pub name: String,
    pub argv: Vec<String>,
    pub restart_initial: Duration,
    pub restart_max: Duration,
    pub give_up_after: u32,
    pub stable_after: Duration,
    pub stop_timeout: Duration,
    /// Not started until this path exists.
    pub after: Option<String>,
    /// Scheduling niceness (0: as init).
    pub nice: i32,
}

impl ServiceSpec {
    pub fn new(name: &str, argv: &[&str]) -> ServiceSpec {
        ServiceSpec {
            name: name.to_string(),
            argv: argv.iter().map(std::string::ToString::to_string).collect(),
            restart_initial: Duration::from_secs(1),
            restart_max: Duration::from_secs(60),
            give_up_after: 10,
            stable_after: Duration::from_secs(60),
            stop_timeout: Duration::from_secs(5),
            after: None,
            nice: 0,
        }
    }
}

/// Where the slot may override the built-in table.
pub const TABLE_PATH: &str = "/etc/appliance/services";

pub fn builtin() -> Vec<ServiceSpec> {
    vec![ServiceSpec::new(
        "appliance-daemon",
        &["/usr/sbin/appliance-daemon"],
    )]
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("line {line}: {what}")]
    Line { line: usize, what: String },
}

fn ms(v: &str) -> Option<Duration> {
    v.parse().ok().map(Duration::from_millis)
}

pub fn parse(text: &str) -> Result<Vec<ServiceSpec>, TableError> {
    let mut out: Vec<ServiceSpec> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("");
        let err = |what: String| TableError::Line { line: n + 1, what };
        let mut words = line.split_whitespace();
        let Some(name) = words.next() else { continue };
        if out.iter().any(|s| s.name == name) {
            return Err(err(format!("service {name} is listed twice")));
        }
        let mut spec = ServiceSpec::new(name, &[]);
        for w in words.by_ref() {
            if w.starts_with('/') {
                spec.argv.push(w.to_string());
                break;
            }
            let bad = || err(format!("bad option {w:?}"));
            let (k, v) = w.split_once('=').ok_or_else(bad)?;
            match k {
                "restart" => {
                    let (a, b) = v.split_once("..").ok_or_else(bad)?;
                    spec.restart_initial = ms(a).ok_or_else(bad)?;
                    spec.restart_max = ms(b).ok_or_else(bad)?;
                    if spec.restart_initial.is_zero() || spec.restart_max < spec.restart_initial {
                        return Err(bad());
                    }
                }
                "give-up" => {
                    spec.give_up_after = v.parse().ok().filter(|&g| g > 0).ok_or_else(bad)?;
                }
                "stable" => spec.stable_after = ms(v).ok_or_else(bad)?,
                "stop" => spec.stop_timeout = ms(v).ok_or_else(bad)?,
                "after" if v.starts_with('/') => spec.after = Some(v.to_string()),
                "nice" => {
                    spec.nice = v
                        .parse()
                        .ok()
                        .filter(|n| (0..=19).contains(n))
                        .ok_or_else(bad)?;
                }
                _ => return Err(bad()),
            }
        }
        if spec.argv.is_empty() {
            return Err(err(format!("service {name} has no absolute program path")));
        }
        spec.argv.extend(words.map(str::to_string));
        out.push(spec);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_defaults_options_and_comments() {
        let t = "# services\n\nappliance-daemon /usr/sbin/appliance-daemon\n\
                 crasher restart=100..800 give-up=4 stable=500 stop=250 after=/run/c.conf /bin/sh /t/crash.sh arg # why\n";
        let s = parse(t).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0], builtin()[0]);
        assert_eq!(s[1].argv, ["/bin/sh", "/t/crash.sh", "arg"]);
        assert_eq!(s[1].restart_initial, Duration::from_millis(100));
        assert_eq!(s[1].restart_max, Duration::from_millis(800));
        assert_eq!(s[1].give_up_after, 4);
        assert_eq!(s[1].stable_after, Duration::from_millis(500));
        assert_eq!(s[1].stop_timeout, Duration::from_millis(250));
        assert_eq!(s[1].after.as_deref(), Some("/run/c.conf"));
    }

    #[test]
    fn rejects_bad_lines_with_their_number() {
        assert_eq!(
            parse("a /x\nb restart=5 /x\n"),
            Err(TableError::Line {
                line: 2,
                what: "bad option \"restart=5\"".into()
            })
        );
        assert!(parse("a give-up=0 /x").is_err());
        assert!(parse("a restart=10..5 /x").is_err());
        assert!(parse("a nope=1 /x").is_err());
        assert!(parse("a after=relative /x").is_err());
        assert_eq!(parse("a nice=10 /x").unwrap()[0].nice, 10);
        assert_eq!(parse("a /x").unwrap()[0].nice, 0);
        assert!(parse("a nice=-5 /x").is_err());
        assert!(parse("a nice=20 /x").is_err());
        assert!(parse("a relative/prog").is_err());
        assert!(parse("a /x\na /y").is_err());
    }
}
