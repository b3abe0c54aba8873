//! The initramfs: stage 1 of init, the kernel modules it loads, and the e2fsprogs tools it
//! needs to create, repair and grow `data` (see docs/boot.md, "initramfs contents").
//!
//! The same code serves both builders: the tools and their libraries come from a
//! [`Root`] (the host's `/` offline, Buildroot's target tree in `assemble`), the modules
//! from a kernel's module tree when it has one (Buildroot's kernel may have every driver
//! built in and no modules at all).

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use crate::cpio::{Archive, Entry};
use crate::rootfs::Root;
use crate::{modules, tools};

/// Programs copied into the initramfs with their shared libraries.
const E2FS_TOOLS: &[&str] = &["mke2fs", "e2fsck", "resize2fs"];

/// A kernel's loadable modules: `dir` is its `lib/modules/<release>`.
pub(crate) struct Modules<'a> {
    pub dir: &'a Path,
    pub release: &'a str,
    /// Names to ship; their dependencies and softdeps are added.
    pub list: &'a [String],
}

pub(crate) struct Inputs<'a> {
    pub init: &'a Path,
    /// `None`: the kernel has no modules, the initramfs carries none.
    pub modules: Option<Modules<'a>>,
    /// Where `mke2fs`, `e2fsck`, `resize2fs`, their libraries and `/etc/mke2fs.conf` come from.
    pub tools: &'a Root,
    pub release: &'a str,
    /// Scratch directory, emptied first.
    pub work: &'a Path,
}

pub(crate) struct Built {
    pub archive: Vec<u8>,
    pub module_count: usize,
}

pub(crate) fn build(inp: &Inputs, mtime: u32) -> Result<Built> {
    let mut a = Archive::new();
    a.insert(
        "init",
        Entry::File {
            mode: 0o755,
            data: read(inp.init)?,
        },
    );
    // The kernel opens /dev/console for init's stdio before init can mount devtmpfs.
    a.insert(
        "dev/console",
        Entry::CharDev {
            mode: 0o600,
            major: 5,
            minor: 1,
        },
    );
    for dir in ["proc", "sys", "run", "tmp", "newroot"] {
        a.insert(dir, Entry::Dir { mode: 0o755 });
    }
    a.insert(
        "etc/appliance/release",
        Entry::File {
            mode: 0o644,
            data: inp.release.as_bytes().to_vec(),
        },
    );
    let root = inp.tools;
    if root.is_file("etc/mke2fs.conf") {
        a.insert(
            "etc/mke2fs.conf",
            Entry::File {
                mode: 0o644,
                data: root.read("etc/mke2fs.conf")?,
            },
        );
    }
    for tool in E2FS_TOOLS {
        let path = root.program(tool)?;
        a.insert(
            &format!("sbin/{tool}"),
            Entry::File {
                mode: 0o755,
                data: root.read(&path)?,
            },
        );
        for lib in root.shared_libraries(&path)? {
            a.insert(
                &lib,
                Entry::File {
                    mode: 0o755,
                    data: root.read(&lib)?,
                },
            );
        }
    }
    let module_count = match &inp.modules {
        Some(m) => add_modules(&mut a, m, inp.work)?,
        None => 0,
    };
    Ok(Built {
        archive: a.to_bytes(mtime),
        module_count,
    })
}

/// Copies the closure of the profile's modules into a scratch tree, without their
/// signatures (see [`modules::without_signature`]), runs `depmod` there so the index files
/// match the shipped set, and adds the tree to the archive.
fn add_modules(a: &mut Archive, m: &Modules, work: &Path) -> Result<usize> {
    let src = m.dir;
    let text = |name: &str| {
        fs::read_to_string(src.join(name))
            .with_context(|| format!("cannot read {name} of the kernel"))
    };
    let db = modules::ModuleDb::parse(
        &text("modules.dep")?,
        &text("modules.softdep")?,
        &text("modules.alias")?,
        &text("modules.builtin")?,
    );
    let closure = db.closure(m.list)?;

    let _ = fs::remove_dir_all(work);
    let rel = format!("lib/modules/{}", m.release);
    let dst = work.join(&rel);
    let mut dropped = 0;
    for path in &closure {
        let to = dst.join(path);
        fs::create_dir_all(to.parent().unwrap_or(&dst))?;
        let ko = read(&src.join(path))?;
        let mut ko = modules::without_signature(&ko).to_vec();
        dropped += modules::drop_sections(&mut ko, modules::DROPPED_SECTIONS);
        fs::write(&to, ko).with_context(|| format!("cannot copy module {path}"))?;
    }
    if dropped == 0 && !closure.is_empty() {
        // A kernel whose modules name these sections otherwise: they work, only load slower.
        eprintln!(
            "image: warning: no module carried {:?}; module loads keep their cost (image/src/modules.rs)",
            modules::DROPPED_SECTIONS
        );
    }
    for f in [
        "modules.builtin",
        "modules.builtin.modinfo",
        "modules.order",
    ] {
        fs::copy(src.join(f), dst.join(f)).with_context(|| format!("cannot copy {f}"))?;
    }
    tools::run(Command::new("depmod").arg("-b").arg(work).arg(m.release))?;
    add_tree(a, &dst, &rel)?;
    Ok(closure.len())
}

fn add_tree(a: &mut Archive, dir: &Path, prefix: &str) -> Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        let name = format!("{prefix}/{}", e.file_name().to_string_lossy());
        if e.file_type()?.is_dir() {
            add_tree(a, &e.path(), &name)?;
        } else {
            a.insert(
                &name,
                Entry::File {
                    mode: 0o644,
                    data: read(&e.path())?,
                },
            );
        }
    }
    Ok(())
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}
