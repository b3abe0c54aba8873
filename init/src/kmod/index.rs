//! The module index (pure): `modules.dep`, `modules.alias` and `modules.softdep` as
//! depmod writes them, and the load order they imply.
//!
//! Module names are normalised to underscores (`crc32c-intel` and `crc32c_intel` are one
//! module), as the kernel does.

use super::glob;
use std::collections::{HashMap, HashSet};

/// One `alias <pattern> <module>` line.
#[derive(Debug, Clone)]
struct Alias {
    pattern: String,
    prefix_len: usize,
    module: String,
}

/// Soft dependencies of one module: loaded before (`pre:`) and after (`post:`) it, when
/// they exist. Missing soft dependencies are not an error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SoftDep {
    pub pre: Vec<String>,
    pub post: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ModuleIndex {
    /// module -> (path relative to the modules directory, direct and indirect hard deps)
    deps: HashMap<String, (String, Vec<String>)>,
    aliases: Vec<Alias>,
    /// module -> its `cpu:` alias patterns (the modules for CPU features).
    cpu_aliases: HashMap<String, Vec<String>>,
    softdeps: HashMap<String, SoftDep>,
}

/// `kernel/fs/ext4/ext4.ko` -> `ext4`; `crc32c-intel.ko.xz` -> `crc32c_intel`.
pub fn module_name(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    let stem = base.find(".ko").map_or(base, |i| &base[..i]);
    normalise(stem)
}

pub fn normalise(name: &str) -> String {
    name.replace('-', "_")
}

impl ModuleIndex {
    pub fn parse(dep: &str, alias: &str, softdep: &str) -> ModuleIndex {
        let mut idx = ModuleIndex::default();
        for line in dep.lines() {
            let Some((path, rest)) = line.split_once(':') else {
                continue;
            };
            let path = path.trim();
            if path.is_empty() {
                continue;
            }
            let deps = rest.split_whitespace().map(module_name).collect();
            idx.deps.insert(module_name(path), (path.to_string(), deps));
        }
        for line in alias.lines() {
            let mut w = line.split_whitespace();
            if let (Some("alias"), Some(pattern), Some(module)) = (w.next(), w.next(), w.next()) {
                if pattern.starts_with("cpu:") {
                    idx.cpu_aliases
                        .entry(normalise(module))
                        .or_default()
                        .push(pattern.to_string());
                }
                idx.aliases.push(Alias {
                    prefix_len: glob::literal_prefix(pattern).len(),
                    pattern: pattern.to_string(),
                    module: normalise(module),
                });
            }
        }
        for line in softdep.lines() {
            let mut w = line.split_whitespace();
            if w.next() != Some("softdep") {
                continue;
            }
            let Some(module) = w.next() else { continue };
            let entry = idx.softdeps.entry(normalise(module)).or_default();
            let mut into_pre = None;
            for word in w {
                match word {
                    "pre:" => into_pre = Some(true),
                    "post:" => into_pre = Some(false),
                    name => match into_pre {
                        Some(true) => entry.pre.push(name.to_string()),
                        Some(false) => entry.post.push(name.to_string()),
                        None => {}
                    },
                }
            }
        }
        idx
    }

    /// Add a soft dependency that the modules do not declare themselves.
    pub fn add_softdep(&mut self, module: &str, pre: &[&str]) {
        let e = self.softdeps.entry(normalise(module)).or_default();
        e.pre
            .extend(pre.iter().map(std::string::ToString::to_string));
    }

    pub fn softdep(&self, module: &str) -> Option<&SoftDep> {
        self.softdeps.get(&normalise(module))
    }

    /// The module file of `module`, relative to the modules directory.
    pub fn path(&self, module: &str) -> Option<&str> {
        self.deps.get(&normalise(module)).map(|(p, _)| p.as_str())
    }

    /// Modules whose alias pattern matches `modalias`, in file order, without repeats.
    pub fn match_alias(&self, modalias: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for a in &self.aliases {
            if modalias.len() >= a.prefix_len
                && modalias.as_bytes()[..a.prefix_len] == a.pattern.as_bytes()[..a.prefix_len]
                && glob::matches(&a.pattern, modalias)
                && !out.contains(&a.module)
            {
                out.push(a.module.clone());
            }
        }
        out
    }

    /// True when `module` is for CPU features (it has `cpu:` aliases, an x86cpu device
    /// table: crc32c_intel, crct10dif_pclmul, aesni_intel) and none of them matches
    /// `cpu_modalias` (`/sys/devices/system/cpu/modalias`): its init would fail with
    /// ENODEV, after the whole load. udev would not load it either; it comes in through
    /// an alias that a generic module answers too (`crypto-crc32c`).
    pub fn lacks_cpu_features(&self, module: &str, cpu_modalias: &str) -> bool {
        self.cpu_aliases
            .get(&normalise(module))
            .is_some_and(|patterns| !patterns.iter().any(|p| glob::matches(p, cpu_modalias)))
    }

    /// A module name, or else an alias (`crypto-crc32c`), to the modules it means.
    pub fn resolve(&self, name: &str) -> Vec<String> {
        let n = normalise(name);
        if self.deps.contains_key(&n) {
            return vec![n];
        }
        self.match_alias(name)
    }

    /// Everything to load for `module`, in order: soft `pre:` dependencies, hard
    /// dependencies (each after its own), the module, then soft `post:` dependencies.
    /// Modules in `done` are left out; every module returned is added to it.
    pub fn load_order(&self, module: &str, done: &mut HashSet<String>) -> Vec<String> {
        let mut out = Vec::new();
        self.visit(&normalise(module), done, &mut out);
        out
    }

