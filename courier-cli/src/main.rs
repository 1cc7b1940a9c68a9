//! The `courier` command: a thin front end over courier-core.

mod args;
mod client;
mod cmd;
mod log;
mod output;
mod password;
mod progress;

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

/// Writes to stdout; a closed pipe (`courier listen | head`) ends the program quietly.
pub(crate) fn print(s: &str) {
    let mut out = std::io::stdout().lock();
    if out
        .write_all(s.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        std::process::exit(0);
    }
}

fn main() -> ExitCode {
    let matches = args::Cli::command().get_matches();
    let cli = args::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let default = match (&cli.command, cli.verbose) {
        (_, 2..) => "debug",
        (args::Command::Hub(_), _) | (_, 1) => "info",
        _ => "warn",
    };
    log::init(default);
    let result = smol::block_on(async {
        match cli.command {
            args::Command::Hub(a) => cmd::hub::run(cmd::hub::config::apply(a, &matches)?).await,
            args::Command::Who(a) => cmd::who::run(a).await,
            args::Command::Say(a) => cmd::say::run(a).await,
            args::Command::Verify(a) => cmd::verify::run(a).await,
            args::Command::Listen(a) => cmd::listen::run(a).await,
            args::Command::Chat(a) => cmd::chat::run(a).await,
            args::Command::Group(a) => cmd::group::run(a).await,
            args::Command::Groups(a) => cmd::group::list(a).await,
            args::Command::Send(a) => cmd::send::run(a).await,
            args::Command::Receive(a) => cmd::receive::run(a).await,
            args::Command::History(a) => cmd::history::run(&a),
            args::Command::Hubs(a) => cmd::hubs::run(&a).await,
            args::Command::Doctor(a) => cmd::doctor::run(&a).await,
            args::Command::Completions(a) => cmd::docs::completions(&a),
            args::Command::Man(a) => cmd::docs::man(&a),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("courier: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
