//! The initramfs: stage 1 of init, the kernel modules it loads, and the e2fsprogs tools it
//! needs to create, repair and grow `data` (see docs/boot.md, "initramfs contents").

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use crate::cpio::{Archive, Entry};
use crate::kernel::Kernel;
use crate::{modules, tools};

/// Host programs copied into the initramfs with their shared libraries.
const E2FS_TOOLS: &[&str] = &["mke2fs", "e2fsck", "resize2fs"];

pub struct Inputs<'a> {
    pub kernel: &'a Kernel,
    pub init: &'a Path,
    pub module_list: &'a [String],
    pub release: &'a str,
    /// Scratch directory, emptied first.
    pub work: &'a Path,
}

pub struct Built {
    pub archive: Vec<u8>,
    pub module_count: usize,
}

pub fn build(inp: &Inputs, mtime: u32) -> Result<Built> {
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
    if Path::new("/etc/mke2fs.conf").is_file() {
        a.insert(
            "etc/mke2fs.conf",
            Entry::File {
                mode: 0o644,
                data: read(Path::new("/etc/mke2fs.conf"))?,
            },
        );
    }
    for tool in E2FS_TOOLS {
        let path = tools::find(tool).with_context(|| format!("{tool} not found on this host"))?;
        a.insert(
            &format!("sbin/{tool}"),
            Entry::File {
                mode: 0o755,
                data: read(&path)?,
            },
        );
        for lib in shared_libraries(&path)? {
            a.insert(
                lib.trim_start_matches('/'),
                Entry::File {
                    mode: 0o755,
                    data: read(Path::new(&lib))?,
                },
            );
        }
    }
    let module_count = add_modules(&mut a, inp)?;
    Ok(Built {
        archive: a.to_bytes(mtime),
        module_count,
    })
}

/// Copies the closure of the profile's modules into a scratch tree, runs `depmod` there so
/// the index files match the shipped set, and adds the tree to the archive.
fn add_modules(a: &mut Archive, inp: &Inputs) -> Result<usize> {
    let k = inp.kernel;
    let src = k.modules_dir();
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
    let closure = db.closure(inp.module_list)?;

    let _ = fs::remove_dir_all(inp.work);
    let rel = format!("lib/modules/{}", k.release);
    let dst = inp.work.join(&rel);
    for path in &closure {
        let to = dst.join(path);
        fs::create_dir_all(to.parent().unwrap_or(&dst))?;
        fs::copy(src.join(path), &to).with_context(|| format!("cannot copy module {path}"))?;
    }
    for f in [
        "modules.builtin",
        "modules.builtin.modinfo",
        "modules.order",
    ] {
        fs::copy(src.join(f), dst.join(f)).with_context(|| format!("cannot copy {f}"))?;
    }
    tools::run(
        Command::new("depmod")
            .arg("-b")
            .arg(inp.work)
            .arg(&k.release),
    )?;
    add_tree(a, &dst, &rel)?;
    Ok(closure.len())
}

fn add_tree(a: &mut Archive, dir: &Path, prefix: &str) -> Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
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

/// Absolute paths of the shared libraries (and the dynamic loader) `program` loads.
fn shared_libraries(program: &Path) -> Result<Vec<String>> {
    let out = tools::run(Command::new("ldd").arg(program))?;
    Ok(parse_ldd(&String::from_utf8_lossy(&out.stdout)))
}

fn parse_ldd(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let path = match l.split_once("=>") {
                Some((_, rhs)) => rhs.trim(),
                None => l,
            };
            let path = path.split(" (").next().unwrap_or("").trim();
            path.starts_with('/').then(|| path.to_string())
        })
        .collect()
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_gives_libraries_and_loader_but_not_vdso() {
        let text = "\tlinux-vdso.so.1 (0x00007f)\n\
\tlibext2fs.so.2 => /lib/x86_64-linux-gnu/libext2fs.so.2 (0x00007f)\n\
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\
\t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n";
        assert_eq!(
            parse_ldd(text),
            [
                "/lib/x86_64-linux-gnu/libext2fs.so.2",
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib64/ld-linux-x86-64.so.2"
            ]
        );
    }
}
