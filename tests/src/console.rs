//! The guest's serial console, written by QEMU to a file, read by tests while it grows.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const POLL: Duration = Duration::from_millis(200);

#[derive(Debug, Clone)]
pub struct Console {
    path: PathBuf,
}

impl Console {
    pub fn new(path: &Path) -> Self {
        Console {
            path: path.to_path_buf(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Everything captured so far (lossy UTF-8: firmware writes escape sequences).
    pub fn text(&self) -> String {
        std::fs::read(&self.path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    pub fn count(&self, needle: &str) -> usize {
        self.text().matches(needle).count()
    }

    /// The last `n` lines, for error messages.
    pub fn tail(&self, n: usize) -> String {
        let text = self.text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Wait until `needle` has appeared `times` times in total. `alive` is asked between
    /// polls and stops the wait early (e.g. when QEMU has exited).
    pub fn wait_for_count(
        &self,
        needle: &str,
        times: usize,
        timeout: Duration,
        mut alive: impl FnMut() -> anyhow::Result<()>,
    ) -> anyhow::Result<Duration> {
        let start = Instant::now();
        loop {
            if self.count(needle) >= times {
                return Ok(start.elapsed());
            }
            if let Err(err) = alive() {
                anyhow::bail!(
                    "{err} while waiting for {needle:?} on the console; last lines:\n{}",
                    self.tail(40)
                );
            }
            if start.elapsed() > timeout {
                anyhow::bail!(
                    "{needle:?} did not appear {times} time(s) on the console within {timeout:?}; last lines:\n{}",
                    self.tail(40)
                );
            }
            std::thread::sleep(POLL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_text_appended_later() {
        let path = std::env::temp_dir().join(format!("console-test-{}", std::process::id()));
        std::fs::write(&path, "SeaBIOS\n").unwrap();
        let console = Console::new(&path);
        let writer = {
            let path = path.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                std::fs::write(&path, "SeaBIOS\ninit: stage2 start\n").unwrap();
            })
        };
        console
            .wait_for_count("init: stage2 start", 1, Duration::from_secs(5), || Ok(()))
            .unwrap();
        writer.join().unwrap();
        assert_eq!(console.count("SeaBIOS"), 1);
        let err = console
            .wait_for_count("SeaBIOS", 2, Duration::from_millis(300), || Ok(()))
            .unwrap_err();
        assert!(err.to_string().contains("init: stage2 start"), "{err}");
        let err = console
            .wait_for_count("never", 1, Duration::from_secs(5), || {
                anyhow::bail!("QEMU exited")
            })
            .unwrap_err();
        assert!(err.to_string().starts_with("QEMU exited"), "{err}");
        std::fs::remove_file(&path).unwrap();
    }
}
