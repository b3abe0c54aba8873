//! The virtual hardware of each machine profile, as QEMU arguments. This is the one place
//! the harness lists device sets; it mirrors the table in `qemu/README.md`:
//!
//! | profile  | machine | firmware                    | disk                | NIC            | watchdog |
//! |----------|---------|-----------------------------|---------------------|----------------|----------|
//! | `box`    | q35     | OVMF (always)               | ide-hd on q35 AHCI  | e1000e         | i6300esb |
//! | `vm`     | pc      | SeaBIOS, or OVMF            | pvscsi + scsi-hd (SATA under OVMF) | vmxnet3 | i6300esb |
//! | `virtio` | q35     | SeaBIOS, or OVMF            | virtio-blk-pci      | virtio-net-pci | i6300esb |

use std::path::{Path, PathBuf};

pub const QEMU: &str = "qemu-system-x86_64";
pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Box,
    Vm,
    Virtio,
}

impl Profile {
    /// The image built for this profile (`virtio` boots the `vm` image).
    pub fn image_profile(self) -> &'static str {
        match self {
            Profile::Box => "box",
            Profile::Vm | Profile::Virtio => "vm",
        }
    }

    /// The QEMU model of the profile's NICs.
    pub fn nic(self) -> &'static str {
        match self {
            Profile::Box => "e1000e",
            Profile::Vm => "vmxnet3",
            Profile::Virtio => "virtio-net-pci",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Profile::Box => "box",
            Profile::Vm => "vm",
            Profile::Virtio => "virtio",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firmware {
    Bios,
    Uefi,
}

/// Everything that varies between runs of one profile.
#[derive(Debug, Clone)]
pub struct Plan {
    pub profile: Profile,
    /// Ignored for `box`, which is always UEFI.
    pub firmware: Firmware,
    /// A qcow2 disk to boot (an overlay), or none for firmware-only runs.
    pub disk: Option<PathBuf>,
    /// The writable copy of OVMF's variable store (UEFI only).
    pub ovmf_vars: Option<PathBuf>,
    pub https_port: u16,
    pub http_port: u16,
    pub qmp_socket: PathBuf,
    pub serial_file: PathBuf,
    /// The serial port on this unix socket instead of straight into `serial_file`: QEMU
    /// listens and waits for the harness, which copies the output into `serial_file` and
    /// can type on the port ([`crate::console::SerialLink`]).
    pub serial_socket: Option<PathBuf>,
    /// Exit instead of resetting (a watchdog reset then ends QEMU too).
    pub no_reboot: bool,
    /// `-rtc base=VALUE`.
    pub rtc_base: Option<String>,
    /// The NIC's MAC address; None: QEMU's first (`52:54:00:12:34:56`).
    pub mac: Option<String>,
    /// A second NIC, on a tap device (a [`crate::lab::Lab`]'s L2 segment).
    pub segment: Option<SegmentNic>,
}

/// A second NIC of the profile's model on a tap device QEMU makes in its own (the host's)
/// network namespace; [`crate::lab::Lab::attach`] then moves the tap onto the lab's bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentNic {
    /// The tap's name (at most 15 bytes).
    pub tap: String,
    pub mac: String,
}

impl Plan {
    pub fn firmware(&self) -> Firmware {
        match self.profile {
            Profile::Box => Firmware::Uefi,
            _ => self.firmware,
        }
    }

