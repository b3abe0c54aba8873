//! One QEMU machine under test: started on an overlay of a built image (or with no disk),
//! with QMP, a captured serial console and the guest's HTTPS port forwarded to loopback.
//! Dropping it kills QEMU.

use anyhow::{bail, Context};
use serde_json::Value;
use std::collections::HashSet;
use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::console::{Console, SerialLink};
use crate::devices::{self, Firmware, Plan, Profile, SegmentNic};
use crate::https::{self, Trust};
use crate::qmp::Qmp;
use crate::workdir::WorkDir;

/// What to boot.
#[derive(Debug, Clone)]
pub struct MachineSpec {
    pub profile: Profile,
    pub firmware: Firmware,
    /// Raw image to boot through a fresh qcow2 overlay; None boots firmware only.
    pub base_image: Option<PathBuf>,
    /// Boot this existing qcow2 overlay instead (a second boot of the same disk).
    pub overlay: Option<PathBuf>,
    pub no_reboot: bool,
    /// QEMU's `-rtc base=` (e.g. `2020-01-01` for a guest clock far off).
    pub rtc_base: Option<String>,
    /// Let the test type on the serial console ([`Machine::type_on_serial`]).
    pub serial_input: bool,
    /// The NIC's MAC address (another machine's hardware); None: QEMU's first.
    pub mac: Option<String>,
    /// A second NIC on a tap, for a [`crate::lab::Lab`]'s segment (the first stays QEMU's
    /// user network with the API forwarded to loopback).
    pub segment: Option<SegmentNic>,
    /// The machine's name in reports and in its scratch directory's name; None:
    /// `<profile>-<firmware>`.
    pub name: Option<String>,
}

impl MachineSpec {
    /// The profile's built image (`out/<image profile>/disk.img`), through an overlay.
    pub fn image(profile: Profile, firmware: Firmware) -> anyhow::Result<Self> {
        Ok(MachineSpec {
            profile,
            firmware,
            base_image: Some(crate::disk::built_image(profile.image_profile())?),
            overlay: None,
            no_reboot: true,
            rtc_base: None,
            serial_input: false,
            mac: None,
            segment: None,
            name: None,
        })
    }

    /// No disk at all: firmware only (for testing the harness itself).
    pub fn diskless(profile: Profile, firmware: Firmware) -> Self {
        MachineSpec {
            profile,
            firmware,
            base_image: None,
            overlay: None,
            no_reboot: true,
            rtc_base: None,
            serial_input: false,
            mac: None,
            segment: None,
            name: None,
        }
    }
}

/// The health answer of the appliance, as the daemon writes it.
pub use api_types::Health;

/// The health body of an answer; unlike a client's lenient read, every field must be
/// there: a test that boots the appliance checks what it reports.
fn health_from_json(v: &Value) -> anyhow::Result<Health> {
    for key in ["status", "version", "slot", "profile"] {
        if !v[key].is_string() {
            bail!("health answer {v} has no string {key:?}");
        }
    }
    Ok(serde_json::from_value(v.clone())?)
}

pub struct Machine {
    child: Child,
    qmp: Qmp,
    console: Console,
    serial: Option<SerialLink>,
    pub https: SocketAddr,
    pub http: SocketAddr,
    /// The qcow2 overlay the guest writes to (None without a disk).
    pub overlay: Option<PathBuf>,
    pub started: Instant,
    stderr_path: PathBuf,
    name: String,
    // Last: removed after QEMU is gone.
    dir: WorkDir,
}

/// Free loopback ports, never handed out twice by this process (tests run in parallel).
fn free_port() -> anyhow::Result<u16> {
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    for _ in 0..100 {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut given = GIVEN
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if given.get_or_insert_with(HashSet::new).insert(port) {
            return Ok(port);
        }
    }
    bail!("no free loopback port found")
}