    fn visit(&self, module: &str, done: &mut HashSet<String>, out: &mut Vec<String>) {
        if !done.insert(module.to_string()) {
            return;
        }
        let soft = self.softdeps.get(module).cloned().unwrap_or_default();
        for pre in &soft.pre {
            for m in self.resolve(pre) {
                self.visit(&m, done, out);
            }
        }
        if let Some((_, deps)) = self.deps.get(module) {
            for d in deps {
                self.visit(d, done, out);
            }
        }
        out.push(module.to_string());
        for post in &soft.post {
            for m in self.resolve(post) {
                self.visit(&m, done, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "\
kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
kernel/lib/crc16.ko:
kernel/fs/mbcache.ko:
kernel/fs/jbd2/jbd2.ko:
kernel/arch/x86/crypto/crc32c-intel.ko:
kernel/crypto/crc32c_generic.ko:
kernel/fs/fat/vfat.ko: kernel/fs/fat/fat.ko
kernel/fs/fat/fat.ko:
kernel/fs/nls/nls_cp437.ko:
kernel/fs/nls/nls_ascii.ko:
kernel/drivers/scsi/sd_mod.ko: kernel/drivers/scsi/scsi_common.ko kernel/drivers/scsi/scsi_mod.ko
kernel/drivers/scsi/scsi_mod.ko: kernel/drivers/scsi/scsi_common.ko
kernel/drivers/scsi/scsi_common.ko:
";
    const ALIAS: &str = "\
# Aliases extracted from modules themselves.
alias crypto-crc32c crc32c-intel
alias crc32c crc32c_intel
alias crypto-crc32c crc32c_generic
alias crc32c crc32c_generic
alias scsi:t-0x00* sd_mod
alias acpi*:LNXPWRBN:* button
alias cpu:type:x86,ven*fam*mod*:feature:*0094* crc32c-intel
";
    const SOFTDEP: &str = "\
# Soft dependencies extracted from modules themselves.
softdep ext4 pre: crypto-crc32c
softdep jbd2 pre: crypto-crc32c
";

    fn idx() -> ModuleIndex {
        ModuleIndex::parse(DEP, ALIAS, SOFTDEP)
    }

    #[test]
    fn names_are_normalised() {
        assert_eq!(
            module_name("kernel/arch/x86/crypto/crc32c-intel.ko"),
            "crc32c_intel"
        );
        assert_eq!(module_name("a/b/nls_cp437.ko.xz"), "nls_cp437");
        assert_eq!(
            idx().path("crc32c-intel"),
            Some("kernel/arch/x86/crypto/crc32c-intel.ko")
        );
    }

    #[test]
    fn ext4_loads_crc32c_then_its_deps_then_itself() {
        let mut done = HashSet::new();
        let order = idx().load_order("ext4", &mut done);
        assert_eq!(
            order,
            [
                "crc32c_intel",
                "crc32c_generic",
                "crc16",
                "mbcache",
                "jbd2",
                "ext4"
            ]
        );
        // Nothing twice: a second request only adds what is new.
        assert!(idx().load_order("jbd2", &mut done).is_empty());
    }

    #[test]
    fn deps_come_before_the_modules_that_need_them() {
        let mut done = HashSet::new();
        let order = idx().load_order("sd_mod", &mut done);
        assert_eq!(order, ["scsi_common", "scsi_mod", "sd_mod"]);
    }

    #[test]
    fn added_softdeps_are_honoured() {
        let mut i = idx();
        i.add_softdep("vfat", &["nls_cp437", "nls_ascii"]);
        let order = i.load_order("vfat", &mut HashSet::new());
        assert_eq!(order, ["nls_cp437", "nls_ascii", "fat", "vfat"]);
        assert_eq!(i.softdep("vfat").unwrap().pre, ["nls_cp437", "nls_ascii"]);
    }

    #[test]
    fn softdep_post_and_cycles() {
        let i = ModuleIndex::parse(
            "a.ko: b.ko\nb.ko: a.ko\nc.ko:\n",
            "",
            "softdep a pre: missing post: c\n",
        );
        let order = i.load_order("a", &mut HashSet::new());
        assert_eq!(order, ["b", "a", "c"]);
    }

    #[test]
    fn modaliases_and_aliases_resolve() {
        let i = idx();
        assert_eq!(i.match_alias("scsi:t-0x00"), ["sd_mod"]);
        assert!(i.match_alias("scsi:t-0x05").is_empty());
        assert_eq!(i.match_alias("acpi:LNXPWRBN:"), ["button"]);
        assert_eq!(i.resolve("crc32c"), ["crc32c_intel", "crc32c_generic"]);
        assert_eq!(i.resolve("ext4"), ["ext4"]);
        assert!(i.resolve("nope").is_empty());
    }

    #[test]
    fn a_module_for_cpu_features_the_cpu_lacks_is_told_apart() {
        let idx = ModuleIndex::parse(DEP, ALIAS, SOFTDEP);
        // QEMU's default CPU: no SSE4.2 (feature 0x94, which crc32c_intel needs).
        let qemu = "cpu:type:x86,ven0002fam000Fmod006B:feature:,0000,0001,0093,0095,00C0";
        let with_sse42 = "cpu:type:x86,ven0000fam0006mod009E:feature:,0000,0093,0094,0095";
        assert!(idx.lacks_cpu_features("crc32c_intel", qemu));
        assert!(idx.lacks_cpu_features("crc32c-intel", qemu));
        assert!(!idx.lacks_cpu_features("crc32c_intel", with_sse42));
        // Modules without a CPU device table are never held back.
        assert!(!idx.lacks_cpu_features("crc32c_generic", qemu));
        assert!(!idx.lacks_cpu_features("ext4", qemu));
    }
}
