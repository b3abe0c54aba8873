//! Entry point: pick the stage, make sure a panic ends in sync + reboot, never exit.

use init::args::{self, Stage};
use init::log;
use init::power::{self, Action};

fn main() {
    std::panic::set_hook(Box::new(|info| {
        log!("PANIC: {info}");
    }));
    let argv: Vec<String> = std::env::args().collect();
    let opts = args::parse(&argv);
    let outcome = std::panic::catch_unwind(|| match opts.stage {
        Stage::One => init::stage1::run(),
        Stage::Two => {
            if !opts.ignored.is_empty() {
                log!("ignoring arguments {:?}", opts.ignored);
            }
            init::stage2::run(&opts)
        }
    });
    // Both stages end in exec or reboot; only a panic gets here.
    let _ = outcome;
    init::say!("fatal error in init; syncing and rebooting");
    power::finish(Action::Reboot);
}
