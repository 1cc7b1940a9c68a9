//! Issue 26, what the Debian package installs for an admin: `courier completions SHELL`
//! writes a script for each shell that names the subcommands (bash's is loaded into a
//! real bash), the man pages (`courier man --out DIR`, plus the app's page written by
//! hand) all render with `man -l`, and the firewall profiles open the port the hub
//! listens on by default.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use courier_testkit::process::on_path;
use courier_testkit::{TempDir, not_run};

const BIN: &str = env!("CARGO_BIN_EXE_courier");

/// Every visible subcommand, and a nested one.
const SUBCOMMANDS: &[&str] = &[
    "hub",
    "who",
    "say",
    "verify",
    "listen",
    "chat",
    "group",
    "groups",
    "send",
    "receive",
    "history",
    "hubs",
    "doctor",
    "completions",
    "backup",
    "members",
];

fn completions(shell: &str) -> String {
    let out = Command::new(BIN)
        .args(["completions", shell])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{shell}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn each_shells_completion_script_names_every_subcommand() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let script = completions(shell);
        for sub in SUBCOMMANDS {
            assert!(script.contains(sub), "{shell}'s script lacks {sub}");
        }
    }
    let bad = Command::new(BIN)
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(
        bad.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

#[test]
fn the_bash_completion_loads_into_bash_and_completes_subcommands() {
    if !on_path("bash") {
        return not_run("bash completion", "bash is not installed");
    }
    let dir = TempDir::new("bash-completion");
    let file = dir.join("courier");
    std::fs::write(&file, completions("bash")).unwrap();
    // As bash-completion does: the function is registered for `courier`, and asked for
    // the words after `courier hub b` it offers `backup`.
    let script = format!(
        "source {}; complete -p courier; COMP_WORDS=(courier hub b); COMP_CWORD=2; \
         COMP_LINE='courier hub b'; COMP_POINT=${{#COMP_LINE}}; _courier courier b hub; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        file.display()
    );
    let out = Command::new("bash")
        .args(["--norc", "-c", &script])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("-F _courier courier"), "{said}");
    assert!(said.lines().any(|l| l == "backup"), "{said}");
}

/// The pages `courier man --out DIR` writes.
fn generated(dir: &Path) -> Vec<PathBuf> {
    let out = Command::new(BIN)
        .args(["man", "--out"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let mut pages: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    pages.sort();
    pages
}

#[test]
fn man_pages_exist_for_courier_and_each_subcommand_nested_ones_included() {
    let dir = TempDir::new("man-pages");
    let names: Vec<String> = generated(dir.path())
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for page in [
        "courier.1",
        "courier-hub.1",
        "courier-hub-backup.1",
        "courier-hub-groups-remove.1",
        "courier-send.1",
        "courier-receive.1",
        "courier-group-create.1",
        "courier-completions.1",
    ] {
        assert!(names.iter().any(|n| n == page), "{page} missing: {names:?}");
    }
    assert!(
        !names.iter().any(|n| n.starts_with("courier-man")),
        "the hidden generator has no page"
    );
}

/// Renders `page` as `man -l` does for a reader, and returns the text.
fn render(page: &Path) -> String {
    let out = Command::new("man")
        .arg("-l")
        .arg(page)
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MANWIDTH", "80")
        .env("LC_ALL", "C.UTF-8")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "{}: {stderr}",
        page.display()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn every_man_page_renders_with_man() {
    if !on_path("man") || !on_path("groff") {
        return not_run("man pages render", "man (man-db) or groff is not installed");
    }
    let dir = TempDir::new("man-render");
    let pages = generated(dir.path());
    for page in &pages {
        let name = page.file_stem().unwrap().to_string_lossy().into_owned();
        let text = render(page);
        assert!(text.contains("NAME"), "{name}: {text}");
        assert!(text.contains(&name), "{name}: {text}");
    }
    let backup = render(&dir.join("courier-hub-backup.1"));
    assert!(backup.contains("--data-dir"), "{backup}");

    let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/man/courier-app.1");
    let text = render(&app);

    for needed in ["courier-app", "COURIER_APP_DIR", "SEE ALSO", "courier(1)"] {
        assert!(
            text.contains(needed),
            "the app's page lacks {needed}: {text}"
        );
    }
}

/// The repository's `packaging/` folder.
fn packaging(path: &str) -> String {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../packaging")
        .join(path);
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

#[test]
fn the_firewall_profiles_open_the_hubs_default_port_and_mdns() {
    let help = Command::new(BIN).args(["hub", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("[default: 0.0.0.0:8977]"), "{help}");

    let ufw = packaging("ufw/courier");
    let section: Vec<&str> = ufw
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    assert_eq!(section.first(), Some(&"[Courier]"), "{ufw}");
    assert!(section.contains(&"ports=8977/tcp|5353/udp"), "{ufw}");
    for key in ["title=", "description="] {
        assert!(section.iter().any(|l| l.starts_with(key)), "{key}: {ufw}");
    }

    let firewalld = packaging("firewalld/courier.xml");
    assert!(firewalld.contains(r#"<port protocol="tcp" port="8977"/>"#));
    assert!(firewalld.contains(r#"<port protocol="udp" port="5353"/>"#));
    assert!(firewalld.contains("<short>Courier</short>"));
    // Well-formed XML: a comment may not hold "--" (firewalld would refuse the file).
    for comment in firewalld.split("<!--").skip(1) {
        let body = comment.split("-->").next().unwrap();
        assert!(!body.contains("--"), "{body}");
    }
}
