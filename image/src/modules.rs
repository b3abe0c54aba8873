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
pub(crate) fn module_name(path: &str) -> String {
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
pub(crate) fn without_signature(ko: &[u8]) -> &[u8] {
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

/// Sections the kernel's loader skips when their `SHF_ALLOC` flag is clear (its own way of
/// dropping a section, `find_sec` in kernel/module/main.c): no memory, no relocations.
///
/// `__mcount_loc` lists each function's `call __fentry__` for ftrace. On every load the
/// kernel sorts it, turns each call into a NOP, and looks each function up in the module's
/// symbol table one symbol at a time (`test_for_valid_rec` -> `find_kallsyms_symbol`):
/// ext4 has 850 functions and 3 700 symbols. Without the table the calls stay, each
/// returning at once (`__fentry__` is a bare `ret` with dynamic ftrace), and ftrace cannot
/// trace these modules' functions.
///
/// `.static_call_sites` lists the inline static calls (mostly tracepoints: 380 in ext4),
/// each rewritten on load with `text_poke_bp`, which switches to a temporary page table
/// and back three times per site. Without it those calls go through the static call's
/// trampoline, which the kernel keeps pointing at the current target.
///
/// Both together: ext4 loads in 0.09 s instead of 0.17-0.25 s under TCG (docs/boot.md).
pub(crate) const DROPPED_SECTIONS: &[&str] = &["__mcount_loc", ".static_call_sites"];

const SHF_ALLOC: u64 = 0x2;

/// Clears `SHF_ALLOC` on the named sections of a 64-bit little-endian ELF relocatable
/// (a kernel module); returns how many it cleared. A file that is not such an ELF, or
/// whose headers point outside it, is left unchanged (the kernel then refuses it itself).
pub(crate) fn drop_sections(ko: &mut [u8], names: &[&str]) -> usize {
    let Some(headers) = section_headers(ko) else {
        return 0;
    };
    let (table, count, (strtab, strtab_size)) = headers;
    let names_table = ko[strtab..strtab + strtab_size].to_vec();
    let name_at = |off: usize| -> Option<&[u8]> {
        let rest = names_table.get(off..)?;
        Some(&rest[..rest.iter().position(|&b| b == 0)?])
    };
    let mut cleared = 0;
    for i in 0..count {
        let at = table + i * 64;
        let wanted = name_at(u32le(ko, at) as usize)
            .is_some_and(|found| names.iter().any(|n| n.as_bytes() == found));
        let flags = u64le(ko, at + 8);
        if wanted && flags & SHF_ALLOC != 0 {
            ko[at + 8..at + 16].copy_from_slice(&(flags & !SHF_ALLOC).to_le_bytes());
            cleared += 1;
        }
    }
    cleared
}

/// (offset of the section header table, number of headers, (offset, size) of the section
/// name table), all checked to lie inside the file.
fn section_headers(ko: &[u8]) -> Option<(usize, usize, (usize, usize))> {
    // ELF64 (class 2), little-endian (data 1), relocatable (type 1), 64-byte headers.
    if ko.len() < 64 || &ko[..4] != b"\x7fELF" || ko[4] != 2 || ko[5] != 1 {
        return None;
    }
    if u16le(ko, 16) != 1 || u16le(ko, 58) != 64 {
        return None;
    }
    let table = usize::try_from(u64le(ko, 40)).ok()?;
    let count = usize::from(u16le(ko, 60));
    let strndx = usize::from(u16le(ko, 62));
    if strndx >= count || table.checked_add(count.checked_mul(64)?)? > ko.len() {
        return None;
    }
    let s = table + strndx * 64;
    let off = usize::try_from(u64le(ko, s + 24)).ok()?;
    let size = usize::try_from(u64le(ko, s + 32)).ok()?;
    (off.checked_add(size)? <= ko.len()).then_some((table, count, (off, size)))
}

fn u16le(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64le(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// The parsed `modules.dep`, `modules.softdep`, `modules.alias` and `modules.builtin`.
#[derive(Debug, Default)]
pub(crate) struct ModuleDb {
    /// name -> (relative path, dependency paths)
    deps: BTreeMap<String, (String, Vec<String>)>,
    /// name -> softdep names (pre and post)
    softdeps: BTreeMap<String, Vec<String>>,
    /// exact alias -> module names (glob aliases are for devices and never match a name)
    aliases: BTreeMap<String, Vec<String>>,
    builtin: BTreeSet<String>,
}

impl ModuleDb {
    pub(crate) fn parse(dep: &str, softdep: &str, alias: &str, builtin: &str) -> Self {
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
    pub(crate) fn closure(&self, wanted: &[String]) -> Result<BTreeSet<String>> {
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
pub(crate) fn profile_list(profile: Profile) -> Vec<String> {
    let extra = match profile {
        Profile::Box => include_str!("../profiles/box.modules"),
        Profile::Vm => include_str!("../profiles/vm.modules"),
    };
    let mut list = parse_list(include_str!("../profiles/base.modules"));
    list.extend(parse_list(extra));
    list
}

/// Module names listed in a profile file: one per line, `#` starts a comment.
pub(crate) fn parse_list(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A relocatable ELF64 with the given (name, flags) sections after the null one and a
    /// trailing `.shstrtab`.
    fn relocatable(sections: &[(&str, u64)]) -> Vec<u8> {
        let mut names = vec![0u8];
        let mut offsets = Vec::new();
        for (name, _) in sections.iter().copied().chain([(".shstrtab", 0)]) {
            offsets.push(names.len() as u32);
            names.extend_from_slice(name.as_bytes());
            names.push(0);
        }
        let count = sections.len() + 2;
        let table = 64 + names.len();
        let mut elf = vec![0u8; 64];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[16..18].copy_from_slice(&1u16.to_le_bytes());
        elf[40..48].copy_from_slice(&(table as u64).to_le_bytes());
        elf[58..60].copy_from_slice(&64u16.to_le_bytes());
        elf[60..62].copy_from_slice(&(count as u16).to_le_bytes());
        elf[62..64].copy_from_slice(&((count - 1) as u16).to_le_bytes());
        elf.extend_from_slice(&names);
        elf.extend_from_slice(&[0u8; 64]);
        let flags = sections.iter().map(|(_, f)| *f).chain([0]);
        for (name, flags) in offsets.iter().zip(flags) {
            let mut h = [0u8; 64];
            h[..4].copy_from_slice(&name.to_le_bytes());
            h[8..16].copy_from_slice(&flags.to_le_bytes());
            if *name == *offsets.last().unwrap() {
                h[24..32].copy_from_slice(&64u64.to_le_bytes());
                h[32..40].copy_from_slice(&(names.len() as u64).to_le_bytes());
            }
            elf.extend_from_slice(&h);
        }
        elf
    }

    fn flags(elf: &[u8], index: usize) -> u64 {
        let table = u64le(elf, 40) as usize;
        u64le(elf, table + index * 64 + 8)
    }

    #[test]
    fn dropped_sections_lose_only_their_alloc_flag() {
        let alloc_exec = SHF_ALLOC | 0x4;
        let mut elf = relocatable(&[
            (".text", alloc_exec),
            ("__mcount_loc", SHF_ALLOC),
            (".rela__mcount_loc", 0x40),
            (".static_call_sites", SHF_ALLOC | 0x1),
            ("__jump_table", SHF_ALLOC | 0x1),
        ]);
        let before = elf.clone();
        assert_eq!(drop_sections(&mut elf, DROPPED_SECTIONS), 2);
        assert_eq!(flags(&elf, 1), alloc_exec);
        assert_eq!(flags(&elf, 2), 0, "__mcount_loc");
        assert_eq!(flags(&elf, 3), 0x40);
        assert_eq!(flags(&elf, 4), 0x1, ".static_call_sites keeps SHF_WRITE");
        assert_eq!(flags(&elf, 5), SHF_ALLOC | 0x1, "jump labels stay");
        let changed: Vec<usize> = (0..elf.len()).filter(|&i| elf[i] != before[i]).collect();
        assert_eq!(changed.len(), 2, "one byte of each of the two flag words");
        // Already dropped: nothing more to do.
        assert_eq!(drop_sections(&mut elf, DROPPED_SECTIONS), 0);
    }

    #[test]
    fn what_is_not_a_sound_elf64_relocatable_is_left_alone() {
        let good = relocatable(&[("__mcount_loc", SHF_ALLOC)]);
        let mut cases = vec![b"\x7fELF module body".to_vec(), Vec::new()];
        let mut exec = good.clone();
        exec[16] = 2; // ET_EXEC
        cases.push(exec);
        let mut big_endian = good.clone();
        big_endian[5] = 2;
        cases.push(big_endian);
        let mut table_past_end = good.clone();
        table_past_end[40..48].copy_from_slice(&(good.len() as u64).to_le_bytes());
        cases.push(table_past_end);
        let mut names_past_end = good.clone();
        let strtab = u64le(&good, 40) as usize + 2 * 64;
        names_past_end[strtab + 32..strtab + 40].copy_from_slice(&u64::MAX.to_le_bytes());
        cases.push(names_past_end);
        cases.push(good[..good.len() - 1].to_vec());
        for case in cases {
            let mut elf = case.clone();
            assert_eq!(drop_sections(&mut elf, DROPPED_SECTIONS), 0);
            assert_eq!(elf, case);
        }
    }

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
