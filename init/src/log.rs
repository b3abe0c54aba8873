//! Console logging with boot-time stamps.
//!
//! Every line reads `[   3.412] init: <message>`: seconds of CLOCK_BOOTTIME, so the
//! boot benchmark can line our milestones up with the kernel's own log. Lines go to
//! stderr, which is /dev/console when we run as PID 1. When [`enable_kmsg`] was called,
//! each line is also written to /dev/kmsg at debug level (7): it lands in `dmesg` for the
//! daemon's diagnostics but is not printed on the console a second time.
//!
//! [`say!`] lines are for the person at the screen as well (the box's monitor, the VM's
//! console window: crate `screen`), once [`enable_screen`] was called: why the machine
//! reboots, how far a factory reset or a repair has got. Routine boot lines stay on the
//! serial console.

use crate::stage2::journal::{Handle, Line};
use logring::Level;
use std::fs::File;
use std::io::Write;
use std::sync::{Arc, Mutex};

static KMSG: Mutex<Option<File>> = Mutex::new(None);
static SCREEN: Mutex<screen::Screen> = Mutex::new(screen::Screen::NONE);
/// Where lines also go once stage 2 opened the persistent log (docs/logs.md).
static JOURNAL: Mutex<Option<Handle>> = Mutex::new(None);
/// Lines from before that (stage 1's, stage 2's first ones), handed over then.
static EARLY: Mutex<Vec<Line>> = Mutex::new(Vec::new());
/// Lines kept for the handover at most.
const EARLY_MAX: usize = 4000;

/// Seconds since boot, suspend included.
pub fn boottime() -> f64 {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME) {
        Ok(ts) => ts.tv_sec() as f64 + ts.tv_nsec() as f64 / 1e9,
        Err(_) => 0.0,
    }
}

/// The CPUs' idle time since boot ("0.42 s") and, apart, the time they were idle while a
/// task waited for a disk, which the kernel does not count as idle ("0.42 s, 0.16 s more
/// waiting for I/O"), for the boot milestones: what part of a phase waited rather than
/// computed. Both from /proc/stat's `cpu` line (/proc/uptime's idle is the same sum).
pub fn idle() -> String {
    let ticks = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| idle_ticks(&s));
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|&hz| hz > 0);
    let (Some((idle, iowait)), Some(hz)) = (ticks, hz) else {
        return "unknown".to_string();
    };
    let secs = |t: u64| t as f64 / hz as f64;
    if iowait == 0 {
        format!("{:.2} s", secs(idle))
    } else {
        format!(
            "{:.2} s, {:.2} s more waiting for I/O",
            secs(idle),
            secs(iowait)
        )
    }
}

/// The idle and iowait columns of /proc/stat's `cpu` line, in clock ticks.
fn idle_ticks(stat: &str) -> Option<(u64, u64)> {
    let mut fields = stat.lines().next()?.split_whitespace();
    (fields.next()? == "cpu").then_some(())?;
    // user nice system idle iowait ...
    let mut next = || fields.next()?.parse::<u64>().ok();
    let (_user, _nice, _system) = (next()?, next()?, next()?);
    Some((next()?, next()?))
}

/// The full console line for `msg` stamped at `secs`.
pub fn format_line(secs: f64, msg: &str) -> String {
    format!("[{secs:8.3}] init: {msg}\n")
}

/// Also copy log lines to /dev/kmsg (best effort: a missing /dev/kmsg is not an error).
/// The kernel passes at most 10 lines per 5 s from one opener of /dev/kmsg by default
/// (`printk: init: N output lines suppressed due to ratelimiting`), which dropped two
/// thirds of a boot's lines from `dmesg`: init turns that limit off (only root may write
/// there), unless the kernel command line set `printk.devkmsg`, which locks it.
pub fn enable_kmsg() {
    let _ = std::fs::write("/proc/sys/kernel/printk_devkmsg", "on\n");
    if let Ok(f) = std::fs::OpenOptions::new().write(true).open("/dev/kmsg") {
        if let Ok(mut k) = KMSG.lock() {
            *k = Some(f);
        }
    }
}

