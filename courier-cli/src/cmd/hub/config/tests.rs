use std::path::Path;

use clap::{ArgAction, CommandFactory, FromArgMatches};

use super::{KEYS, Kind, NOT_KEYS, ONCE, hub_command, merge};
use crate::args::{Cli, Command, HubArgs};

/// `courier ARGS` parsed as the program parses it: the hub's arguments and its matches.
fn parse(args: &[&str]) -> (HubArgs, clap::ArgMatches) {
    let matches = Cli::command()
        .try_get_matches_from(std::iter::once("courier").chain(args.iter().copied()))
        .unwrap();
    let Command::Hub(hub) = Cli::from_arg_matches(&matches).unwrap().command else {
        unreachable!("`courier hub …` is the hub command: {args:?}");
    };
    let given = matches.subcommand_matches("hub").unwrap().clone();
    (hub, given)
}

/// What `courier hub FLAGS` runs with, as text (the arguments have no `PartialEq`).
fn flags(args: &[&str]) -> String {
    let mut all = vec!["hub"];
    all.extend_from_slice(args);
    format!("{:?}", parse(&all).0)
}

/// What `courier hub --config FILE FLAGS` runs with, `FILE` holding `text`, as [`flags`]
/// shows it (without the `--config` itself).
fn with_file(text: &str, args: &[&str]) -> Result<String, String> {
    let mut all = vec!["hub", "--config", "hub.toml"];
    all.extend_from_slice(args);
    let (_, given) = parse(&all);
    let mut merged = merge(text, Path::new("hub.toml"), &given)?;
    merged.config = None;
    Ok(format!("{merged:?}"))
}

/// The hub's options that have a long flag (what the file must hold).
fn options() -> Vec<clap::Arg> {
    hub_command()
        .get_arguments()
        .filter(|a| !matches!(a.get_action(), ArgAction::Help | ArgAction::Version))
        .filter(|a| {
            a.get_long()
                .is_some_and(|l| !NOT_KEYS.contains(&l) && !ONCE.contains(&l))
        })
        .cloned()
        .collect()
}

#[test]
fn every_hub_flag_is_a_key_of_the_file() {
    // Fails when someone adds a `courier hub` flag and forgets the file.
    let keys: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
    let flags: Vec<String> = options()
        .iter()
        .filter_map(|a| a.get_long().map(str::to_owned))
        .collect();
    for flag in &flags {
        assert!(keys.contains(&flag.as_str()), "--{flag} has no row in KEYS");
    }
    for key in &keys {
        assert!(flags.iter().any(|f| f == key), "KEYS has {key:?}, no flag");
    }
    assert!(flags.len() >= 14, "{flags:?}");
    // The one-shot flags are flags (refused in the file by name, not as unknown keys).
    for once in ONCE {
        assert!(
            hub_command()
                .get_arguments()
                .any(|a| a.get_long() == Some(once)),
            "{once}"
        );
    }
}

#[test]
fn each_number_key_has_the_bounds_of_its_flag() {
    let accepts = |key: &str, n: u64| {
        hub_command()
            .try_get_matches_from(["hub", &format!("--{key}"), &n.to_string()])
            .is_ok()
    };
    for (key, kind) in KEYS {
        let Kind::Number(min, max) = *kind else {
            continue;
        };
        assert!(accepts(key, min), "--{key} {min}");
        if min > 0 {
            assert!(!accepts(key, min - 1), "--{key} {}", min - 1);
        }
        if let Some(max) = max {
            assert!(accepts(key, max), "--{key} {max}");
            assert!(!accepts(key, max + 1), "--{key} {}", max + 1);
        }
    }
}

/// A value for `key` that is not its default, as a flag's arguments and as TOML.
fn sample(arg: &clap::Arg, kind: Kind) -> (Vec<String>, String) {
    let key = arg.get_long().unwrap();
    let default = arg
        .get_default_values()
        .first()
        .map(|v| v.to_string_lossy().into_owned());
    match kind {
        Kind::Switch => (vec![format!("--{key}")], "true".to_owned()),
        Kind::Number(min, _) => {
            let n = if default == Some(min.to_string()) {
                min + 1
            } else {
                min
            };
            (vec![format!("--{key}"), n.to_string()], n.to_string())
        }
        Kind::Text(_) => {
            let s = format!("127.0.0.1:{}", 1000 + key.len());
            (vec![format!("--{key}"), s.clone()], format!("{s:?}"))
        }
    }
}

#[test]
fn each_key_in_the_file_gives_what_its_flag_gives() {
    let defaults = flags(&[]);
    for arg in options() {
        let key = arg.get_long().unwrap();
        let kind = KEYS.iter().find(|(k, _)| *k == key).unwrap().1;
        let (args, value) = sample(&arg, kind);
        let text = format!("{key} = {value}\n");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let from_flags = flags(&args);
        assert_ne!(from_flags, defaults, "--{key} changes nothing");
        assert_eq!(with_file(&text, &[]).unwrap(), from_flags, "{key}");
    }
}

