//! Loads kernel modules: the ones named explicitly and the ones the present devices ask
//! for through their modaliases (a one-shot "coldplug", since there is no udev).

use super::index::{module_name, ModuleIndex};
use crate::log;
use nix::errno::Errno;
use nix::kmod::{finit_module, ModuleInitFlags};
use std::collections::{HashMap, HashSet};
use std::ffi::CString;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The state of module loading during stage 1.
pub struct Loader {
    dir: PathBuf,
    index: ModuleIndex,
    builtin: HashSet<String>,
    /// Modules already inserted or tried (failures are not retried).
    done: HashSet<String>,
    /// Modaliases already matched.
    seen: HashSet<String>,
    /// The devices' modaliases read so far.
    devices: Devices,
    /// Chipset disk controllers seen but given no driver yet, with their
    /// [`legacy_controller`] rank.
    held: Vec<(u8, String)>,
    /// Ranks from this one on are held back (raised by [`Loader::release_next`]).
    hold_from: u8,
    /// A driver was loaded for a disk controller (virtio block, SCSI, NVMe, or a chipset
    /// one released): the system's disk may still be coming from it, so the next rank of
    /// held controllers waits.
    pub disk_driver_loaded: bool,
    pub loaded: usize,
    pub failed: usize,
    /// How long each inserted module took in finit_module (load, relocation, init).
    pub timings: Vec<(String, Duration)>,
    /// Options from the kernel command line (`e1000e.IntMode=1`), by module name.
    options: HashMap<String, String>,
    /// `/sys/devices/system/cpu/modalias`, when readable: modules for CPU features it
    /// lacks are not inserted ([`ModuleIndex::lacks_cpu_features`]).
    cpu_modalias: Option<String>,
    /// Modules are inserted with `async_probe` (see [`Loader::set_async`]).
    asynchronous: bool,
    /// A module was inserted with `async_probe` and no module without it came since:
    /// the next one waits for the kernel's asynchronous work.
    async_pending: bool,
}

fn read(path: &Path) -> Result<String, LoadError> {
    fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })
}

impl Loader {
    /// Read the index of `/lib/modules/<kernel release>`. Only `modules.dep` is required.
    /// `options`: the module options of the kernel command line
    /// ([`crate::cmdline::module_options`]).
    pub fn open(dir: &Path, options: HashMap<String, String>) -> Result<Loader, LoadError> {
        let dep = read(&dir.join("modules.dep"))?;
        let alias = read(&dir.join("modules.alias")).unwrap_or_default();
        let softdep = read(&dir.join("modules.softdep")).unwrap_or_default();
        let builtin = read(&dir.join("modules.builtin"))
            .unwrap_or_default()
            .lines()
            .map(module_name)
            .collect();
        let mut index = ModuleIndex::parse(&dep, &alias, &softdep);
        // vfat mounts fail without its default code page and charset; the module does
        // not declare them.
        index.add_softdep("vfat", &["nls_cp437", "nls_ascii"]);
        Ok(Loader {
            dir: dir.to_path_buf(),
            index,
            builtin,
            done: HashSet::new(),
            seen: HashSet::new(),
            devices: Devices::default(),
            held: Vec::new(),
            hold_from: 1,
            disk_driver_loaded: false,
            loaded: 0,
            failed: 0,
            timings: Vec::new(),
            options,
            cpu_modalias: fs::read_to_string("/sys/devices/system/cpu/modalias")
                .ok()
                .map(|s| s.trim().to_string()),
            asynchronous: false,
            async_pending: false,
        })
    }

    /// Load a module (or every module an alias names) with its dependencies.
    /// Returns how many modules were newly inserted. Failures are logged, not returned:
    /// a missing driver should not stop the boot if the slot can still be found.
    pub fn load(&mut self, name: &str) -> usize {
        let modules = self.index.resolve(name);
        if modules.is_empty() {
            if !self.builtin.contains(&module_name(name)) && self.done.insert(name.to_string()) {
                log!("stage1: module {name} is not in the initramfs; continuing without it");
            }
            return 0;
        }
        modules.iter().map(|m| self.load_with_deps(m)).sum()
    }

