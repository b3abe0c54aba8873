//! `logs [-f]` (the persistent log, oldest of the asked lines first, then new ones as they
//! come) and `support-bundle` (the support bundle saved into a file as it arrives).

use crate::backup::download;
use crate::{client_error, print_raw, render, Cli, Failure};
use appliancectl::api::{LogLine, Logs};
use std::path::Path;
use std::time::Duration;

/// Lines shown without -n.
const DEFAULT_LINES: usize = 100;
/// How often -f asks for new lines.
const FOLLOW_EVERY: Duration = Duration::from_secs(1);
/// When the appliance does not name the file.
const DEFAULT_BUNDLE: &str = "appliance-support.tar.zst";

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One line as `appliancectl logs` prints it.
pub(crate) fn text_line(l: &LogLine) -> String {
    format!(
        "{} boot {} {} {}: {}",
        l.time, l.boot, l.service, l.level, l.message
    )
}

impl Cli {
    pub(crate) fn logs(
        &mut self,
        follow: bool,
        service: Option<&str>,
        boot: Option<&str>,
        level: Option<&str>,
        lines: Option<usize>,
    ) -> Result<(), Failure> {
        let mut filters = Vec::new();
        for (k, v) in [("service", service), ("boot", boot), ("level", level)] {
            if let Some(v) = v {
                filters.push(format!("{k}={}", encode(v)));
            }
        }
        let prefix: String = filters.iter().map(|f| f.clone() + "&").collect();
        let client = self.session_client()?;
        let first = format!("{prefix}limit={}", lines.unwrap_or(DEFAULT_LINES).max(1));
        let page: Logs = client.logs(&first).map_err(client_error)?;
        if self.options.json && !follow {
            let text = serde_json::to_string_pretty(&page).unwrap_or_default();
            return print_raw(format!("{text}\n").as_bytes());
        }
        let show = |lines: &[LogLine], json: bool| {
            for l in lines.iter().rev() {
                if json {
                    println!("{}", serde_json::to_string(l).unwrap_or_default());
                } else {
                    println!("{}", text_line(l));
                }
            }
        };
        show(&page.lines, self.options.json);
        if !follow {
            return Ok(());
        }
        let mut head = page.head;
        loop {
            std::thread::sleep(FOLLOW_EVERY);
            let q = format!("{prefix}after={}&limit=5000", encode(&head));
            let page: Logs = client.logs(&q).map_err(client_error)?;
            show(&page.lines, self.options.json);
            head = page.head;
        }
    }

    pub(crate) fn support_bundle(
        &mut self,
        output: Option<&Path>,
        force: bool,
    ) -> Result<(), Failure> {
        let client = self.session_client()?;
        let (path, size) = download(output, force, DEFAULT_BUNDLE, |open| {
            client.support_bundle_to(open).map_err(client_error)
        })?;
        if self.options.json {
            let answer = serde_json::json!({"file": path.display().to_string(), "bytes": size});
            return print_raw(answer.to_string().as_bytes());
        }
        println!(
            "Support bundle saved to {} ({}): a tar.zst (`tar --zstd -xf`); it holds no \
             password, key or other secret.",
            path.display(),
            render::bytes(size)
        );
        Ok(())
    }
}