/// Let [`say!`] lines reach the screen too, when it is not /dev/console (needs /sys).
pub fn enable_screen() {
    if let Ok(mut s) = SCREEN.lock() {
        *s = screen::Screen::open();
    }
}

/// Write one stamped line. Logging never fails the caller: PID 1 must go on without a console.
pub fn line(msg: &str) {
    let text = format_line(boottime(), msg);
    write_line(&text, msg);
    to_journal(Level::Info, msg);
}

/// [`line`], and on the screen too.
pub fn said(msg: &str) {
    let text = format_line(boottime(), msg);
    write_line(&text, msg);
    if let Ok(mut s) = SCREEN.lock() {
        s.write(&text);
    }
    to_journal(Level::Notice, msg);
}

fn to_journal(level: Level, msg: &str) {
    let line = Line::now(Arc::from("init"), level, msg.to_string());
    if let Ok(j) = JOURNAL.lock() {
        if let Some(h) = j.as_ref() {
            h.ring(line);
            return;
        }
    }
    if let Ok(mut early) = EARLY.lock() {
        if early.len() < EARLY_MAX {
            early.push(line);
        }
    }
}

/// Send init's lines to the persistent log from now on (the ones kept so far first);
/// `None` stops it (shutdown, before /data is unmounted).
pub fn set_journal(handle: Option<Handle>) {
    if let Some(h) = &handle {
        if let Ok(mut early) = EARLY.lock() {
            for l in early.drain(..) {
                h.ring(l);
            }
        }
    }
    if let Ok(mut j) = JOURNAL.lock() {
        *j = handle;
    }
}

/// Stage 1: leave the lines kept so far in `path` (on /run, which stage 2 finds moved
/// into the slot) as `UPTIME_MS LEVEL MESSAGE` lines. Best effort.
pub fn save_early(path: &str) {
    if let Ok(early) = EARLY.lock() {
        let mut text = String::new();
        for l in early.iter() {
            text.push_str(&format!(
                "{} {} {}\n",
                l.uptime_ms,
                l.level.as_str(),
                l.message.replace('\n', " ")
            ));
        }
        let _ = std::fs::write(path, text);
    }
}

fn write_line(text: &str, msg: &str) {
    let _ = std::io::stderr().write_all(text.as_bytes());
    if let Ok(mut k) = KMSG.lock() {
        if let Some(f) = k.as_mut() {
            let _ = f.write_all(format!("<7>init: {msg}\n").as_bytes());
        }
    }
}

/// `log!("fmt", args..)`: one stamped line on the console.
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => { $crate::log::line(&format!($($arg)*)) };
}

/// `say!("fmt", args..)`: [`log!`], and on the screen too (see the module's documentation).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => { $crate::log::said(&format!($($arg)*)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_carry_a_right_aligned_stamp_and_prefix() {
        assert_eq!(
            format_line(3.4121, "stage1 start"),
            "[   3.412] init: stage1 start\n"
        );
        assert_eq!(format_line(1234.5, "x"), "[1234.500] init: x\n");
    }

    #[test]
    fn idle_and_iowait_are_the_fourth_and_fifth_numbers_of_the_cpu_line() {
        let stat = "cpu  32 0 245 11 17 0 4 0 0 0\ncpu0 32 0 245 11 17 0 4 0 0 0\nintr 1\n";
        assert_eq!(idle_ticks(stat), Some((11, 17)));
        assert_eq!(idle_ticks("cpu0 1 2 3 4 5\n"), None);
        assert_eq!(idle_ticks("cpu  1 2 3 4\n"), None);
        assert_eq!(idle_ticks("cpu  1 2 x 4 5\n"), None);
        assert_eq!(idle_ticks(""), None);
    }
}