    fn load_with_deps(&mut self, module: &str) -> usize {
        let order = self.index.load_order(module, &mut self.done);
        let mut n = 0;
        for m in order {
            if self.insert(&m) {
                n += 1;
            }
        }
        n
    }

    /// Insert one module file; true if it was newly loaded.
    fn insert(&mut self, module: &str) -> bool {
        if let Some(cpu) = &self.cpu_modalias {
            if self.index.lacks_cpu_features(module, cpu) {
                // Its load would end in ENODEV, after 0.02 s under TCG (most of it the
                // failed load's clean-up); the generic module it stands beside serves.
                log!("stage1: module {module} left out: the CPU lacks the features it is for");
                return false;
            }
        }
        let Some(rel) = self.index.path(module) else {
            if !self.builtin.contains(module) {
                log!("stage1: module {module} is listed but has no file; skipping it");
            }
            return false;
        };
        let path = if rel.starts_with('/') {
            PathBuf::from(rel)
        } else {
            self.dir.join(rel)
        };
        let file = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) => {
                log!(
                    "stage1: module {module}: cannot open {}: {e}; skipping it",
                    path.display()
                );
                self.failed += 1;
                return false;
            }
        };
        let mut options = self.options.get(module).cloned().unwrap_or_default();
        if !options.is_empty() {
            log!("stage1: module {module} with options from the kernel command line: {options}");
        }
        let mut name = module.to_string();
        if self.asynchronous {
            options.push_str(" async_probe");
            self.async_pending = true;
        } else if std::mem::take(&mut self.async_pending) {
            // Its time includes the end of the others' probing (in the console's list).
            name.push_str(" (with the async probes)");
        }
        // The command line holds no NUL byte, so the conversion cannot fail.
        let options = CString::new(options.trim_start()).unwrap_or_default();
        let start = Instant::now();
        match finit_module(&file, &options, ModuleInitFlags::empty()) {
            Ok(()) => {
                self.loaded += 1;
                self.timings.push((name, start.elapsed()));
                true
            }
            Err(Errno::EEXIST) => false,
            Err(e) => {
                // ENODEV is normal for a driver whose hardware is absent; it is logged
                // for the record only.
                log!("stage1: module {module} did not load: {e}");
                self.failed += 1;
                false
            }
        }
    }

    /// One coldplug pass: load the modules matching modaliases not seen before.
    /// Returns how many modules were newly inserted.
    pub fn coldplug_pass(&mut self) -> usize {
        self.coldplug_pass_of(None, |_| true)
    }

    /// Coldplug passes for network devices only, until one loads nothing new: NIC
    /// drivers first, so their links can negotiate while everything else loads.
    pub fn coldplug_network(&mut self) {
        while self.coldplug_pass_of(Some(&CONTROLLER_BUSES), is_network_device) > 0 {}
    }

    /// Coldplug passes for disk controllers only, then, when none but chipset ones are
    /// present (the box: its disk is on the AHCI), the drivers of those at once.
    /// A SCSI host's driver (AHCI through libata, PVSCSI, ...) brings its disks' driver
    /// `sd_mod` along, rather than a later pass finding the disks: the disk then probes
    /// the moment the host finds it (the box's SATA link comes up a third of a second
    /// after the AHCI driver) instead of after a module load.
    pub fn coldplug_disks(&mut self) {
        while self.coldplug_pass_of(Some(&CONTROLLER_BUSES), is_disk_controller) > 0 {}
        if !self.disk_driver_loaded {
            self.release_next();
        }
        if self.done.contains("scsi_mod") {
            self.load("sd_mod");
        }
    }

    /// From now on insert modules with the kernel's `async_probe` option, or stop doing
    /// so. Their drivers probe their devices in the background and, above all, loading
    /// them does not wait for the kernel's asynchronous work to end; a module loaded
    /// without the option does wait for it. Stage 1 loads the disk controllers' drivers
    /// and then the filesystems this way, so the filesystems load while libata waits
    /// for the SATA links to settle (a third of a second, CPU idle, on the box).
    pub fn set_async(&mut self, on: bool) {
        self.asynchronous = on;
    }

    /// Match the modaliases `wanted` picks, reading those of the devices on `buses`
    /// (every bus: `None`) that appeared since the last pass.
    fn coldplug_pass_of(&mut self, buses: Option<&[&str]>, wanted: fn(&str) -> bool) -> usize {
        self.devices.refresh(buses);
        let mut n = 0;
        for i in 0..self.devices.aliases.len() {
            let alias = &self.devices.aliases[i];
            if !wanted(alias) || self.seen.contains(alias) {
                continue;
            }
            let alias = alias.clone();
            self.seen.insert(alias.clone());
            if let Some(rank) = legacy_controller(&alias).filter(|r| *r >= self.hold_from) {
                self.held.push((rank, alias));
                continue;
            }
            n += self.load_matching(&alias);
        }
        n
    }

    /// Load the drivers matching `alias`; a disk controller's driver sets
    /// [`Loader::disk_driver_loaded`].
    fn load_matching(&mut self, alias: &str) -> usize {
        let mut n = 0;
        for m in self.index.match_alias(alias) {
            n += self.load_with_deps(&m);
        }
        if n > 0 && is_disk_controller(alias) {
            self.disk_driver_loaded = true;
        }
        n
    }

    /// Chipset disk controllers seen so far and given no driver (their modaliases).
    pub fn held(&self) -> Vec<&str> {
        self.held.iter().map(|(_, a)| a.as_str()).collect()
    }

    /// Load the drivers of the held controllers of the lowest rank held (AHCI before
    /// IDE), and of any of that rank seen from now on. Returns what kind was released.
    pub fn release_next(&mut self) -> Option<&'static str> {
        let rank = self.held.iter().map(|(r, _)| *r).min()?;
        self.hold_from = rank + 1;
        let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|(r, _)| *r == rank);
        self.held = later;
        for (_, alias) in now {
            self.load_matching(&alias);
        }
        Some(if rank == RANK_AHCI { "AHCI" } else { "IDE" })
    }

    /// Coldplug passes until one loads nothing new: a driver whose devices bring more
    /// devices (virtio_pci and its virtio devices) is followed at once. Devices that
    /// appear later on their own (SCSI disks after an asynchronous bus scan) are matched
    /// by the passes `stage1::block::wait_for` makes while it looks for a partition and
    /// by stage 1's last pass; nothing waits for a quiet period. Ends: every pass but
    /// the last loads a module not tried before.
    pub fn coldplug(&mut self) {
        while self.coldplug_pass() > 0 {}
    }

    /// The `n` modules that took longest to insert, slowest first: "ext4 0.27, ...".
    pub fn slowest(&self, n: usize) -> String {
        let mut t: Vec<_> = self.timings.iter().collect();
        t.sort_by_key(|b| std::cmp::Reverse(b.1));
        t.iter()
            .take(n)
            .map(|(m, d)| format!("{m} {:.2}", d.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

const RANK_AHCI: u8 = 1;
const RANK_IDE: u8 = 2;

/// The PCI class and subclass of a PCI modalias (`...bc01sc06i01` -> ("01", "06")); the
/// hex digits of a modalias are upper case, so `bc` and `sc` are only ever the field tags.
fn pci_class(modalias: &str) -> Option<(&str, &str)> {
    let rest = modalias.strip_prefix("pci:")?;
    let i = rest.find("bc")?;
    let class = rest.get(i + 2..i + 4)?;
    (rest.get(i + 4..i + 6)? == "sc").then_some(())?;
    Some((class, rest.get(i + 6..i + 8)?))
}

/// The rank of a chipset disk controller: SATA AHCI (class 01/06) 1, IDE (01/01) 2.
/// Every PC-compatible virtual machine has one or both (PIIX IDE on QEMU's `pc` and on
/// VMware, ICH9 AHCI on `q35`, SATA for the CD-ROM of VMware's EFI machines), often with
/// no disk of ours behind it; their drivers (libata, ahci, ata_piix, ata_generic) cost
/// a third to half a second under emulation. Stage 1 gives them a driver only when the
/// slot's disk is not found on the other controllers, AHCI first (docs/boot.md).
pub fn legacy_controller(modalias: &str) -> Option<u8> {
    match pci_class(modalias)? {
        ("01", "06") => Some(RANK_AHCI),
        ("01", "01") => Some(RANK_IDE),
        _ => None,
    }
}

/// A disk controller: a PCI mass storage controller (SCSI, SAS, NVMe, RAID, AHCI, IDE,
/// virtio's PCI side), or a virtio block or SCSI device.
fn is_disk_controller(modalias: &str) -> bool {
    pci_class(modalias).is_some_and(|(class, _)| class == "01")
        || modalias.starts_with("virtio:d00000002v")
        || modalias.starts_with("virtio:d00000008v")
}

/// A PCI network controller (class 02), or a virtio network device (virtio device 1)
/// on the virtio bus its PCI transport brings.
pub fn is_network_device(modalias: &str) -> bool {
    pci_class(modalias).is_some_and(|(class, _)| class == "02")
        || modalias.starts_with("virtio:d00000001v")
}

/// The buses disk and network controllers are on: PCI, and virtio for the devices
/// virtio's PCI transport brings. The first passes read only these: the box's ACPI and
/// platform buses hold several times more devices, and every modalias read before the
/// AHCI driver's load delays its SATA link by as much.
const CONTROLLER_BUSES: [&str; 2] = ["pci", "virtio"];

/// The `/sys/bus/*/devices/*/modalias` of the devices present, each read once: a
/// device's modalias does not change, and stage 1 makes a pass after every step (the
/// box has 53 devices with a modalias, 7 of them on PCI).
struct Devices {
    /// `/sys/bus`.
    buses: PathBuf,
    /// Devices whose modalias was read (`/sys/bus/<bus>/devices/<device>`).
    read: HashSet<PathBuf>,
    /// Their modaliases, in the order read, with none empty.
    aliases: Vec<String>,
}

impl Default for Devices {
    fn default() -> Self {
        Devices::under(Path::new("/sys/bus"))
    }
}

impl Devices {
    fn under(buses: &Path) -> Self {
        Devices {
            buses: buses.to_path_buf(),
            read: HashSet::new(),
            aliases: Vec::new(),
        }
    }

    /// Read the modaliases of the devices on `buses` (every bus: `None`) not read before.
    /// A device whose `modalias` cannot be read yet (its directory comes a moment before
    /// its attributes, or its bus has none) is tried again at the next refresh.
    fn refresh(&mut self, buses: Option<&[&str]>) {
        let Ok(all) = fs::read_dir(&self.buses) else {
            return;
        };
        for bus in all.flatten() {
            if buses.is_some_and(|b| !b.iter().any(|b| bus.file_name() == **b)) {
                continue;
            }
            let Ok(devices) = fs::read_dir(bus.path().join("devices")) else {
                continue;
            };
            for dev in devices.flatten() {
                let path = dev.path();
                if self.read.contains(&path) {
                    continue;
                }
                if let Ok(s) = fs::read_to_string(path.join("modalias")) {
                    let s = s.trim();
                    if !s.is_empty() {
                        self.aliases.push(s.to_string());
                    }
                    self.read.insert(path);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chipset_controllers_are_told_from_other_disk_controllers() {
        // QEMU pc's PIIX3 IDE, VMware's PIIX4 IDE, q35's ICH9 AHCI.
        let piix3 = "pci:v00008086d00007010sv00001AF4sd00001100bc01sc01i80";
        let piix4 = "pci:v00008086d00007111sv000015ADsd00001976bc01sc01i8A";
        let ich9 = "pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01";
        assert_eq!(legacy_controller(piix3), Some(RANK_IDE));
        assert_eq!(legacy_controller(piix4), Some(RANK_IDE));
        assert_eq!(legacy_controller(ich9), Some(RANK_AHCI));
        assert!([piix3, piix4, ich9].into_iter().all(is_disk_controller));
        // PVSCSI (01/07), virtio block's PCI side (01/00), NVMe (01/08).
        for storage in [
            "pci:v000015ADd000007C0sv000015ADsd000007C0bc01sc07i00",
            "pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00",
            "pci:v00008086d00000953sv00008086sd00003702bc01sc08i02",
            "virtio:d00000002v00001AF4",
            "virtio:d00000008v00001AF4",
        ] {
            assert_eq!(legacy_controller(storage), None, "{storage}");
            assert!(is_disk_controller(storage), "{storage}");
        }
        for other in [
            "pci:v00008086d000010D3sv00008086sd00000000bc02sc00i00",
            "acpi:PNP0C0C:",
            "scsi:t-0x00",
            "pci:v00008086d00002922",
            "virtio:d00000001v00001AF4",
        ] {
            assert_eq!(legacy_controller(other), None, "{other}");
            assert!(!is_disk_controller(other), "{other}");
        }
    }

    #[test]
    fn modaliases_are_read_once_and_retried_until_readable() {
        let root = std::env::temp_dir().join(format!("kmod-devices-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let dev = |bus: &str, name: &str| root.join(bus).join("devices").join(name);
        for (bus, name, alias) in [
            ("pci", "0000:00:1f.2", Some("pci:v00008086d00002922")),
            ("pci", "0000:00:02.0", None), // its attributes not there yet
            ("acpi", "PNP0C0C:00", Some("acpi:PNP0C0C:")),
        ] {
            fs::create_dir_all(dev(bus, name)).unwrap();
            if let Some(a) = alias {
                fs::write(dev(bus, name).join("modalias"), format!("{a}\n")).unwrap();
            }
        }
        let mut d = Devices::under(&root);
        d.refresh(Some(&CONTROLLER_BUSES));
        assert_eq!(d.aliases, ["pci:v00008086d00002922"]);
        // Now readable: read at the next pass; one read before is not read again.
        fs::write(
            dev("pci", "0000:00:02.0").join("modalias"),
            "pci:v00008086d000010D3",
        )
        .unwrap();
        fs::write(dev("pci", "0000:00:1f.2").join("modalias"), "changed").unwrap();
        d.refresh(None);
        let mut got = d.aliases.clone();
        got.sort();
        assert_eq!(
            got,
            [
                "acpi:PNP0C0C:",
                "pci:v00008086d000010D3",
                "pci:v00008086d00002922"
            ]
        );
        d.refresh(None);
        assert_eq!(d.aliases.len(), 3);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn network_devices_are_told_from_the_rest() {
        for nic in [
            "pci:v00008086d000010D3sv00008086sd00000000bc02sc00i00", // e1000e
            "pci:v000015ADd000007B0sv000015ADsd000007B0bc02sc00i01", // vmxnet3
            "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00", // virtio-net's PCI side
            "virtio:d00000001v00001AF4",                             // virtio-net
        ] {
            assert!(is_network_device(nic), "{nic}");
        }
        for other in [
            "pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01",
            "virtio:d00000002v00001AF4",
            "virtio:d00000010v00001AF4",
            "pci:v00008086d000025ABsv00001AF4sd00001100bc08sc80i00",
            "acpi:PNP0C0C:",
        ] {
            assert!(!is_network_device(other), "{other}");
        }
    }
}
