//! Entry point: parse the command line, set up logging, run the daemon.

use std::process::ExitCode;

fn main() -> ExitCode {
    let config = match appliance_daemon::config::Config::from_args(std::env::args().skip(1)) {
        Ok(appliance_daemon::config::Parsed::Run(config)) => config,
        Ok(appliance_daemon::config::Parsed::Help) => {
            print!("{}", appliance_daemon::config::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!(
                "appliance-daemon: {err}\n\n{}",
                appliance_daemon::config::USAGE
            );
            return ExitCode::from(2);
        }
    };
    appliance_daemon::logging::init(config.mode == appliance_daemon::config::Mode::Dev);
    match appliance_daemon::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            ExitCode::FAILURE
        }
    }
}
