//! Entry point: parse the command line, set up logging, run the daemon.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some(appliance_daemon::net_only::FLAG) {
        return net_only(args.skip(1));
    }
    let config = match appliance_daemon::config::Config::from_args(args) {
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
    let dev = config.mode == appliance_daemon::config::Mode::Dev;
    let dev_log = dev.then(|| config.state_dir.join(appliance_daemon::logs::DIR));
    appliance_daemon::logging::init_with_log(dev, dev_log.as_deref());
    // On the appliance: the privileged part stays in here, the service goes on.
    let config = match appliance_daemon::privileged::split(config) {
        Ok(config) => config,
        Err(err) => {
            tracing::error!("{err:#}");
            return ExitCode::FAILURE;
        }
    };
    match appliance_daemon::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The hidden `--net-only` mode (see `net::oneshot`).
fn net_only(args: impl Iterator<Item = String>) -> ExitCode {
    use appliance_daemon::net_only as oneshot;
    let args = match oneshot::Args::parse(args) {
        Ok(a) => a,
        Err(err) => {
            eprintln!("appliance-daemon: {err}\n\n{}", oneshot::USAGE);
            return ExitCode::from(2);
        }
    };
    appliance_daemon::logging::init(false);
    match oneshot::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            ExitCode::FAILURE
        }
    }
}
