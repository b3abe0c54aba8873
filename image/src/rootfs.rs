//! A root file system tree the image takes programs from: the build host's `/` for the
//! offline builder, Buildroot's `TARGET_DIR` for `assemble`.
//!
//! Paths are resolved as if the tree were `/`: an absolute symlink inside `TARGET_DIR`
//! (`/lib64 -> /lib`) points into the tree, never at the host. A program's shared
//! libraries are found by reading its ELF headers and searching the tree's library
//! directories, so no target program is ever run on the host.

use std::collections::{BTreeSet, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::elf;

/// Where the loader of an x86_64 glibc system looks for libraries, in order.
const LIBRARY_DIRS: &[&str] = &[
    "lib/x86_64-linux-gnu",
    "usr/lib/x86_64-linux-gnu",
    "lib64",
    "usr/lib64",
    "lib",
    "usr/lib",
];

/// Where system programs live.
const PROGRAM_DIRS: &[&str] = &["sbin", "usr/sbin", "bin", "usr/bin"];

/// Symlink hops before a path is declared a loop (the kernel's limit is 40).
const MAX_LINKS: usize = 40;

pub(crate) struct Root {
    dir: PathBuf,
}

impl Root {
    pub(crate) fn new(dir: &Path) -> Self {
        Root {
            dir: dir.to_path_buf(),
        }
    }

    /// The host path of `path` (relative to the tree's `/`) with every symlink followed
    /// inside the tree. The result may not exist.
    pub(crate) fn resolve(&self, path: &str) -> Result<PathBuf> {
        let mut done: Vec<String> = Vec::new();
        let mut todo: VecDeque<String> = components(path).collect();
        let mut hops = 0;
        while let Some(c) = todo.pop_front() {
            if c == ".." {
                done.pop();
                continue;
            }
            let here = self.dir.join(done.join("/")).join(&c);
            let Ok(meta) = fs::symlink_metadata(&here) else {
                done.push(c);
                continue;
            };
            if !meta.file_type().is_symlink() {
                done.push(c);
                continue;
            }
            hops += 1;
            if hops > MAX_LINKS {
                bail!(
                    "too many symlinks resolving {path} in {}",
                    self.dir.display()
                );
            }
            let target = fs::read_link(&here)?;
            let target = target.to_string_lossy();
            if target.starts_with('/') {
                done.clear();
            }
            for (i, t) in components(&target).enumerate() {
                todo.insert(i, t);
            }
        }
        Ok(self.dir.join(done.join("/")))
    }

    /// Reads `path` (relative to the tree's `/`), following symlinks inside the tree.
    pub(crate) fn read(&self, path: &str) -> Result<Vec<u8>> {
        let p = self.resolve(path)?;
        fs::read(&p).with_context(|| format!("cannot read {} ({})", path, p.display()))
    }

    pub(crate) fn is_file(&self, path: &str) -> bool {
        self.resolve(path).is_ok_and(|p| p.is_file())
    }

    /// The tree path (`sbin/mke2fs`) of a system program.
    pub(crate) fn program(&self, name: &str) -> Result<String> {
        self.find_in(PROGRAM_DIRS, name)
    }

    /// Tree paths of the loader and every shared library `program` loads, directly or
    /// through other libraries, under the names the loader looks them up by (what `ldd`
    /// prints: `lib/x86_64-linux-gnu/libc.so.6`, `lib64/ld-linux-x86-64.so.2`).
    pub(crate) fn shared_libraries(&self, program: &str) -> Result<BTreeSet<String>> {
        let mut found = BTreeSet::new();
        let mut todo = vec![program.to_string()];
        let mut loaders = BTreeSet::new();
        while let Some(file) = todo.pop() {
            let data = self.read(&file)?;
            let dynamic =
                elf::dynamic(&data).with_context(|| format!("cannot read the ELF file {file}"))?;
            if let Some(interp) = dynamic.interpreter {
                let interp = interp.trim_start_matches('/').to_string();
                if !self.is_file(&interp) {
                    bail!(
                        "{file} needs the loader /{interp}, which {} lacks",
                        self.dir.display()
                    );
                }
                if let Some(soname) = interp.rsplit('/').next() {
                    loaders.insert(soname.to_string());
                }
                found.insert(interp);
            }
            for name in dynamic.needed {
                // libc names the loader by its soname; the loader satisfies that itself.
                if loaders.contains(&name) {
                    continue;
                }
                let lib = self
                    .library(&name)
                    .with_context(|| format!("{file} needs {name}"))?;
                if found.insert(lib.clone()) {
                    todo.push(lib);
                }
            }
        }
        Ok(found)
    }

    /// The tree path of `name` in the first of `dirs` that holds it.
    fn find_in(&self, dirs: &[&str], name: &str) -> Result<String> {
        dirs.iter()
            .map(|d| format!("{d}/{name}"))
            .find(|p| self.is_file(p))
            .with_context(|| {
                format!(
                    "{name} is in none of {} of {}",
                    dirs.join(", "),
                    self.dir.display()
                )
            })
    }

    fn library(&self, name: &str) -> Result<String> {
        if name.contains('/') {
            return Ok(name.trim_start_matches('/').to_string());
        }
        self.find_in(LIBRARY_DIRS, name)
    }
}

fn components(path: &str) -> impl Iterator<Item = String> + '_ {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree() -> (PathBuf, Root) {
        let dir = std::env::temp_dir().join(format!(
            "image-rootfs-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("usr/lib")).unwrap();
        fs::create_dir_all(dir.join("usr/sbin")).unwrap();
        (dir.clone(), Root::new(&dir))
    }

    #[test]
    fn absolute_symlinks_stay_inside_the_tree() {
        let (dir, root) = tree();
        symlink("/usr/lib", dir.join("lib")).unwrap();
        symlink("lib", dir.join("lib64")).unwrap();
        symlink("/usr/sbin", dir.join("sbin")).unwrap();
        fs::write(dir.join("usr/lib/ld.so"), b"x").unwrap();
        symlink("../lib/ld.so", dir.join("usr/lib/ld-linux.so.2")).unwrap();
        assert_eq!(
            root.resolve("/lib64/ld-linux.so.2").unwrap(),
            dir.join("usr/lib/ld.so")
        );
        assert!(root.is_file("lib64/ld-linux.so.2"));
        assert!(!root.is_file("lib64/absent"));
        fs::write(dir.join("usr/sbin/mke2fs"), b"x").unwrap();
        assert_eq!(root.program("mke2fs").unwrap(), "sbin/mke2fs");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_symlink_loop_is_an_error() {
        let (dir, root) = tree();
        symlink("b", dir.join("a")).unwrap();
        symlink("a", dir.join("b")).unwrap();
        assert!(root.resolve("a/x").is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn host_e2fsck_libraries_match_what_ldd_lists() {
        let root = Root::new(Path::new("/"));
        let Ok(prog) = root.program("e2fsck") else {
            return;
        };
        let ours = root.shared_libraries(&prog).unwrap();
        let ldd = std::process::Command::new("ldd")
            .arg(root.resolve(&prog).unwrap())
            .output()
            .unwrap();
        let theirs: BTreeSet<String> = String::from_utf8_lossy(&ldd.stdout)
            .lines()
            .filter_map(|l| {
                let p = l.split("=>").last()?.trim().split(" (").next()?.trim();
                p.strip_prefix('/').map(str::to_string)
            })
            .collect();
        assert_eq!(ours, theirs);
    }
}
