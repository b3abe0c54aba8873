//! Just enough of ELF64 (little-endian, x86_64) to know what a dynamically linked program
//! needs at run time: its interpreter (`PT_INTERP`) and the libraries it names
//! (`DT_NEEDED`). `ldd` cannot answer that for a target tree (it runs the host's loader),
//! so the initramfs reads the files themselves.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub(crate) enum Error {
    #[error("not an ELF64 little-endian file")]
    NotElf64,
    #[error("truncated ELF file: {0} lies outside the file")]
    Truncated(&'static str),
    #[error("the dynamic string table address {0:#x} is in no loaded segment")]
    Unmapped(u64),
}

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;

/// What the dynamic loader needs to run a program or library.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Dynamic {
    /// Absolute path of the loader (`/lib64/ld-linux-x86-64.so.2`); `None` for libraries
    /// and static programs.
    pub interpreter: Option<String>,
    /// Library names in `DT_NEEDED` order (`libc.so.6`).
    pub needed: Vec<String>,
}

struct Segment {
    kind: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
}

/// Reads the interpreter and needed libraries of the ELF image `data`.
pub(crate) fn dynamic(data: &[u8]) -> Result<Dynamic, Error> {
    if data.len() < 64 || &data[..4] != b"\x7fELF" || data[4] != 2 || data[5] != 1 {
        return Err(Error::NotElf64);
    }
    let phoff = u64_at(data, 0x20, "program header offset")?;
    let phentsize = u64::from(u16_at(data, 0x36, "program header size")?);
    let phnum = u64::from(u16_at(data, 0x38, "program header count")?);
    let mut segments = Vec::new();
    for i in 0..phnum {
        let at = to_usize(phoff + i * phentsize)?;
        segments.push(Segment {
            kind: u32_at(data, at, "program header")?,
            offset: u64_at(data, at + 8, "program header")?,
            vaddr: u64_at(data, at + 16, "program header")?,
            filesz: u64_at(data, at + 32, "program header")?,
        });
    }

    let mut out = Dynamic::default();
    if let Some(interp) = segments.iter().find(|s| s.kind == PT_INTERP) {
        out.interpreter = Some(c_string(data, to_usize(interp.offset)?)?);
    }
    let Some(dynamic) = segments.iter().find(|s| s.kind == PT_DYNAMIC) else {
        return Ok(out);
    };
    let (mut strtab, mut needed) = (None, Vec::new());
    let start = to_usize(dynamic.offset)?;
    for i in 0..to_usize(dynamic.filesz / 16)? {
        let tag = u64_at(data, start + i * 16, "dynamic section")?;
        let val = u64_at(data, start + i * 16 + 8, "dynamic section")?;
        match tag {
            DT_NULL => break,
            DT_NEEDED => needed.push(val),
            DT_STRTAB => strtab = Some(val),
            _ => {}
        }
    }
    if needed.is_empty() {
        return Ok(out);
    }
    let strtab = strtab.ok_or(Error::Truncated("DT_STRTAB"))?;
    // DT_STRTAB is a run-time address: find the loaded segment that holds it.
    let table = segments
        .iter()
        .filter(|s| s.kind == PT_LOAD)
        .find(|s| s.vaddr <= strtab && strtab < s.vaddr + s.filesz)
        .map(|s| s.offset + (strtab - s.vaddr))
        .ok_or(Error::Unmapped(strtab))?;
    for name in needed {
        out.needed.push(c_string(data, to_usize(table + name)?)?);
    }
    Ok(out)
}

fn to_usize(v: u64) -> Result<usize, Error> {
    usize::try_from(v).map_err(|_| Error::Truncated("an offset"))
}

fn bytes<'a>(data: &'a [u8], at: usize, len: usize, what: &'static str) -> Result<&'a [u8], Error> {
    data.get(at..at.checked_add(len).ok_or(Error::Truncated(what))?)
        .ok_or(Error::Truncated(what))
}

fn u16_at(data: &[u8], at: usize, what: &'static str) -> Result<u16, Error> {
    let b = bytes(data, at, 2, what)?;
    Ok(u16::from_le_bytes([b[0], b[1]]))
}

fn u32_at(data: &[u8], at: usize, what: &'static str) -> Result<u32, Error> {
    let mut a = [0; 4];
    a.copy_from_slice(bytes(data, at, 4, what)?);
    Ok(u32::from_le_bytes(a))
}

fn u64_at(data: &[u8], at: usize, what: &'static str) -> Result<u64, Error> {
    let mut a = [0; 8];
    a.copy_from_slice(bytes(data, at, 8, what)?);
    Ok(u64::from_le_bytes(a))
}

fn c_string(data: &[u8], at: usize) -> Result<String, Error> {
    let rest = data.get(at..).ok_or(Error::Truncated("a string"))?;
    let end = rest
        .iter()
        .position(|b| *b == 0)
        .ok_or(Error::Truncated("a string"))?;
    Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_mke2fs_names_its_loader_and_libraries() {
        // Every build host has e2fsprogs (tools::check requires it).
        let Some(path) = crate::tools::find("mke2fs") else {
            return;
        };
        let d = dynamic(&std::fs::read(path).unwrap()).unwrap();
        assert_eq!(
            d.interpreter.as_deref(),
            Some("/lib64/ld-linux-x86-64.so.2")
        );
        for lib in ["libext2fs.so.2", "libc.so.6"] {
            assert!(d.needed.iter().any(|n| n == lib), "{:?}", d.needed);
        }
    }

    #[test]
    fn a_library_has_no_interpreter_but_needs_libc() {
        let Ok(data) = std::fs::read("/lib/x86_64-linux-gnu/libext2fs.so.2") else {
            return;
        };
        let d = dynamic(&data).unwrap();
        assert_eq!(d.interpreter, None);
        assert!(d.needed.contains(&"libc.so.6".to_string()));
    }

    #[test]
    fn garbage_and_truncated_files_are_errors_not_panics() {
        assert_eq!(dynamic(b"#!/bin/sh\n"), Err(Error::NotElf64));
        let mut head = vec![0u8; 64];
        head[..6].copy_from_slice(b"\x7fELF\x02\x01");
        head[0x20] = 0xf0; // program headers beyond the end
        head[0x36] = 56;
        head[0x38] = 1;
        assert!(matches!(dynamic(&head), Err(Error::Truncated(_))));
    }
}
