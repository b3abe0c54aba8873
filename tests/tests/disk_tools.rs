//! The disk helpers against a small GPT image made here (ESP with a grubenv, ext4 data),
//! so grubenv editing and the filesystem-state check are proven without a built image.

use appliance_tests::disk;
use appliance_tests::workdir::WorkDir;
use std::path::Path;
use std::process::Command;

fn sh(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const MIB: u64 = 1 << 20;

/// GPT: ESP (64 MiB FAT32 holding EFI/BOOT/grubenv) at 1 MiB, data (16 MiB ext4) after it.
fn make_disk(dir: &Path) -> std::path::PathBuf {
    let img = dir.join("disk.img");
    sh(Command::new("truncate").args(["-s", "90M"]).arg(&img));
    let mut sfdisk = Command::new("sfdisk");
    sfdisk
        .arg("-q")
        .arg(&img)
        .stdin(std::process::Stdio::piped());
    let mut child = sfdisk.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"label: gpt\nstart=2048, size=131072, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=\"ESP\"\nstart=133120, size=32768, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=\"data\"\n")
        .unwrap();
    assert!(child.wait().unwrap().success());

    let esp = dir.join("esp.img");
    sh(Command::new("truncate").args(["-s", "64M"]).arg(&esp));
    sh(Command::new("mkfs.vfat")
        .args(["-F", "32", "-n", "ESP"])
        .arg(&esp));
    sh(Command::new("mmd")
        .arg("-i")
        .arg(&esp)
        .args(["::EFI", "::EFI/BOOT"]));
    let env = dir.join("grubenv");
    std::fs::write(
        &env,
        grubenv::BootState::factory().env().to_block().unwrap(),
    )
    .unwrap();
    sh(Command::new("mcopy")
        .arg("-i")
        .arg(&esp)
        .arg(&env)
        .arg(disk::GRUBENV));

    let data = dir.join("data.img");
    sh(Command::new("mkfs.ext4")
        .args(["-q", "-L", "data"])
        .arg(&data)
        .arg("16M"));
    for (part, seek) in [(&esp, 1), (&data, 65)] {
        sh(Command::new("dd")
            .arg(format!("if={}", part.display()))
            .arg(format!("of={}", img.display()))
            .args(["bs=1M", "conv=notrunc,sparse", "status=none"])
            .arg(format!("seek={seek}")));
    }
    img
}

#[test]
fn grubenv_and_filesystem_state_inside_a_disk_image() {
    let work = WorkDir::new("disk-tools").unwrap();
    let img = make_disk(work.path());

    let parts = disk::partitions(&img).unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(disk::partition(&img, "data").unwrap().offset, 65 * MIB);

    assert_eq!(disk::read_grubenv(&img).unwrap().get("ORDER"), Some("A B"));
    disk::set_extra_cmdline(&img, "panic=0 sysrq_always_enabled").unwrap();
    let env = disk::read_grubenv(&img).unwrap();
    assert_eq!(
        env.get("EXTRA_CMDLINE"),
        Some("panic=0 sysrq_always_enabled")
    );
    assert_eq!(env.get("A_OK"), Some("1"));

    let header = disk::ext4_header(&img, "data").unwrap();
    assert_eq!(disk::filesystem_state(&header), Some("clean"), "{header}");

    // A filesystem left mounted (state bit cleared) is reported as such.
    let data = work.path().join("data.img");
    sh(Command::new("debugfs")
        .args(["-w", "-R", "ssv state 0"])
        .arg(&data));
    sh(Command::new("dd")
        .arg(format!("if={}", data.display()))
        .arg(format!("of={}", img.display()))
        .args(["bs=1M", "seek=65", "conv=notrunc", "status=none"]));
    let header = disk::ext4_header(&img, "data").unwrap();
    assert_eq!(
        disk::filesystem_state(&header),
        Some("not clean"),
        "{header}"
    );

    // Through an overlay and back to raw, as the power-off scenario does.
    let overlay = work.path().join("o.qcow2");
    disk::create_overlay(&img, &overlay).unwrap();
    let raw = work.path().join("back.img");
    disk::raw_copy(&overlay, &raw).unwrap();
    assert_eq!(
        disk::read_grubenv(&raw).unwrap().get("EXTRA_CMDLINE"),
        Some("panic=0 sysrq_always_enabled")
    );
}
