//! Stage 1, PID 1 in the initramfs: API filesystems, kernel modules, a pending factory
//! reset (`reset`), the slot GRUB chose (mounted read-only on /newroot), the data
//! partition (made, grown, checked, mounted on /newroot/data), then switch_root to the
//! slot's /sbin/init.
//!
//! Anything that makes booting this slot impossible is logged in one line and ends in a
//! reboot: GRUB has already set TRY=1 on this slot, so it boots the other one next.

pub mod block;
pub mod data;
pub mod early;
pub mod grow;
pub mod links;
pub mod reset;
pub mod switch_root;

use crate::cmdline;
use crate::kmod::load::Loader;
use crate::log;
use crate::power::{self, Action};
use nix::mount::{mount, MsFlags};
use std::path::Path;
use std::time::{Duration, Instant};

const NEW_ROOT: &str = "/newroot";
const SLOT_WAIT: Duration = Duration::from_secs(20);
/// Modules every boot needs whatever the hardware: slot, data and ESP filesystems.
const ALWAYS: [&str; 5] = ["squashfs", "ext4", "vfat", "nls_cp437", "nls_ascii"];
/// Needed on every boot too (without it the power button has no /dev/input node), and
/// loaded last, without `async_probe`: loading it waits for every driver's probing in
/// the background to end, so what those drivers found (a watchdog) exists after it.
const LAST: &str = "evdev";

/// Log why this slot cannot boot, give a person time to read it, reboot.
fn give_up(why: &str) -> ! {
    crate::say!("stage1: {why}; rebooting in 5 s so GRUB boots the other slot");
    std::thread::sleep(Duration::from_secs(5));
    power::finish(Action::Reboot)
}

/// The links being raised early (see `links`): a thread, since raising one can wait on
/// its driver (e1000e tests its interrupt for 0.1 s) while the modules go on loading.
type Raising = std::thread::JoinHandle<Vec<links::Raised>>;

/// Load the modules, raising the Ethernet links early.
fn load_modules(cmdline: &str) -> (Option<Loader>, Raising) {
    let start = Instant::now();
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = Path::new("/lib/modules").join(&release);
    let options = cmdline::module_options(&cmdline::words(cmdline));
    let mut loader = match Loader::open(&dir, options) {
        Ok(l) => l,
        Err(e) => {
            log!("stage1: no module index ({e}); continuing with built-in drivers only");
            return (None, std::thread::spawn(links::raise_all));
        }
    };
    // Every driver probes in the background while the next ones load: the disks' first
    // (the system's disk is what stage 1 waits for: the SATA links' reset takes a third of
    // a second from the AHCI driver's load), then the network's (a thread raises their
    // links as their NICs appear; a link negotiates for half a second or more, all before
    // the daemon's DHCP), the filesystems and the other drivers (watchdog, power button);
    // then LAST waits for all that probing, and one more pass loads the drivers of devices
    // it brought (lpc_ich's iTCO watchdog).
    loader.set_async(true);
    let probed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let raising = {
        let probed = std::sync::Arc::clone(&probed);
        std::thread::spawn(move || links::raise_as_they_come(&probed))
    };
    loader.coldplug_disks();
    loader.coldplug_network();
    for m in ALWAYS {
        loader.load(m);
    }
    loader.coldplug();
    loader.set_async(false);
    let waited = Instant::now();
    if loader.load(LAST) > 0 {
        log!(
            "stage1: {LAST} loaded once every driver's probing had ended ({:.2} s)",
            waited.elapsed().as_secs_f64()
        );
    }
    loader.coldplug();
    probed.store(true, std::sync::atomic::Ordering::Release);
    let has_watchdog = Path::new("/dev/watchdog0").exists() || Path::new("/dev/watchdog").exists();
    if !has_watchdog && loader.load("softdog") > 0 {
        log!("stage1: no hardware watchdog; using softdog");
    }
    log!(
        "stage1: modules loaded ({} in {:.1} s, {} failed; slowest: {}; cpu idle so far {})",
        loader.loaded,
        start.elapsed().as_secs_f64(),
        loader.failed,
        loader.slowest(6),
        crate::log::idle()
    );
    (Some(loader), raising)
}

pub fn run() -> ! {
    let mut problems = early::mount_api_filesystems();
    early::attach_console();
    problems.extend(early::console_ignores_flow_control());
    crate::log::enable_kmsg();
    crate::log::enable_screen();
    log!("stage1 start");
    for p in problems {
        log!("{p}");
    }
    // e2fsck and mke2fs look for mounted filesystems in /etc/mtab.
    let _ = std::fs::create_dir_all("/etc");
    let _ = std::os::unix::fs::symlink("/proc/mounts", "/etc/mtab");

    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let (mut loader, raising) = load_modules(&cmdline);

    if cmdline::factory_reset_flagged(&cmdline) {
        // Before any slot or data is mounted; ends in power off or reboot when grubenv
        // holds the request.
        reset::run_if_requested(&mut loader);
    }
    let slot = match cmdline::slot(&cmdline) {
        Ok(s) => s,
        Err(e) => give_up(&e.to_string()),
    };
    let Some(root) = block::wait_for(slot.label(), None, SLOT_WAIT, &mut loader) else {
        give_up(&format!(
            "no partition labelled {} appeared within {} s",
            slot.label(),
            SLOT_WAIT.as_secs()
        ))
    };
    log!("stage1: slot {slot:?} is {}", root.dev().display());

    let _ = std::fs::create_dir_all(NEW_ROOT);
    if let Err(e) = mount(
        Some(&root.dev()),
        NEW_ROOT,
        Some("squashfs"),
        MsFlags::MS_RDONLY,
        None::<&str>,
    ) {
        give_up(&format!(
            "cannot mount slot {} ({}) as squashfs: {e}",
            slot.label(),
            root.dev().display()
        ));
    }

    let data_dir = format!("{NEW_ROOT}/data");
    let disk = root.disk();
    match block::wait_for("data", disk.as_deref(), Duration::from_secs(2), &mut loader) {
        Some(part) => {
            data::prepare(&part, &data_dir);
            match crate::seed::credit(Path::new(&data_dir)) {
                Ok(true) => log!("stage1: random seed from the last boot credited"),
                Ok(false) => log!("stage1: no random seed saved yet (first boot or power cut)"),
                Err(e) => log!("stage1: random seed: {e}"),
            }
        }
        None => {
            log!("stage1: no partition labelled data on the slot's disk; running with an empty in-memory /data");
            let _ = mount(
                Some("tmpfs"),
                data_dir.as_str(),
                Some("tmpfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                Some("mode=0755"),
            );
        }
    }
    // With /data mounted: its nics-up says which early links stay up.
    links::settle(raising.join().unwrap_or_default(), Path::new(&data_dir));

    if let Some(l) = loader.as_mut() {
        // Drivers for devices that appeared since (input devices, disks of other controllers).
        l.coldplug();
        if !l.held().is_empty() {
            log!(
                "stage1: disk controllers left without a driver, the system's disk is elsewhere: {}",
                l.held().join(" ")
            );
        }
    }
    log!("stage1 done (cpu idle so far {})", crate::log::idle());
    // Stage 2 puts these lines in the persistent log (docs/logs.md).
    crate::log::save_early(crate::stage2::journal::STAGE1_LINES);
    match switch_root::switch_root(NEW_ROOT, "/sbin/init") {
        Ok(never) => match never {},
        Err(e) => give_up(&format!("switch to the slot failed: {e}")),
    }
}
