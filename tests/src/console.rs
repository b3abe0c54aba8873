//! The guest's serial console, written by QEMU to a file, read by tests while it grows;
//! or, for a test that types on it, carried over a socket whose output the harness copies
//! into that file.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
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

/// The guest's serial port over QEMU's unix socket: a thread appends what the guest writes
/// to the console file (so [`Console`] reads it as usual), and the test can type on it.
pub struct SerialLink {
    input: UnixStream,
    copier: Option<JoinHandle<()>>,
}

impl SerialLink {
    /// Connect to `socket` (waiting up to `timeout` for QEMU to create it) and copy the
    /// port's output into `file`.
    pub fn connect(socket: &Path, file: &Path, timeout: Duration) -> anyhow::Result<Self> {
        let stream = crate::qmp::connect_unix(socket, timeout)
            .map_err(|e| anyhow::anyhow!("{}: {e}", socket.display()))?;
        let mut output = stream.try_clone()?;
        let mut log = File::create(file)?;
        let copier = std::thread::spawn(move || {
            let mut buf = [0u8; 16 * 1024];
            // Until QEMU closes the port (it exited).
            while let Ok(n @ 1..) = output.read(&mut buf) {
                if log.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
        Ok(SerialLink {
            input: stream,
            copier: Some(copier),
        })
    }

    pub fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.input.write_all(bytes)
    }

    /// Once QEMU has exited: wait until everything it wrote is in the file.
    pub fn finish(&mut self) {
        if let Some(copier) = self.copier.take() {
            let _ = copier.join();
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
