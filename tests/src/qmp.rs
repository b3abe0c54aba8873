//! The QEMU Machine Protocol: one JSON object per line over a unix socket.
//!
//! QEMU sends a greeting; the client answers `qmp_capabilities`; then each
//! `{"execute", "arguments", "id"}` gets a `{"return", "id"}` or `{"error", "id"}`, and
//! asynchronous `{"event", "data", "timestamp"}` messages may come at any time. A reader
//! thread parses lines into [`Message`]s; commands wait for their answer by id and keep the
//! events they pass, so a test can ask later whether SHUTDOWN or RESET was seen.

use serde_json::{json, Value};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub name: String,
    pub data: Value,
    /// Seconds since the epoch, from QEMU's timestamp.
    pub timestamp: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Greeting(Value),
    Return {
        id: Option<Value>,
        value: Value,
    },
    Error {
        id: Option<Value>,
        class: String,
        desc: String,
    },
    Event(Event),
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("QMP message is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("QMP message of unknown shape: {0}")]
    Shape(String),
    #[error("QMP socket {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("QMP connection closed (QEMU exited?)")]
    Closed,
    #[error("no QMP answer to {command} within {timeout:?}")]
    Timeout { command: String, timeout: Duration },
    #[error("QMP event {name} not seen within {timeout:?}")]
    NoEvent { name: String, timeout: Duration },
    #[error("QMP command {command} failed: {class}: {desc}")]
    Command {
        command: String,
        class: String,
        desc: String,
    },
}

/// Parse one line QEMU sent.
pub fn parse(line: &str) -> Result<Message, Error> {
    let v: Value = serde_json::from_str(line)?;
    let id = v.get("id").cloned();
    if let Some(greeting) = v.get("QMP") {
        return Ok(Message::Greeting(greeting.clone()));
    }
    if let Some(value) = v.get("return") {
        return Ok(Message::Return {
            id,
            value: value.clone(),
        });
    }
    if let Some(err) = v.get("error") {
        let field = |k: &str| err.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        return Ok(Message::Error {
            id,
            class: field("class"),
            desc: field("desc"),
        });
    }
    if let Some(name) = v.get("event").and_then(Value::as_str) {
        let ts = &v["timestamp"];
        let timestamp = ts["seconds"].as_f64().unwrap_or(0.0)
            + ts["microseconds"].as_f64().unwrap_or(0.0) / 1e6;
        return Ok(Message::Event(Event {
            name: name.to_string(),
            data: v.get("data").cloned().unwrap_or(Value::Null),
            timestamp,
        }));
    }
    Err(Error::Shape(line.to_string()))
}

pub struct Qmp {
    writer: UnixStream,
    rx: Receiver<Result<Message, Error>>,
    next_id: u64,
    /// Events not yet consumed by [`Qmp::wait_event`].
    pending: VecDeque<Event>,
    /// Every event seen since connecting.
    seen: Vec<Event>,
    pub greeting: Value,
}

const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Connect to a unix socket QEMU listens on, waiting up to `timeout` for it to appear.
pub fn connect_unix(path: &Path, timeout: Duration) -> std::io::Result<UnixStream> {
    let start = Instant::now();
    loop {
        match UnixStream::connect(path) {
            Ok(s) => return Ok(s),
            Err(_) if start.elapsed() < timeout => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(e),
        }
    }
}

