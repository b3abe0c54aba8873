//! NTP on the booted virtual appliance: the guest starts with its clock six years off
//! (`-rtc base=2020-01-01`), an administrator names the host's chronyd (started with `-x`,
//! so it never touches the build machine's clock) at 10.0.2.2, the appliance reports
//! `synchronized: true` and its clock is stepped to the right time; the server is still
//! configured after a restart.

use appliance_tests::devices::{Firmware, Profile};
use appliance_tests::workdir::WorkDir;
use appliance_tests::Api;
use appliance_tests::{Machine, MachineSpec};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const BOOT_TIMEOUT: Duration = Duration::from_secs(300);
const SYNC_TIMEOUT: Duration = Duration::from_secs(300);

struct Chrony(Child);

impl Drop for Chrony {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// chronyd serving NTP on the host's loopback port 123 (QEMU's 10.0.2.2 for the guest),
/// from the host clock, never adjusting it (`-x`).
fn chrony(work: &WorkDir) -> Chrony {
    let conf = work.path().join("chrony.conf");
    std::fs::write(
        &conf,
        format!(
            "bindaddress 127.0.0.1\nport 123\nallow all\nlocal stratum 8\ncmdport 0\npidfile {}\n",
            work.path().join("chronyd.pid").display()
        ),
    )
    .unwrap();
    let child = Command::new("chronyd")
        .args(["-x", "-d", "-f"])
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chronyd (Debian's chrony package; image/deps installs it)");
    std::thread::sleep(Duration::from_millis(500));
    Chrony(child)
}

/// The guest's clock as Unix seconds, from the status API.
fn guest_unix(m: &Machine, token: &str) -> u64 {
    let status = m.call("GET", "/api/v1/status", Some(token), None).value();
    status["specs"]["clock"]["unix"].as_u64().unwrap()
}

fn host_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn ntp_steps_a_clock_far_off_and_keeps_its_server() {
    let work = WorkDir::new("time").unwrap();
    let _chrony = chrony(&work);
    let spec = MachineSpec {
        no_reboot: false,
        rtc_base: Some("2020-01-01".into()),
        ..MachineSpec::image(Profile::Vm, Firmware::Bios).unwrap()
    };
    let mut m = Machine::start(&spec).unwrap();
    m.wait_for_health(BOOT_TIMEOUT).unwrap();

    let token = m.first_login("time-secret-1");
    let before = guest_unix(&m, &token);
    assert!(
        host_unix() - before > 5 * 365 * 86_400,
        "the guest clock starts far off ({before})"
    );

    let r = m.call(
        "PUT",
        "/api/v1/time",
        Some(&token),
        Some(r#"{"servers":["10.0.2.2"]}"#),
    );
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    let asked = Instant::now();
    let time = loop {
        let t = m.call("GET", "/api/v1/time", Some(&token), None).value();
        if t["synchronized"] == true {
            break t;
        }
        assert!(
            asked.elapsed() < SYNC_TIMEOUT,
            "not synchronized within {SYNC_TIMEOUT:?}: {t}"
        );
        std::thread::sleep(Duration::from_secs(2));
    };
    m.report(
        "NTP servers set -> synchronized",
        format!("{:.1}s", asked.elapsed().as_secs_f64()),
    );
    assert!(
        time["server"].as_str().unwrap().contains("10.0.2.2"),
        "{time}"
    );
    let skew = guest_unix(&m, &token).abs_diff(host_unix());
    assert!(skew < 30, "the guest clock was stepped (skew {skew} s)");

    // The server survives a restart.
    let r = m.call("POST", "/api/v1/system/reboot", Some(&token), None);
    assert_eq!(r.status, 202);
    let restarted = Instant::now();
    m.wait_for_console_count("init: stage2 start", 2, BOOT_TIMEOUT)
        .unwrap();
    let stage2 = Instant::now();
    m.wait_for_health(BOOT_TIMEOUT).unwrap();
    let token = m.token("time-secret-1");
    let t = m.call("GET", "/api/v1/time", Some(&token), None).value();
    assert_eq!(t["servers"], serde_json::json!(["10.0.2.2"]));
    // Boot to first synchronization, with the server already configured.
    loop {
        let t = m.call("GET", "/api/v1/time", Some(&token), None).value();
        if t["synchronized"] == true {
            break;
        }
        assert!(
            stage2.elapsed() < SYNC_TIMEOUT,
            "not synchronized after the restart within {SYNC_TIMEOUT:?}: {t}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    m.report(
        "restart: stage 2 start -> synchronized",
        format!(
            "{:.1}s (reboot request -> synchronized {:.1}s)",
            stage2.elapsed().as_secs_f64(),
            restarted.elapsed().as_secs_f64()
        ),
    );
    m.cut_power().unwrap();
}
