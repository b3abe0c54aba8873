//! Loads kernel modules: the ones named explicitly and the ones the present devices ask
//! for through their modaliases (a one-shot "coldplug", since there is no udev).

use super::index::{module_name, ModuleIndex};
use crate::log;
use nix::errno::Errno;
use nix::kmod::{finit_module, ModuleInitFlags};
use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

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
    pub loaded: usize,
    pub failed: usize,
}

fn read(path: &Path) -> Result<String, LoadError> {
    fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })
}

impl Loader {
    /// Read the index of `/lib/modules/<kernel release>`. Only `modules.dep` is required.
    pub fn open(dir: &Path) -> Result<Loader, LoadError> {
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
            loaded: 0,
            failed: 0,
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
        match finit_module(&file, c"", ModuleInitFlags::empty()) {
            Ok(()) => {
                self.loaded += 1;
                true
            }
            Err(Errno::EEXIST) => false,
            Err(e) => {
                // ENODEV is normal for a driver whose hardware or CPU feature is absent
                // (crc32c_intel without SSE4.2); it is logged for the record only.
                log!("stage1: module {module} did not load: {e}");
                self.failed += 1;
                false
            }
        }
    }

    /// One coldplug pass: load the modules matching modaliases not seen before.
    /// Returns how many modules were newly inserted.
    pub fn coldplug_pass(&mut self) -> usize {
        let mut n = 0;
        for alias in present_modaliases() {
            if !self.seen.insert(alias.clone()) {
                continue;
            }
            for m in self.index.match_alias(&alias) {
                n += self.load_with_deps(&m);
            }
        }
        n
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
}

/// Every `/sys/bus/*/devices/*/modalias` present now.
pub fn present_modaliases() -> Vec<String> {
    let mut out = Vec::new();
    let Ok(buses) = fs::read_dir("/sys/bus") else {
        return out;
    };
    for bus in buses.flatten() {
        let Ok(devices) = fs::read_dir(bus.path().join("devices")) else {
            continue;
        };
        for dev in devices.flatten() {
            if let Ok(s) = fs::read_to_string(dev.path().join("modalias")) {
                let s = s.trim();
                if !s.is_empty() {
                    out.push(s.to_string());
                }
            }
        }
    }
    out
}