#[test]
fn every_key_at_once_gives_what_every_flag_gives() {
    let mut args = Vec::new();
    let mut text = String::new();
    for arg in options() {
        let key = arg.get_long().unwrap();
        let kind = KEYS.iter().find(|(k, _)| *k == key).unwrap().1;
        let (a, value) = sample(&arg, kind);
        args.extend(a);
        text.push_str(&format!("{key} = {value}\n"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(with_file(&text, &[]).unwrap(), flags(&args));
}

#[test]
fn a_flag_on_the_command_line_wins_over_the_file() {
    let text = "offline-days = 7\nlisten = \"127.0.0.1:9\"\nno-relay = true\n";
    assert_eq!(
        with_file(text, &["--offline-days", "9"]).unwrap(),
        flags(&[
            "--offline-days",
            "9",
            "--listen",
            "127.0.0.1:9",
            "--no-relay"
        ])
    );
    // A switch left off on the command line is not "given": the file's stands.
    assert_eq!(
        with_file("no-advertise = true\n", &["--json"]).unwrap(),
        flags(&["--no-advertise", "--json"])
    );
}

#[test]
fn a_key_that_is_no_option_is_named() {
    for key in ["offline_dayz", "config", "help", "hub", "verbose"] {
        assert_eq!(
            with_file(&format!("{key} = 30\n"), &[]).unwrap_err(),
            format!("unknown key {key:?}")
        );
    }
    assert_eq!(
        with_file("[hub]\nlisten = \"0.0.0.0:1\"\n", &[]).unwrap_err(),
        "unknown key \"hub\""
    );
}

#[test]
fn a_bad_value_names_the_key_and_what_it_takes() {
    let cases = [
        (
            "offline-days = 0",
            "key \"offline-days\": expected a number from 1 to 3650",
        ),
        (
            "offline-days = 3651",
            "key \"offline-days\": expected a number from 1 to 3650",
        ),
        (
            "offline-days = \"30\"",
            "key \"offline-days\": expected a number from 1 to 3650",
        ),
        (
            "offline-days = 2.5",
            "key \"offline-days\": expected a number from 1 to 3650",
        ),
        (
            "group-members = 1",
            "key \"group-members\": expected a whole number of at least 2",
        ),
        (
            "offline-messages = -1",
            "key \"offline-messages\": expected a whole number of at least 0",
        ),
        ("no-relay = 1", "key \"no-relay\": expected true or false"),
        (
            "no-relay = \"yes\"",
            "key \"no-relay\": expected true or false",
        ),
        (
            "listen = 8977",
            "key \"listen\": expected an address in quotes, such as \"0.0.0.0:8977\"",
        ),
    ];
    for (text, error) in cases {
        assert_eq!(with_file(text, &[]).unwrap_err(), error, "{text}");
    }
    // Checked even when the command line gives that flag too: the file is wrong.
    assert_eq!(
        with_file("offline-days = 0", &["--offline-days", "3"]).unwrap_err(),
        "key \"offline-days\": expected a number from 1 to 3650"
    );
}

/// Under the service (Restart=on-failure) a one-shot option kept in the file would act at
/// every start: reset the password and forget every device each time. So the file refuses
/// them, even set to false (a line that would act once uncommented).
#[test]
fn one_shot_options_are_refused_in_the_file() {
    for key in ["reset-password", "keep-members"] {
        for value in ["true", "false"] {
            assert_eq!(
                with_file(&format!("{key} = {value}\n"), &["--reset-password"]).unwrap_err(),
                format!("key {key:?} is for the command line only (it acts once)")
            );
        }
    }
    // On the command line they still act, and their rule still holds there.
    assert!(flags(&["--reset-password", "--keep-members"]).contains("keep_members: true"));
    let rule =
        crate::args::Cli::command().try_get_matches_from(["courier", "hub", "--keep-members"]);
    assert!(rule.is_err());
}

#[test]
fn a_file_that_is_not_toml_says_where() {
    let e = with_file("listen = \"0.0.0.0:1\"\noffline-days = = 3\n", &[]).unwrap_err();
    assert!(e.starts_with("line 2: ") && !e.contains('\n'), "{e}");
}

/// `packaging/hub.toml`, installed as `/etc/courier/hub.toml`.
const PACKAGED: &str = include_str!("../../../../../packaging/hub.toml");

#[test]
fn the_packaged_file_shows_every_key_with_its_default() {
    let line = |key: &str| {
        PACKAGED
            .lines()
            .find_map(|l| l.strip_prefix(&format!("# {key} = ")))
    };
    for arg in options() {
        let key = arg.get_long().unwrap();
        let kind = KEYS.iter().find(|(k, _)| *k == key).unwrap().1;
        let shown = line(key);
        assert!(
            shown.is_some(),
            "packaging/hub.toml has no \"# {key} = …\" line"
        );
        let shown = shown.unwrap();
        let Some(default) = arg.get_default_values().first() else {
            continue;
        };
        let default = default.to_string_lossy();
        let want = match kind {
            Kind::Text(_) => format!("{default:?}"),
            Kind::Switch | Kind::Number(..) => default.into_owned(),
        };
        assert_eq!(shown, want, "the default of {key}");
    }
    // As shipped, every line commented, it changes nothing.
    assert_eq!(with_file(PACKAGED, &[]).unwrap(), flags(&[]));
    // Uncommented, every example is a good value.
    let open: String = PACKAGED
        .lines()
        .filter_map(|l| l.strip_prefix("# "))
        .filter(|l| KEYS.iter().any(|(k, _)| l.starts_with(&format!("{k} = "))))
        .map(|l| format!("{l}\n"))
        .collect();
    with_file(&open, &[]).unwrap();
}
