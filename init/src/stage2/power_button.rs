//! The ACPI power button: the kernel's `button` driver exposes an input device named
//! "Power Button"; a KEY_POWER press on it means "power off".

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;

const EV_KEY: u16 = 1;
const KEY_POWER: u16 = 116;
/// sizeof(struct input_event) on x86_64: struct timeval (16) + type, code (2+2) + value (4).
pub const EVENT_SIZE: usize = 24;

/// Is there a KEY_POWER press among these input events?
pub fn pressed(buf: &[u8]) -> bool {
    buf.chunks_exact(EVENT_SIZE).any(|e| {
        let ty = u16::from_ne_bytes([e[16], e[17]]);
        let code = u16::from_ne_bytes([e[18], e[19]]);
        let value = i32::from_ne_bytes([e[20], e[21], e[22], e[23]]);
        ty == EV_KEY && code == KEY_POWER && value == 1
    })
}

/// The open power button devices.
#[derive(Default)]
pub struct Buttons {
    pub files: Vec<File>,
    opened: HashSet<String>,
}

impl Buttons {
    /// Open power buttons not opened yet (the driver may load after stage 2 starts).
    pub fn scan(&mut self) {
        let Ok(dir) = std::fs::read_dir("/sys/class/input") else {
            return;
        };
        for ent in dir.flatten() {
            let name = ent.file_name().to_string_lossy().into_owned();
            if !name.starts_with("event") || self.opened.contains(&name) {
                continue;
            }
            let Ok(dev) = std::fs::read_to_string(ent.path().join("device/name")) else {
                continue;
            };
            if dev.trim() != "Power Button" {
                continue;
            }
            let path = format!("/dev/input/{name}");
            match std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
                .open(&path)
            {
                Ok(f) => {
                    crate::log!("power button: watching {path}");
                    self.files.push(f);
                    self.opened.insert(name);
                }
                Err(e) => crate::log!("power button: cannot open {path}: {e}"),
            }
        }
    }

    /// Read what the device `i` has; true on a press.
    pub fn read(&mut self, i: usize) -> bool {
        let Some(f) = self.files.get_mut(i) else {
            return false;
        };
        let mut buf = [0u8; EVENT_SIZE * 16];
        let mut hit = false;
        while let Ok(n) = f.read(&mut buf) {
            if n == 0 {
                break;
            }
            hit |= pressed(&buf[..n]);
        }
        hit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(ty: u16, code: u16, value: i32) -> Vec<u8> {
        let mut e = vec![0u8; 16];
        e.extend_from_slice(&ty.to_ne_bytes());
        e.extend_from_slice(&code.to_ne_bytes());
        e.extend_from_slice(&value.to_ne_bytes());
        e
    }

    #[test]
    fn only_a_power_key_press_counts() {
        let syn = ev(0, 0, 0);
        let press = [ev(EV_KEY, KEY_POWER, 1), syn.clone()].concat();
        assert!(pressed(&press));
        assert!(!pressed(&[ev(EV_KEY, KEY_POWER, 0), syn.clone()].concat()));
        assert!(!pressed(&ev(EV_KEY, 115, 1)));
        assert!(!pressed(&ev(2, KEY_POWER, 1)));
        // A truncated event is not read as one.
        assert!(!pressed(&press[..EVENT_SIZE - 1]));
    }
}