impl Machine {
    pub fn start(spec: &MachineSpec) -> anyhow::Result<Self> {
        let name = spec.name.clone().unwrap_or_else(|| {
            format!("{}-{:?}", spec.profile.name(), spec.firmware).to_lowercase()
        });
        let dir = WorkDir::new(&name)?;
        let overlay = match (&spec.overlay, &spec.base_image) {
            (Some(existing), _) => Some(existing.clone()),
            (None, Some(base)) => {
                let overlay = dir.path().join("disk.qcow2");
                crate::disk::create_overlay(base, &overlay)?;
                Some(overlay)
            }
            (None, None) => None,
        };
        let plan = Plan {
            profile: spec.profile,
            firmware: spec.firmware,
            disk: overlay.clone(),
            ovmf_vars: None,
            https_port: free_port()?,
            http_port: free_port()?,
            qmp_socket: dir.path().join("qmp.sock"),
            serial_file: dir.path().join("console.log"),
            serial_socket: spec.serial_input.then(|| dir.path().join("serial.sock")),
            no_reboot: spec.no_reboot,
            rtc_base: spec.rtc_base.clone(),
            mac: spec.mac.clone(),
            segment: spec.segment.clone(),
        };
        let plan = if plan.firmware() == Firmware::Uefi {
            for f in devices::firmware_files() {
                if !f.exists() {
                    bail!("{} is missing: install Debian's ovmf package", f.display());
                }
            }
            let vars = dir.path().join("OVMF_VARS.fd");
            std::fs::copy(devices::OVMF_VARS, &vars)
                .with_context(|| format!("copying {} to {}", devices::OVMF_VARS, vars.display()))?;
            Plan {
                ovmf_vars: Some(vars),
                ..plan
            }
        } else {
            plan
        };
        Self::launch(name, dir, plan, overlay)
    }