impl Qmp {
    /// Connect to QEMU's socket at `path` (waiting up to `timeout` for it to appear),
    /// read the greeting and enter command mode.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Self, Error> {
        let io = |source| Error::Io {
            path: path.display().to_string(),
            source,
        };
        let stream = connect_unix(path, timeout).map_err(io)?;
        let reader = stream.try_clone().map_err(io)?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(reader).lines() {
                let msg = match line {
                    Ok(line) if line.trim().is_empty() => continue,
                    Ok(line) => parse(&line),
                    Err(_) => break,
                };
                if tx.send(msg).is_err() {
                    break;
                }
            }
        });
        let mut qmp = Qmp {
            writer: stream,
            rx,
            next_id: 1,
            pending: VecDeque::new(),
            seen: Vec::new(),
            greeting: Value::Null,
        };
        qmp.greeting = match qmp.recv(timeout, "greeting")? {
            Message::Greeting(g) => g,
            other => {
                return Err(Error::Shape(format!(
                    "expected the greeting, got {other:?}"
                )))
            }
        };
        qmp.execute("qmp_capabilities", None)?;
        Ok(qmp)
    }

    fn recv(&mut self, timeout: Duration, what: &str) -> Result<Message, Error> {
        match self.rx.recv_timeout(timeout) {
            Ok(msg) => msg,
            Err(RecvTimeoutError::Timeout) => Err(Error::Timeout {
                command: what.to_string(),
                timeout,
            }),
            Err(RecvTimeoutError::Disconnected) => Err(Error::Closed),
        }
    }

    fn note(&mut self, event: Event) {
        self.seen.push(event.clone());
        self.pending.push_back(event);
    }

    /// Run `command` and return its `return` value.
    pub fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value, Error> {
        let id = self.next_id;
        self.next_id += 1;
        let mut msg = json!({ "execute": command, "id": id });
        if let Some(args) = arguments {
            msg["arguments"] = args;
        }
        let line = format!("{msg}\n");
        self.writer
            .write_all(line.as_bytes())
            .map_err(|_| Error::Closed)?;
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv(left, command)? {
                Message::Event(e) => self.note(e),
                Message::Return {
                    id: Some(got),
                    value,
                } if got == json!(id) => return Ok(value),
                Message::Error {
                    id: Some(got),
                    class,
                    desc,
                } if got == json!(id) => {
                    return Err(Error::Command {
                        command: command.to_string(),
                        class,
                        desc,
                    })
                }
                // Answers to earlier commands that timed out, or a second greeting: skip.
                _ => {}
            }
        }
    }

    /// Wait for the next event called `name` (already received ones count), consuming it
    /// and every pending event before it.
    pub fn wait_event(&mut self, name: &str, timeout: Duration) -> Result<Event, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            while let Some(e) = self.pending.pop_front() {
                if e.name == name {
                    return Ok(e);
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::NoEvent {
                    name: name.to_string(),
                    timeout,
                });
            }
            match self.recv(left, name) {
                Ok(Message::Event(e)) => self.note(e),
                Ok(_) => {}
                Err(Error::Timeout { .. }) => {
                    return Err(Error::NoEvent {
                        name: name.to_string(),
                        timeout,
                    })
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Take whatever the reader has received so far into the event lists.
    pub fn drain(&mut self) {
        while let Ok(msg) = self.rx.try_recv() {
            if let Ok(Message::Event(e)) = msg {
                self.note(e);
            }
        }
    }

    /// Every event seen since connecting (call [`Qmp::drain`] first for the latest).
    pub fn events(&self) -> &[Event] {
        &self.seen
    }

    /// The run state: "running", "paused", "shutdown", ...
    pub fn status(&mut self) -> Result<String, Error> {
        let v = self.execute("query-status", None)?;
        Ok(v["status"].as_str().unwrap_or("").to_string())
    }

    /// Press the ACPI power button.
    pub fn system_powerdown(&mut self) -> Result<(), Error> {
        self.execute("system_powerdown", None).map(drop)
    }

    /// Press keys together, e.g. `["alt", "sysrq", "c"]` (QEMU qcodes).
    pub fn send_keys(&mut self, qcodes: &[&str]) -> Result<(), Error> {
        let keys: Vec<Value> = qcodes
            .iter()
            .map(|k| json!({ "type": "qcode", "data": k }))
            .collect();
        self.execute("send-key", Some(json!({ "keys": keys })))
            .map(drop)
    }

    /// Cut the power: QEMU exits at once. Its answer may not arrive before the socket
    /// closes, so a closed connection counts as success.
    pub fn quit(&mut self) -> Result<(), Error> {
        match self.execute("quit", None) {
            Ok(_) | Err(Error::Closed) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_greeting() {
        let m = parse(r#"{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7"}, "capabilities": ["oob"]}}"#).unwrap();
        let Message::Greeting(g) = m else {
            panic!("{m:?}")
        };
        assert_eq!(g["version"]["qemu"]["major"], 7);
    }

    #[test]
    fn parses_returns_and_errors_with_ids() {
        assert_eq!(
            parse(r#"{"return": {"status": "running", "running": true}, "id": 3}"#).unwrap(),
            Message::Return {
                id: Some(json!(3)),
                value: json!({"status": "running", "running": true})
            }
        );
        assert_eq!(
            parse(r#"{"return": {}}"#).unwrap(),
            Message::Return {
                id: None,
                value: json!({})
            }
        );
        assert_eq!(
            parse(r#"{"id": 4, "error": {"class": "CommandNotFound", "desc": "The command nope has not been found"}}"#).unwrap(),
            Message::Error { id: Some(json!(4)), class: "CommandNotFound".into(), desc: "The command nope has not been found".into() }
        );
    }

    #[test]
    fn parses_events_with_timestamp() {
        let m = parse(r#"{"timestamp": {"seconds": 1700000000, "microseconds": 500000}, "event": "SHUTDOWN", "data": {"guest": true, "reason": "guest-shutdown"}}"#).unwrap();
        let Message::Event(e) = m else {
            panic!("{m:?}")
        };
        assert_eq!(e.name, "SHUTDOWN");
        assert_eq!(e.data["reason"], "guest-shutdown");
        assert!((e.timestamp - 1_700_000_000.5).abs() < 1e-6);
        let m = parse(r#"{"timestamp": {"seconds": 1, "microseconds": 0}, "event": "POWERDOWN"}"#)
            .unwrap();
        assert!(
            matches!(m, Message::Event(Event { ref name, data: Value::Null, .. }) if name == "POWERDOWN")
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(matches!(parse("not json"), Err(Error::Json(_))));
        assert!(matches!(parse(r#"{"hello": 1}"#), Err(Error::Shape(_))));
    }
}
