//! `backup` and `restore`: a settings backup downloaded into a file as it arrives (never
//! held in memory, never over an existing file unless --force), and a backup file
//! uploaded as it is read, with what the appliance restored and left out printed.

use crate::admin::Progress;
use crate::args::PasswordFrom;
use crate::{client_error, print_raw, render, Cli, Failure};
use appliancectl::api::RestoreReport;
use appliancectl::download::attachment_name;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

/// When the appliance does not name the file.
const DEFAULT_NAME: &str = "appliance.backup";

/// The first line of the file or of standard input, without its line end.
pub(crate) fn read_password(from: &PasswordFrom) -> Result<String, Failure> {
    let mut line = String::new();
    let (name, read) = match from {
        PasswordFrom::File(path) => (
            path.display().to_string(),
            std::fs::File::open(path).and_then(|f| std::io::BufReader::new(f).read_line(&mut line)),
        ),
        PasswordFrom::Stdin => (
            "standard input".to_string(),
            std::io::stdin().lock().read_line(&mut line),
        ),
    };
    read.map_err(|e| Failure::Failed(format!("cannot read the password from {name}: {e}")))?;
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        return Err(Failure::Failed(format!(
            "no password in {name}; nothing was sent"
        )));
    }
    Ok(password)
}

/// The file being written: `NAME.part` beside the final name, renamed once complete.
pub(crate) struct Target {
    path: PathBuf,
    part: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
}

impl Target {
    /// Open `NAME.part` for `path`, refusing an existing `path` unless `force`.
    pub(crate) fn open(path: PathBuf, force: bool) -> std::io::Result<Target> {
        if path.exists() && !force {
            return Err(refuse_existing(&path));
        }
        let mut part = path.clone().into_os_string();
        part.push(".part");
        let part = PathBuf::from(part);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&part)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", part.display())))?;
        Ok(Target {
            path,
            part,
            file: std::io::BufWriter::new(file),
        })
    }

    /// Make the file complete: flushed, synced, renamed to its name.
    pub(crate) fn finish(self) -> Result<PathBuf, Failure> {
        let Target { path, part, file } = self;
        file.into_inner()
            .map_err(std::io::IntoInnerError::into_error)
            .and_then(|f| f.sync_all())
            .and_then(|()| std::fs::rename(&part, &path))
            .map_err(|e| Failure::Failed(format!("cannot save {}: {e}", path.display())))?;
        Ok(path)
    }

    pub(crate) fn part(&self) -> &Path {
        &self.part
    }
}

/// Save a download to `output`, or to the name its answer gives (`default` without one),
/// through `NAME.part`, renamed once complete and removed on any failure; an existing file
/// is refused unless `force`. `fetch` runs the request with the function that opens the
/// file once the answer's headers are known.
pub(crate) fn download(
    output: Option<&Path>,
    force: bool,
    default: &str,
    fetch: impl FnOnce(
        &dyn Fn(&hyper::HeaderMap) -> std::io::Result<Target>,
    ) -> Result<(Target, u64), Failure>,
) -> Result<(PathBuf, u64), Failure> {
    if let Some(path) = output.filter(|p| p.exists() && !force) {
        return Err(Failure::Failed(refuse_existing(path).to_string()));
    }
    let part_made: std::cell::RefCell<Option<PathBuf>> = Default::default();
    let open = |headers: &hyper::HeaderMap| {
        let path = match output {
            Some(path) => path.to_path_buf(),
            None => PathBuf::from(attachment_name(headers).unwrap_or_else(|| default.to_string())),
        };
        let target = Target::open(path, force)?;
        *part_made.borrow_mut() = Some(target.part().to_path_buf());
        Ok(target)
    };
    let saved = fetch(&open).and_then(|(target, size)| Ok((target.finish()?, size)));
    if saved.is_err() {
        if let Some(part) = part_made.borrow().as_ref() {
            let _ = std::fs::remove_file(part);
        }
    }
    saved
}

impl Write for Target {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

pub(crate) fn refuse_existing(path: &Path) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        format!(
            "{} exists; choose another name with -o, or add --force to replace it",
            path.display()
        ),
    )
}

impl Cli {
    pub(crate) fn backup(
        &mut self,
        password: &PasswordFrom,
        include_history: bool,
        output: Option<&Path>,
        force: bool,
    ) -> Result<(), Failure> {
        let password = read_password(password)?;
        if let Some(path) = output.filter(|p| p.exists() && !force) {
            return Err(Failure::Failed(refuse_existing(path).to_string()));
        }
        let client = self.session_client()?;
        let (path, size) = download(output, force, DEFAULT_NAME, |open| {
            client
                .backup_to(&password, include_history, open)
                .map_err(client_error)
        })?;
        if self.options.json {
            let answer = serde_json::json!({"file": path.display().to_string(), "bytes": size});
            return print_raw(answer.to_string().as_bytes());
        }
        println!(
            "Backup saved to {} ({}). Keep its password: without it the file cannot be \
             opened, with it the file opens the appliance's private keys.",
            path.display(),
            render::bytes(size)
        );
        Ok(())
    }

