//! Kernel module selection: which `.ko` files go into the initramfs.
//!
//! A profile names the modules it needs (`image/profiles/*.modules`); this module adds
//! everything they depend on according to the kernel's own `modules.dep`, plus their
//! `softdep` pre/post modules (resolved through `modules.alias`, e.g. ext4 ->
//! `crypto-crc32c` -> `crc32c_generic`, `crc32c_intel`). The caller runs `depmod -b` on the
//! reduced tree afterwards so the shipped `modules.dep`/`.alias`/`.softdep` describe exactly
//! the shipped files.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Result};

use crate::Profile;

/// Module name as the kernel knows it: file stem with `-` folded to `_`.
pub fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = file.split(".ko").next().unwrap_or(file);
    stem.replace('-', "_")
}

/// What the kernel's `scripts/sign-file` appends to a module: the PKCS#7 signature, then a
/// 12-byte `struct module_signature` ending in the signature's length (big-endian u32),
/// then this marker.
const SIGNATURE_MARKER: &[u8] = b"~Module signature appended~\n";

/// The module without the signature Debian's build appended, or as it is when unsigned.
///
/// The kernel checks a signature that is present on every load: a SHA-256 of the whole
/// file and an RSA verification, about 0.3 s of the box's stage 1 under TCG for its 19
/// modules (QEMU's default CPU has no SHA or SSSE3 instructions, so the kernel hashes in
/// plain C). Nothing enforces them here: the kernel is not in lockdown and does not run
/// with `module.sig_enforce`, so it loads an unsigned module the same, noting once
/// "module verification failed ... tainting kernel". What guards the modules is the
/// update package signature, checked before the slot holding them is written
/// (docs/boot.md).
pub fn without_signature(ko: &[u8]) -> &[u8] {
    const INFO: usize = 12;
    let Some(body) = ko.strip_suffix(SIGNATURE_MARKER) else {
        return ko;
    };
    let Some(info) = body.len().checked_sub(INFO).map(|at| &body[at..]) else {
        return ko;
    };
    let sig_len = u32::from_be_bytes([info[8], info[9], info[10], info[11]]) as usize;
    match (body.len() - INFO).checked_sub(sig_len) {
        Some(end) => &body[..end],
        None => ko,
    }
}

/// The parsed `modules.dep`, `modules.softdep`, `modules.alias` and `modules.builtin`.
#[derive(Debug, Default)]
pub struct ModuleDb {
    /// name -> (relative path, dependency paths)
    deps: BTreeMap<String, (String, Vec<String>)>,
    /// name -> softdep names (pre and post)
    softdeps: BTreeMap<String, Vec<String>>,
    /// exact alias -> module names (glob aliases are for devices and never match a name)
    aliases: BTreeMap<String, Vec<String>>,
    builtin: BTreeSet<String>,
}

impl ModuleDb {
    pub fn parse(dep: &str, softdep: &str, alias: &str, builtin: &str) -> Self {
        let mut db = ModuleDb::default();
        for line in dep.lines() {
            let Some((path, rest)) = line.split_once(':') else {
                continue;
            };
            let list = rest.split_whitespace().map(str::to_string).collect();
            db.deps.insert(module_name(path), (path.to_string(), list));
        }
        for line in softdep.lines() {
            let mut words = line.split_whitespace();
            if words.next() != Some("softdep") {
                continue;
            }
            let Some(name) = words.next() else { continue };
            let list = words
                .filter(|w| *w != "pre:" && *w != "post:")
                .map(str::to_string)
                .collect::<Vec<_>>();
            db.softdeps
                .entry(name.replace('-', "_"))
                .or_default()
                .extend(list);
        }
        for line in alias.lines() {
            let mut words = line.split_whitespace();
            if let (Some("alias"), Some(al), Some(m)) = (words.next(), words.next(), words.next()) {
                if !al.contains(['*', '?', '[']) {
                    db.aliases
                        .entry(al.to_string())
                        .or_default()
                        .push(m.replace('-', "_"));
                }
            }
        }
        db.builtin = builtin.lines().map(module_name).collect();
        db
    }

    /// Module names a softdep word may refer to: a module, or an alias of one or more.
    fn resolve(&self, word: &str) -> Vec<String> {
        let name = word
            .strip_prefix("platform:")
            .unwrap_or(word)
            .replace('-', "_");
        if self.deps.contains_key(&name) {
            return vec![name];
        }
        self.aliases.get(word).cloned().unwrap_or_default()
    }