    fn launch(
        name: String,
        dir: WorkDir,
        plan: Plan,
        overlay: Option<PathBuf>,
    ) -> anyhow::Result<Self> {
        let stderr_path = dir.path().join("qemu.stderr");
        let args = plan.args();
        eprintln!("[{name}] {} {}", devices::QEMU, args.join(" "));
        let child = Command::new(devices::QEMU)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&stderr_path)?)
            .spawn()
            .with_context(|| {
                format!(
                    "cannot start {} (is qemu-system-x86 installed?)",
                    devices::QEMU
                )
            })?;
        let started = Instant::now();
        let console = Console::new(&plan.serial_file);
        let mut child = child;
        let mut fail = |what: &str, err: anyhow::Error| {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            anyhow::anyhow!("QEMU did not offer {what}: {err:#}; its stderr: {stderr}")
        };
        // QEMU waits for the serial port's connection before it runs the guest.
        let serial = match &plan.serial_socket {
            None => None,
            Some(socket) => Some(
                SerialLink::connect(socket, &plan.serial_file, Duration::from_secs(20))
                    .map_err(|e| fail("its serial port", e))?,
            ),
        };
        let qmp = Qmp::connect(&plan.qmp_socket, Duration::from_secs(20))
            .map_err(|e| fail("QMP", e.into()))?;
        Ok(Machine {
            child,
            qmp,
            console,
            serial,
            https: SocketAddr::from(([127, 0, 0, 1], plan.https_port)),
            http: SocketAddr::from(([127, 0, 0, 1], plan.http_port)),
            overlay,
            started,
            stderr_path,
            name,
            dir,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn qmp(&mut self) -> &mut Qmp {
        &mut self.qmp
    }

    pub fn console(&self) -> &Console {
        &self.console
    }

    /// The characters of the VGA text screen, as the video memory at 0xB8000 holds them
    /// (80 per row, rows one after the other, the kernel's scrollback around them): what the
    /// screen of a machine booted by legacy BIOS shows, drawn by the kernel's `vgacon`. Read
    /// through QMP's `pmemsave`; every second byte is a cell's colours, left out.
    pub fn vga_text(&mut self) -> anyhow::Result<String> {
        const VGA_TEXT: u64 = 0xB8000;
        const SIZE: u64 = 0x8000;
        let file = self.dir().join("vga-text.bin");
        self.qmp.execute(
            "pmemsave",
            Some(serde_json::json!({
                "val": VGA_TEXT,
                "size": SIZE,
                "filename": file.to_string_lossy(),
            })),
        )?;
        let cells = std::fs::read(&file)?;
        Ok(cells
            .chunks(2)
            .map(|cell| match cell[0] {
                c @ 0x20..=0x7e => c as char,
                _ => ' ',
            })
            .collect())
    }

    /// Ok while QEMU runs; an error naming its exit status and stderr once it has exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => bail!(
                "QEMU exited ({status}); stderr: {}",
                std::fs::read_to_string(&self.stderr_path)
                    .unwrap_or_default()
                    .trim()
            ),
        }
    }

    /// Type `bytes` on the guest's serial port (the machine needs `serial_input`).
    pub fn type_on_serial(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        match &mut self.serial {
            Some(serial) => Ok(serial.write(bytes)?),
            None => bail!("{}: started without serial_input", self.name),
        }
    }

    /// Wait for `needle` on the serial console; returns the time since QEMU started.
    pub fn wait_for_console(
        &mut self,
        needle: &str,
        timeout: Duration,
    ) -> anyhow::Result<Duration> {
        self.wait_for_console_count(needle, 1, timeout)
    }

    /// Wait until `needle` appeared `times` times (e.g. a second boot).
    pub fn wait_for_console_count(
        &mut self,
        needle: &str,
        times: usize,
        timeout: Duration,
    ) -> anyhow::Result<Duration> {
        let console = self.console.clone();
        if let Err(e) = console.wait_for_count(needle, times, timeout, || self.check_running()) {
            // A guest that went quiet may be paused by QEMU (an I/O error on the host's
            // side, such as a full disk, stops it): say which.
            return Err(match self.qmp.status() {
                Ok(state) if state != "running" => {
                    e.context(format!("QEMU's run state is {state:?}, not running"))
                }
                _ => e,
            });
        }
        Ok(self.started.elapsed())
    }

    /// GET a path over HTTPS from the guest, accepting its self-signed certificate.
    pub fn get(&self, path: &str) -> anyhow::Result<https::Response> {
        https::get(self.https, path, &Trust::Any, Duration::from_secs(10))
    }

    /// `GET /api/v1/health` once; panics unless it answers with the health body.
    pub fn health(&self) -> Health {
        let r = self
            .get("/api/v1/health")
            .unwrap_or_else(|e| panic!("GET /api/v1/health: {e:#}"));
        health_from_json(&r.value()).unwrap_or_else(|e| panic!("status {}: {e:#}", r.status))
    }

    /// One API call to the guest (JSON body, optional Bearer token), accepting its
    /// self-signed certificate.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> https::Response {
        crate::dev::api_call(self.https, &Trust::Any, method, path, token, body)
    }

    /// Upload an update package (`POST /api/v1/updates/upload`).
    pub fn upload(&self, token: &str, package: &[u8]) -> https::Response {
        let auth = format!("Bearer {token}");
        https::request(
            self.https,
            "POST",
            "/api/v1/updates/upload",
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/octet-stream"),
            ],
            package,
            &Trust::Any,
            Duration::from_secs(600),
        )
        .unwrap_or_else(|e| panic!("upload: {e:#}"))
    }

    /// Poll `GET /api/v1/health` until it answers 200; returns the answer and the time
    /// since QEMU started.
    pub fn wait_for_health(&mut self, timeout: Duration) -> anyhow::Result<(Health, Duration)> {
        let start = Instant::now();
        let mut last = String::from("no attempt");
        while start.elapsed() < timeout {
            if let Err(err) = self.check_running() {
                bail!(
                    "{err} before health answered; console:\n{}",
                    self.console.tail(40)
                );
            }
            match self.get("/api/v1/health") {
                Ok(r) if r.status == 200 => {
                    return Ok((health_from_json(&r.json()?)?, self.started.elapsed()));
                }
                Ok(r) => last = format!("status {}", r.status),
                Err(e) => last = format!("{e:#}"),
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        bail!(
            "GET /api/v1/health did not answer 200 within {timeout:?} (last: {last}); console:\n{}",
            self.console.tail(40)
        )
    }

    /// Press the power button (ACPI).
    pub fn power_button(&mut self) -> anyhow::Result<()> {
        Ok(self.qmp.system_powerdown()?)
    }

    /// Cut the power: QEMU ends at once.
    pub fn cut_power(&mut self) -> anyhow::Result<ExitStatus> {
        self.qmp.quit()?;
        self.wait_exit(Duration::from_secs(10))
    }

    /// Wait for QEMU to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                self.qmp.drain();
                if let Some(serial) = &mut self.serial {
                    serial.finish();
                }
                return Ok(status);
            }
            if start.elapsed() > timeout {
                bail!(
                    "QEMU did not exit within {timeout:?}; console:\n{}",
                    self.console.tail(40)
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Print a figure the test saw, tagged with the machine, so `cargo test -- --nocapture`
    /// output (and failures) show boot times.
    pub fn report(&self, what: &str, value: impl std::fmt::Display) {
        eprintln!("[{}] {what}: {value}", self.name);
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        if let Some(serial) = &mut self.serial {
            serial.finish();
        }
        if std::thread::panicking() {
            eprintln!(
                "[{}] console: {}\n[{}] last console lines:\n{}",
                self.name,
                self.console.path().display(),
                self.name,
                self.console.tail(60)
            );
        }
    }
}

impl crate::Api for Machine {
    fn api(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> https::Response {
        self.call(method, path, token, body)
    }

    fn api_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> https::Response {
        crate::dev::api_call_with(self.https, &Trust::Any, method, path, token, headers, body)
    }
}
