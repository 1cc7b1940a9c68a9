//! The firewall advice of the doctor's findings: when a port is found blocked, the
//! command that opens it with the firewall profiles Courier's package installs (`Courier`
//! for ufw, `courier` for firewalld: the hub's TCP port 8977 and mDNS on UDP 5353).
//!
//! For this computer (a hub here, discovery, the transfer port) a tool is named only
//! where it is installed; this computer cannot see what the hub's computer runs, so
//! advice for a hub elsewhere names each tool for where it is in use.

use std::net::SocketAddr;
use std::path::Path;

/// The port the firewall profiles open for the hub.
const HUB_PORT: u16 = 8977;

/// The firewall front ends installed on this computer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Firewalls {
    /// `ufw` (Debian, Ubuntu).
    pub ufw: bool,
    /// firewalld's `firewall-cmd` (Fedora, RHEL, openSUSE).
    pub firewalld: bool,
}

impl Firewalls {
    /// Looks for `ufw` and `firewall-cmd` on `PATH` and in the system folders
    /// (`/usr/sbin`, `/sbin`), which a user's `PATH` often leaves out.
    pub fn detect() -> Self {
        Self {
            ufw: installed("ufw"),
            firewalld: installed("firewall-cmd"),
        }
    }
}

fn installed(tool: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin"].map(Into::into))
        .any(|dir| is_file(&dir.join(tool)))
}

fn is_file(path: &Path) -> bool {
    path.metadata().is_ok_and(|m| m.is_file())
}

/// A port found blocked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Blocked {
    /// The hub's port, on this computer (`here`) or on another.
    Hub {
        /// The port.
        port: u16,
        /// Whether the hub is on this computer.
        here: bool,
    },
    /// mDNS (UDP 5353) on this computer: hubs' answers do not come in.
    Mdns,
    /// This computer's transfer port (`None`: one the system picks, to be fixed first).
    Transfer(Option<u16>),
}

/// ufw's command opening `blocked`.
fn ufw(blocked: Blocked) -> String {
    match blocked {
        Blocked::Hub { port, .. } if port != HUB_PORT => format!("sudo ufw allow {port}/tcp"),
        Blocked::Hub { .. } | Blocked::Mdns => "sudo ufw allow Courier".to_owned(),
        Blocked::Transfer(port) => format!("sudo ufw allow {}/tcp", shown(port)),
    }
}

/// firewalld's command opening `blocked`.
fn firewalld(blocked: Blocked) -> String {
    // A service file installed while firewalld runs is unknown to it until a reload.
    let (first, what) = match blocked {
        Blocked::Hub { port, .. } if port != HUB_PORT => ("", format!("--add-port={port}/tcp")),
        Blocked::Hub { .. } | Blocked::Mdns => (
            "sudo firewall-cmd --reload && ",
            "--add-service=courier".to_owned(),
        ),
        Blocked::Transfer(port) => ("", format!("--add-port={}/tcp", shown(port))),
    };
    format!("{first}sudo firewall-cmd --permanent {what} && sudo firewall-cmd --reload")
}

fn shown(port: Option<u16>) -> String {
    port.map_or_else(|| "PORT".to_owned(), |p| p.to_string())
}

/// The advice for `blocked`: the commands of the tools in `tools` (this computer's),
/// or, for a hub on another computer, of each tool where that computer uses it. `None`
/// when there is nothing to name.
pub(crate) fn advice(blocked: Blocked, tools: Firewalls) -> Option<String> {
    if let Blocked::Hub { here: false, .. } = blocked {
        return Some(format!(
            "on the hub's computer: `{}` where it uses ufw, `{}` where it uses firewalld",
            ufw(blocked),
            firewalld(blocked)
        ));
    }
    let mut named = Vec::new();
    if tools.ufw {
        named.push(format!("`{}`", ufw(blocked)));
    }
    if tools.firewalld {
        named.push(format!("`{}`", firewalld(blocked)));
    }
    if named.is_empty() {
        return None;
    }
    Some(format!("this computer's firewall: {}", named.join(" or ")))
}

/// `text`, with the advice for `blocked` after it when there is some.
pub(crate) fn advised(text: String, blocked: Blocked, tools: Firewalls) -> String {
    match advice(blocked, tools) {
        Some(a) => format!("{text}; {a}"),
        None => text,
    }
}

/// The `connect` finding for a hub address that did not answer (a firewall drops it, or
/// it is on another network), `here` when the address is this computer's.
pub(crate) fn no_answer(addr: SocketAddr, wait_s: u64, here: bool, tools: Firewalls) -> String {
    advised(
        format!(
            "{addr}: no answer in {wait_s} s: a firewall drops it, or the address is on \
             another network (open TCP {} on the hub's computer)",
            addr.port()
        ),
        Blocked::Hub {
            port: addr.port(),
            here,
        },
        tools,
    )
}