    /// Relative paths of `wanted` and their closure, sorted. Modules built into the
    /// kernel are skipped; a name that is neither a module nor built in is an error.
    pub fn closure(&self, wanted: &[String]) -> Result<BTreeSet<String>> {
        let mut unknown = Vec::new();
        let mut seen = BTreeSet::new();
        let mut todo: Vec<String> = Vec::new();
        for w in wanted {
            let n = w.replace('-', "_");
            if self.deps.contains_key(&n) {
                todo.push(n);
            } else if !self.builtin.contains(&n) {
                unknown.push(w.clone());
            }
        }
        if !unknown.is_empty() {
            bail!(
                "these modules are neither modules nor built into this kernel: {}",
                unknown.join(", ")
            );
        }
        let mut paths = BTreeSet::new();
        while let Some(name) = todo.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            let Some((path, deps)) = self.deps.get(&name) else {
                continue;
            };
            paths.insert(path.clone());
            todo.extend(deps.iter().map(|d| module_name(d)));
            for word in self.softdeps.get(&name).into_iter().flatten() {
                todo.extend(self.resolve(word));
            }
        }
        Ok(paths)
    }
}

/// The modules a profile ships: `profiles/base.modules` plus `profiles/<profile>.modules`,
/// built into this tool so that `assemble` reads the same lists as `build`.
pub fn profile_list(profile: Profile) -> Vec<String> {
    let extra = match profile {
        Profile::Box => include_str!("../profiles/box.modules"),
        Profile::Vm => include_str!("../profiles/vm.modules"),
    };
    let mut list = parse_list(include_str!("../profiles/base.modules"));
    list.extend(parse_list(extra));
    list
}

/// Module names listed in a profile file: one per line, `#` starts a comment.
pub fn parse_list(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_appended_signature_is_cut_off_and_the_rest_kept_byte_for_byte() {
        let elf = b"\x7fELF module body".to_vec();
        let sig = vec![0x30u8; 541];
        let mut signed = elf.clone();
        signed.extend_from_slice(&sig);
        signed.extend_from_slice(&[0, 0, 2, 0, 0, 0, 0, 0]);
        signed.extend_from_slice(&(sig.len() as u32).to_be_bytes());
        signed.extend_from_slice(SIGNATURE_MARKER);
        assert_eq!(without_signature(&signed), &elf[..]);
        // Unsigned, or a marker with an impossible length: left as it is.
        assert_eq!(without_signature(&elf), &elf[..]);
        let mut bogus = elf.clone();
        bogus.extend_from_slice(&[0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0x10, 0]);
        bogus.extend_from_slice(SIGNATURE_MARKER);
        assert_eq!(without_signature(&bogus), &bogus[..]);
        assert_eq!(without_signature(SIGNATURE_MARKER), SIGNATURE_MARKER);
    }

    const DEP: &str = "kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/jbd2/jbd2.ko\n\
kernel/lib/crc16.ko:\n\
kernel/fs/jbd2/jbd2.ko:\n\
kernel/crypto/crc32c_generic.ko:\n\
kernel/arch/x86/crypto/crc32c-intel.ko:\n\
kernel/fs/fat/vfat.ko: kernel/fs/fat/fat.ko\n\
kernel/fs/fat/fat.ko:\n";
    const SOFT: &str =
        "# comment\nsoftdep ext4 pre: crypto-crc32c\nsoftdep jbd2 pre: crypto-crc32c\n";
    const ALIAS: &str = "alias crypto-crc32c crc32c_intel\nalias crypto-crc32c crc32c_generic\nalias pci:v*d* fat\n";

    fn db() -> ModuleDb {
        ModuleDb::parse(DEP, SOFT, ALIAS, "kernel/drivers/tty/serial/8250.ko\n")
    }

    #[test]
    fn closure_follows_deps_and_softdeps_through_aliases() {
        let got = db().closure(&["ext4".into()]).unwrap();
        let want: BTreeSet<String> = [
            "kernel/fs/ext4/ext4.ko",
            "kernel/lib/crc16.ko",
            "kernel/fs/jbd2/jbd2.ko",
            "kernel/crypto/crc32c_generic.ko",
            "kernel/arch/x86/crypto/crc32c-intel.ko",
        ]
        .map(String::from)
        .into();
        assert_eq!(got, want);
    }

    #[test]
    fn dash_and_underscore_are_the_same_name() {
        let got = db().closure(&["crc32c_intel".into()]).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(
            module_name("kernel/arch/x86/crypto/crc32c-intel.ko"),
            "crc32c_intel"
        );
    }

    #[test]
    fn builtin_is_skipped_and_unknown_is_an_error() {
        assert!(db().closure(&["8250".into()]).unwrap().is_empty());
        let err = db().closure(&["nosuch".into(), "vfat".into()]).unwrap_err();
        assert!(err.to_string().contains("nosuch"), "{err}");
    }

    #[test]
    fn list_ignores_comments_and_blanks() {
        assert_eq!(
            parse_list("# x\nahci  # disk\n\n sd_mod\n"),
            ["ahci", "sd_mod"]
        );
    }
}