    /// QEMU's arguments (without the binary name).
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        let mut push =
            |items: &[&str]| a.extend(items.iter().map(std::string::ToString::to_string));
        let machine = match self.profile {
            Profile::Box | Profile::Virtio => "q35",
            Profile::Vm => "pc",
        };
        // -nographic also tells SeaBIOS to print on the serial port.
        push(&[
            "-M",
            machine,
            "-m",
            "1024",
            "-smp",
            "1",
            "-accel",
            "tcg",
            "-nographic",
        ]);
        push(&["-monitor", "none"]);
        match &self.serial_socket {
            None => push(&["-serial", &format!("file:{}", self.serial_file.display())]),
            Some(socket) => push(&[
                "-chardev",
                &format!(
                    "socket,id=serial0,path={},server=on,wait=on",
                    socket.display()
                ),
                "-serial",
                "chardev:serial0",
            ]),
        }
        push(&[
            "-qmp",
            &format!("unix:{},server=on,wait=off", self.qmp_socket.display()),
        ]);
        if self.no_reboot {
            push(&["-no-reboot"]);
        }
        if let Some(base) = &self.rtc_base {
            push(&["-rtc", &format!("base={base}")]);
        }
        if self.firmware() == Firmware::Uefi {
            push(&[
                "-drive",
                &format!("if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}"),
            ]);
            if let Some(vars) = &self.ovmf_vars {
                push(&[
                    "-drive",
                    &format!("if=pflash,format=raw,unit=1,file={}", vars.display()),
                ]);
            }
            push(&[
                "-fw_cfg",
                "name=opt/org.tianocore/X-Cpuhp-Bugcheck-Override,string=yes",
            ]);
        }
        if let Some(disk) = &self.disk {
            // detect-zeroes: blocks the guest writes as zeroes (a factory reset's wipe on a
            // SATA disk writes every one of 8 GiB) become qcow2 zero clusters instead of
            // data in the host's file; the guest sees the same disk and reads the same.
            push(&[
                "-drive",
                &format!(
                    "if=none,id=disk0,format=qcow2,detect-zeroes=on,file={}",
                    disk.display()
                ),
            ]);
            match self.profile {
                Profile::Box => push(&["-device", "ide-hd,drive=disk0,bus=ide.0,bootindex=0"]),
                // Debian's OVMF has no PVSCSI driver and cannot boot from it (VMware's own
                // EFI firmware can): under OVMF the VMware VM gets a SATA disk, as in qemu/run.
                Profile::Vm if self.firmware() == Firmware::Uefi => push(&[
                    "-device",
                    "ahci,id=sata0",
                    "-device",
                    "ide-hd,drive=disk0,bus=sata0.0,bootindex=0",
                ]),
                Profile::Vm => push(&[
                    "-device",
                    "pvscsi,id=scsi0",
                    "-device",
                    "scsi-hd,drive=disk0,bus=scsi0.0,bootindex=0",
                ]),
                Profile::Virtio => push(&["-device", "virtio-blk-pci,drive=disk0,bootindex=0"]),
            }
        }
        let nic = self.profile.nic();
        push(&[
            "-netdev",
            &format!(
                "user,id=net0,hostfwd=tcp:127.0.0.1:{}-:443,hostfwd=tcp:127.0.0.1:{}-:80",
                self.https_port, self.http_port
            ),
            "-device",
            &match &self.mac {
                Some(mac) => format!("{nic},netdev=net0,mac={mac}"),
                None => format!("{nic},netdev=net0"),
            },
        ]);
        if let Some(segment) = &self.segment {
            push(&[
                "-netdev",
                &format!("tap,id=net1,ifname={},script=no,downscript=no", segment.tap),
                "-device",
                &format!("{nic},netdev=net1,mac={}", segment.mac),
            ]);
        }
        push(&["-device", "i6300esb", "-action", "watchdog=reset"]);
        a
    }
}

/// Paths the plan refers to that must exist before QEMU starts.
pub fn firmware_files() -> [&'static Path; 2] {
    [Path::new(OVMF_CODE), Path::new(OVMF_VARS)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(profile: Profile, firmware: Firmware) -> Plan {
        Plan {
            profile,
            firmware,
            disk: Some("/w/disk.qcow2".into()),
            ovmf_vars: Some("/w/vars.fd".into()),
            https_port: 40443,
            http_port: 40080,
            qmp_socket: "/w/qmp.sock".into(),
            serial_file: "/w/console.log".into(),
            serial_socket: None,
            no_reboot: false,
            rtc_base: None,
            mac: None,
            segment: None,
        }
    }

    #[test]
    fn box_is_q35_uefi_ahci_e1000e_even_when_bios_is_asked() {
        let args = plan(Profile::Box, Firmware::Bios).args().join(" ");
        assert!(args.contains("-M q35"));
        assert!(args.contains("OVMF_CODE_4M.fd"));
        assert!(args.contains("X-Cpuhp-Bugcheck-Override"));
        assert!(args.contains("ide-hd,drive=disk0,bus=ide.0"));
        assert!(args.contains("e1000e,netdev=net0"));
        assert!(args.contains("i6300esb"));
        assert!(args.contains("hostfwd=tcp:127.0.0.1:40443-:443"));
    }

    #[test]
    fn vm_is_vmware_hardware_on_seabios_or_ovmf() {
        let bios = plan(Profile::Vm, Firmware::Bios).args().join(" ");
        assert!(bios.contains("-M pc") && bios.contains("pvscsi") && bios.contains("vmxnet3"));
        assert!(!bios.contains("pflash"));
        let uefi = plan(Profile::Vm, Firmware::Uefi).args().join(" ");
        assert!(uefi.contains("pflash") && uefi.contains("/w/vars.fd"));
        assert!(uefi.contains("ahci,id=sata0") && uefi.contains("vmxnet3"));
        let virtio = plan(Profile::Virtio, Firmware::Bios).args().join(" ");
        assert!(virtio.contains("virtio-blk-pci") && virtio.contains("virtio-net-pci"));
        let other_nic = Plan {
            mac: Some("52:54:00:0a:0b:0c".into()),
            ..plan(Profile::Vm, Firmware::Bios)
        };
        assert!(other_nic
            .args()
            .join(" ")
            .contains("vmxnet3,netdev=net0,mac=52:54:00:0a:0b:0c"));
    }

    #[test]
    fn a_segment_nic_is_a_second_nic_of_the_same_model_on_a_tap() {
        let args = Plan {
            segment: Some(SegmentNic {
                tap: "lt1a".into(),
                mac: "52:54:00:77:00:0a".into(),
            }),
            ..plan(Profile::Box, Firmware::Uefi)
        }
        .args()
        .join(" ");
        assert!(args.contains("e1000e,netdev=net0 "), "{args}");
        assert!(args.contains("-netdev tap,id=net1,ifname=lt1a,script=no,downscript=no"));
        assert!(args.contains("e1000e,netdev=net1,mac=52:54:00:77:00:0a"));
        assert!(!plan(Profile::Box, Firmware::Uefi)
            .args()
            .join(" ")
            .contains("net1"));
    }
}
