//! `courier hub --config FILE`: the hub's options from a TOML file, under the command line's.
//!
//! The keys are the long flags of `courier hub`, in kebab-case as typed (`offline-days = 30`,
//! `no-relay = true`, `listen = "0.0.0.0:8977"`). A flag given on the command line, or through
//! its environment variable, wins over the file. Each value goes through the flag's own clap
//! parser, so the file accepts exactly what the flag accepts, and a new flag is a new key with
//! no code here beyond its row in [`KEYS`] (a test fails until it has one).

use std::ffi::OsString;
use std::path::Path;

use anyhow::{Result, anyhow};
use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, Args, Command, FromArgMatches};

use crate::args::HubArgs;

/// What a key takes: the TOML type it must have, and how its error says so.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// `true` or `false`: a flag without a value (`true` is the flag given).
    Switch,
    /// A whole number from the first bound to the second (none: the type's largest).
    Number(u64, Option<u64>),
    /// A TOML string, described for the error.
    Text(&'static str),
}

/// One row per `courier hub` option (its long flag). The bounds are clap's own: a test checks
/// each against the flag's parser.
const KEYS: &[(&str, Kind)] = &[
    (
        "listen",
        Kind::Text("an address in quotes, such as \"0.0.0.0:8977\""),
    ),
    ("data-dir", Kind::Text("a folder in quotes")),
    ("password-file", Kind::Text("a file name in quotes")),
    ("json", Kind::Switch),
    ("no-relay", Kind::Switch),
    ("offline-messages", Kind::Number(0, None)),
    ("offline-offers", Kind::Number(0, None)),
    ("name", Kind::Text("a name in quotes")),
    ("no-advertise", Kind::Switch),
    ("offline-days", Kind::Number(1, Some(3650))),
    ("message-rate", Kind::Number(1, None)),
    ("group-members", Kind::Number(2, None)),
    ("groups-per-member", Kind::Number(1, None)),
    ("groups-created", Kind::Number(1, None)),
    (
        "metrics",
        Kind::Text("an address in quotes, such as \"127.0.0.1:9977\""),
    ),
];

/// The flags that are not options of a running hub, so have no key.
const NOT_KEYS: &[&str] = &["config"];

/// One-shot flags: they act at the start they are given to. In the file they would act at
/// every start (the service restarts on failure), so the file refuses them by name.
const ONCE: &[&str] = &["reset-password", "keep-members"];

impl Kind {
    fn expected(self) -> String {
        match self {
            Self::Switch => "true or false".to_owned(),
            Self::Number(min, Some(max)) => format!("a number from {min} to {max}"),
            Self::Number(min, None) => format!("a whole number of at least {min}"),
            Self::Text(what) => what.to_owned(),
        }
    }
}

/// `courier hub`'s own arguments, as a command of their own (what the file is checked
/// against and merged with).
fn hub_command() -> Command {
    HubArgs::augment_args(Command::new("hub"))
}

/// `args` with the options of its `--config` file (if any) under those given on the command
/// line or in the environment. `matches` are the whole command line's.
///
/// # Errors
/// One line naming the file (and the key): the file cannot be read, is not TOML, has a key
/// that is no option, or a value the option refuses.
pub(crate) fn apply(args: HubArgs, matches: &ArgMatches) -> Result<HubArgs> {
    let (Some(path), Some(given)) = (args.config.clone(), matches.subcommand_matches("hub")) else {
        return Ok(args);
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_owned(),
            std::io::ErrorKind::PermissionDenied => "not allowed to read it".to_owned(),
            _ => e.to_string(),
        };
        anyhow!("{}: {why}", path.display())
    })?;
    merge(&text, &path, given).map_err(|e| anyhow!("{}: {e}", path.display()))
}

/// The options of `text` (the file at `path`) merged under `given` (the `hub` subcommand's
/// matches). Errors are one line, without the file's name.
fn merge(text: &str, path: &Path, given: &ArgMatches) -> Result<HubArgs, String> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let line = e
            .span()
            .and_then(|s| text.get(..s.start))
            .map_or(1, |before| before.matches('\n').count() + 1);
        format!("line {line}: {}", one_line(e.message()))
    })?;
    let cmd = hub_command();
    let mut argv: Vec<OsString> = vec!["hub".into(), "--config".into(), path.into()];
    for (key, value) in &table {
        if ONCE.contains(&key.as_str()) {
            return Err(format!(
                "key {key:?} is for the command line only (it acts once)"
            ));
        }
        let arg = cmd
            .get_arguments()
            .find(|a| a.get_long() == Some(key.as_str()) && !NOT_KEYS.contains(&key.as_str()))
            .filter(|a| matches!(a.get_action(), ArgAction::Set | ArgAction::SetTrue))
            .ok_or_else(|| format!("unknown key {key:?}"))?;
        let kind = KEYS
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, kind)| *kind)
            .ok_or_else(|| format!("unknown key {key:?}"))?;
        let bad = || format!("key {key:?}: expected {}", kind.expected());
        let tokens: Vec<OsString> = match (kind, value) {
            (Kind::Switch, toml::Value::Boolean(true)) => vec![format!("--{key}").into()],
            (Kind::Switch, toml::Value::Boolean(false)) => vec![],
            // `--key=VALUE`, one word: a value that starts with '-' stays a value.
            (Kind::Number(..), toml::Value::Integer(n)) => vec![format!("--{key}={n}").into()],
            (Kind::Text(_), toml::Value::String(s)) => vec![format!("--{key}={s}").into()],
            _ => return Err(bad()),
        };
        // The flag's own parser says whether the value is good (its other rules, such as
        // what it needs beside it, are checked on the whole below).
        if let Err(e) = cmd
            .clone()
            .try_get_matches_from(std::iter::once(OsString::from("hub")).chain(tokens.clone()))
            && matches!(
                e.kind(),
                clap::error::ErrorKind::ValueValidation
                    | clap::error::ErrorKind::InvalidValue
                    | clap::error::ErrorKind::InvalidUtf8
            )
        {
            return Err(bad());
        }
        if !was_given(given, arg.get_id().as_str()) {
            argv.extend(tokens);
        }
    }
    for arg in cmd.get_arguments() {
        let id = arg.get_id().as_str();
        let Some(long) = arg.get_long() else { continue };
        if NOT_KEYS.contains(&long) || !was_given(given, id) {
            continue;
        }
        match arg.get_action() {
            ArgAction::SetTrue if given.get_flag(id) => argv.push(format!("--{long}").into()),
            ArgAction::Set | ArgAction::Append => {
                for raw in given.get_raw(id).into_iter().flatten() {
                    let mut word = OsString::from(format!("--{long}="));
                    word.push(raw);
                    argv.push(word);
                }
            }
            _ => {}
        }
    }
    let merged = cmd.try_get_matches_from(argv).map_err(clap_line)?;
    HubArgs::from_arg_matches(&merged).map_err(clap_line)
}

/// Whether the command line gave `id` (a flag, or its environment variable).
fn was_given(given: &ArgMatches, id: &str) -> bool {
    matches!(
        given.value_source(id),
        Some(ValueSource::CommandLine | ValueSource::EnvVariable)
    )
}

/// A clap error (what the file and the command line give together breaks a rule) in one
/// line, without the usage.
fn clap_line(e: clap::Error) -> String {
    let text = e.render().to_string();
    let head: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
        .collect();
    one_line(head.join(" ").trim_start_matches("error: "))
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests;