/// Why a connection to the hub at `addr` found no route to it: a firewall rejects it
/// (firewalld's default answer to a closed port), or the host is down or elsewhere.
pub(crate) fn rejected(addr: SocketAddr, here: bool, tools: Firewalls) -> String {
    advised(
        format!(
            "no route to host: a firewall on the hub's computer rejects TCP {} (firewalld \
             does so by default), or that computer is off or on another network",
            addr.port()
        ),
        Blocked::Hub {
            port: addr.port(),
            here,
        },
        tools,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: Firewalls = Firewalls {
        ufw: false,
        firewalld: false,
    };
    const UFW: Firewalls = Firewalls {
        ufw: true,
        firewalld: false,
    };
    const FIREWALLD: Firewalls = Firewalls {
        ufw: false,
        firewalld: true,
    };

    #[test]
    fn a_hub_port_blocked_elsewhere_names_both_profiles_for_the_hubs_computer() {
        let text = no_answer("192.0.2.7:8977".parse().unwrap(), 3, false, NONE);
        assert!(
            text.starts_with("192.0.2.7:8977: no answer in 3 s: a firewall drops it"),
            "{text}"
        );
        assert!(
            text.contains("on the hub's computer: `sudo ufw allow Courier` where it uses ufw"),
            "{text}"
        );
        assert!(
            text.contains(
                "`sudo firewall-cmd --reload && sudo firewall-cmd --permanent \
                 --add-service=courier && sudo firewall-cmd --reload` where it uses firewalld"
            ),
            "{text}"
        );
        assert!(!text.contains('\n'), "one line");
    }

    #[test]
    fn a_hub_port_rejected_as_firewalld_does_names_the_profiles_too() {
        let text = rejected("192.0.2.7:8977".parse().unwrap(), false, NONE);
        assert!(text.starts_with("no route to host: a firewall"), "{text}");
        assert!(text.contains("--add-service=courier"), "{text}");
        assert!(text.contains("`sudo ufw allow Courier`"), "{text}");
    }

    #[test]
    fn a_hub_on_another_port_is_opened_by_port_not_by_the_profile() {
        let text = no_answer("192.0.2.7:9000".parse().unwrap(), 3, false, UFW);
        assert!(text.contains("`sudo ufw allow 9000/tcp`"), "{text}");
        assert!(text.contains("--add-port=9000/tcp"), "{text}");
        assert!(!text.contains("allow Courier"), "{text}");
    }

    #[test]
    fn on_this_computer_only_the_installed_tool_is_named() {
        let here: SocketAddr = "10.0.0.2:8977".parse().unwrap();
        let ufw_only = no_answer(here, 3, true, UFW);
        assert!(
            ufw_only.ends_with("; this computer's firewall: `sudo ufw allow Courier`"),
            "{ufw_only}"
        );
        let firewalld_only = no_answer(here, 3, true, FIREWALLD);
        assert!(
            firewalld_only.contains("--add-service=courier"),
            "{firewalld_only}"
        );
        assert!(!firewalld_only.contains("ufw"), "{firewalld_only}");
        let neither = no_answer(here, 3, true, NONE);
        assert!(
            neither.ends_with("(open TCP 8977 on the hub's computer)"),
            "{neither}"
        );
        let both = advice(Blocked::Mdns, UFW.with_firewalld()).unwrap();
        assert!(
            both.contains("`sudo ufw allow Courier` or `sudo firewall-cmd"),
            "{both}"
        );
        assert_eq!(advice(Blocked::Mdns, NONE), None);
    }

    /// A service file installed while firewalld runs is unknown to it until a reload, so
    /// the profile's advice reloads first; a port needs no profile, so no first reload.
    #[test]
    fn firewalld_learns_the_installed_profile_before_adding_it() {
        let profile = firewalld(Blocked::Mdns);
        assert_eq!(
            profile,
            "sudo firewall-cmd --reload && sudo firewall-cmd --permanent --add-service=courier \
             && sudo firewall-cmd --reload"
        );
        let port = firewalld(Blocked::Transfer(Some(40000)));
        assert_eq!(
            port,
            "sudo firewall-cmd --permanent --add-port=40000/tcp && sudo firewall-cmd --reload"
        );
    }

    #[test]
    fn a_blocked_transfer_port_is_opened_by_its_number() {
        let fixed = advice(Blocked::Transfer(Some(40000)), UFW.with_firewalld()).unwrap();
        assert!(fixed.contains("`sudo ufw allow 40000/tcp`"), "{fixed}");
        assert!(fixed.contains("--add-port=40000/tcp"), "{fixed}");
        let picked = advice(Blocked::Transfer(None), UFW).unwrap();
        assert!(picked.contains("`sudo ufw allow PORT/tcp`"), "{picked}");
    }

    impl Firewalls {
        fn with_firewalld(self) -> Self {
            Self {
                firewalld: true,
                ..self
            }
        }
    }
}