    pub(crate) fn restore(&mut self, file: &Path, password: &PasswordFrom) -> Result<(), Failure> {
        // A missing file is reported before anything is sent.
        std::fs::metadata(file)
            .map_err(|e| Failure::Failed(format!("cannot read {}: {e}", file.display())))?;
        let password = read_password(password)?;
        let client = self.session_client()?;
        let progress = Progress::new(std::io::stderr().is_terminal());
        let answer = client.send_restore(file, &password, progress.callback());
        progress.finish();
        let answer = answer
            .and_then(appliancectl::Response::error_for_status)
            .map_err(client_error)?;
        let report: RestoreReport = answer.json().map_err(client_error)?;
        if report.session != "kept" {
            // Its account is not in the backup: the token is no longer valid.
            self.record.token = None;
        }
        // The appliance now serves the backup's certificate; it said so over the channel
        // pinned to the previous one: the new pin is remembered.
        let repinned = self.record.fingerprint.is_some()
            && !report.certificate.certificate_sha256.is_empty()
            && self.record.fingerprint.as_deref()
                != Some(report.certificate.certificate_sha256.as_str());
        if repinned {
            self.record.fingerprint = Some(report.certificate.certificate_sha256.clone());
        }
        self.save()?;
        if self.options.json {
            return print_raw(&answer.body);
        }
        print!("{}", restore_report(&report));
        if repinned {
            println!(
                "The appliance now serves the backup's certificate; its fingerprint is pinned \
                 for {} from now on.",
                self.endpoint
            );
        }
        Ok(())
    }
}

/// What a restore did, as text.
fn restore_report(r: &RestoreReport) -> String {
    let from = &r.restored_from;
    let mut text = format!(
        "Restored the backup of appliance {} ({}, version {}, made {}).\n",
        from.appliance_id, from.profile, from.version, from.created
    );
    let mut rows = Vec::new();
    rows.push(("Restored".to_string(), r.restored.join(", ")));
    let network = match r.network.state.as_str() {
        "restored" if r.network.hostname.is_empty() => "the backup's settings are in force".into(),
        "restored" => format!(
            "the backup's settings are in force (host name {})",
            r.network.hostname
        ),
        "factory_defaults" => format!(
            "factory defaults: {}",
            r.network
                .note
                .as_deref()
                .unwrap_or("the backup's settings do not fit")
        ),
        "kept" => "this appliance's own (the backup carries none)".into(),
        _ => "taken at the next restart".into(),
    };
    rows.push(("Network".to_string(), network));
    let certificate = match r.certificate.state.as_str() {
        "restored" => "the backup's is served",
        "made" => "the backup held none: a self-signed one was made",
        _ => "served from the next restart",
    };
    rows.push((
        "Certificate".to_string(),
        format!(
            "{certificate}, public key SHA-256 {}",
            r.certificate.certificate_sha256
        ),
    ));
    for a in r.certificate_assignments.iter().filter(|a| !a.kept) {
        rows.push((
            "Assignment lost".to_string(),
            format!("{} on {} (no such address here)", a.certificate, a.address),
        ));
    }
    if let Some(h) = &r.history {
        rows.push((
            "History".to_string(),
            format!(
                "{} entries added, {} already present",
                h.added, h.already_present
            ),
        ));
    }
    let session = if r.session == "kept" {
        "kept (your account is in the backup)"
    } else {
        "ended: your account is not in the backup; log in with one of the backup's accounts"
    };
    rows.push(("Your session".to_string(), session.to_string()));
    text.push_str(&render::aligned(&rows));
    if !r.left_out.is_empty() {
        text.push_str("Left out (this appliance's own):\n");
        for l in &r.left_out {
            text.push_str(&format!("  {}: {}\n", l.what, l.why));
        }
    }
    if !r.not_reloaded.is_empty() {
        text.push_str("Taken only at the next restart:\n");
        for n in &r.not_reloaded {
            text.push_str(&format!("  {n}\n"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use appliancectl::api::{BackupInfo, LeftOut, NetworkOutcome};

    #[test]
    fn the_report_says_what_came_what_stayed_and_why() {
        let report = RestoreReport {
            restored_from: BackupInfo {
                appliance_id: "ab12".into(),
                profile: "box".into(),
                version: "1.0.0".into(),
                created: "2026-12-07T17:00:00Z".into(),
                ..BackupInfo::default()
            },
            restored: vec!["accounts and passwords".into(), "security policy".into()],
            left_out: vec![LeftOut {
                what: "appliance id".into(),
                why: "it names this machine".into(),
            }],
            network: NetworkOutcome {
                state: "factory_defaults".into(),
                hostname: String::new(),
                note: Some("no NIC 00:1b:21:aa:bb:cc here".into()),
            },
            session: "ended".into(),
            ..RestoreReport::default()
        };
        let text = restore_report(&report);
        assert!(text.starts_with("Restored the backup of appliance ab12 (box, version 1.0.0"));
        assert!(text.contains("Restored:     accounts and passwords, security policy\n"));
        assert!(text.contains("factory defaults: no NIC 00:1b:21:aa:bb:cc here"));
        assert!(text.contains("  appliance id: it names this machine\n"));
        assert!(text.contains("Your session: ended"));
    }
}
