//! Stage 1, PID 1 in the initramfs.

pub fn run() -> ! {
    crate::log!("stage1 start");
    crate::power::finish(crate::power::Action::Reboot)
}
