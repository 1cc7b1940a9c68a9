//! Command-line arguments (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

mod admin;
pub(crate) use admin::{CompletionsArgs, HubBackupArgs, ManArgs, Shell};
mod observe;
pub(crate) use observe::HubStatusArgs;

/// Courier: LAN chat and file transfer through a hub on your network.
///
/// Start a hub on one machine with `courier hub`, then talk through it from others with
/// `courier who`, `courier say`, `courier listen` and `courier chat`, and move files with
/// `courier send` and `courier receive` (the bytes go straight between the two machines).
///
/// Passwords are never taken from a flag value: set COURIER_PASSWORD, pass
/// --password-file FILE, or type it at the prompt.
///
/// Exit codes: 0 success; 1 completed with a negative result (message rejected, nothing
/// received before --timeout); 2 usage or runtime error (wrong password, hub unreachable,
/// hub identity changed, ...).
#[derive(Debug, Parser)]
#[command(name = "courier", version = version(), max_term_width = 100)]
pub(crate) struct Cli {
    /// More log output on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run a hub: accepts clients, shares contacts, routes messages.
    ///
    /// The first start sets the hub password (from COURIER_PASSWORD, --password-file, a
    /// prompt, or, with no terminal, a generated one printed once). Only an OPAQUE
    /// record of it is stored; later starts reuse it. Prints the addresses to join and
    /// the hub's safety code, which clients show at first contact.
    Hub(HubArgs),
    /// List contacts: id, name, status, online.
    Who(WhoArgs),
    /// Send a message to a contact or to everyone; waits for the receipt.
    Say(SayArgs),
    /// Show the safety number to compare with a contact; --mark records that it matched.
    ///
    /// Both of you see the same 60 digits when each of your clients talks to the other's
    /// real device. Compare them in person or on a call. Once marked, a verified contact
    /// shows "verified" in `courier who`; if a name you verified turns up on another
    /// device, say, send and chat refuse to send to that name until you compare again
    /// and --mark the new device (addressing by id still works).
    Verify(VerifyArgs),
    /// Print incoming messages and contact events until stopped.
    Listen(ListenArgs),
    /// Interactive terminal chat. Lines you type go to WHO (or everyone); /to NAME
    /// switches, /who lists contacts, /quit leaves.
    Chat(ChatArgs),
    /// Make and change groups: create, add, remove, leave, admin.
    ///
    /// A group is a named room of members that the hub keeps and orders; its messages
    /// reach members who are offline when they come back. Address one as '#NAME'
    /// wherever a contact goes: say --to '#ops', chat '#ops', history '#ops'.
    Group(GroupArgs),
    /// List your groups: each with its members, their names and roles, and yours.
    Groups(GroupsArgs),
    /// Send files and folders to a contact, straight to their machine.
    ///
    /// Shows progress (bytes, speed, time left) and exits 0 once the receiver has
    /// verified every byte (BLAKE3). Sending the same files again after an interruption
    /// resumes where it stopped. Exit 1 when declined or cancelled. Ctrl-C cancels.
    ///
    /// With several --to, each gets their own offer and accepts or declines on their
    /// own; offline ones get it at their next login (as --wait, always). At most
    /// --parallel copies (4) run at once, the others wait their turn; the files are read
    /// from disk once for the copies running together. A copy whose connection is lost is
    /// offered again and resumes. Lists what happened to each at the end; exit 0 when
    /// everyone who accepted verified every file, 1 when nobody did (all declined or
    /// cancelled), 2 when a copy failed.
    Send(SendArgs),
    /// Wait for files from contacts; ask before accepting each offer (or --yes).
    ///
    /// Files are saved in --dir (default: your download folder) under safe names: a name
    /// from the sender can never point outside that folder or replace a file there.
    Receive(ReceiveArgs),
    /// Show the messages this computer kept from the hub (what say, listen and chat saw
    /// and sent, with what became of each), or search them. Needs no connection.
    History(HistoryArgs),
    /// List the hubs on this network (found by mDNS): name, addresses, safety code,
    /// whether this computer knows it. Needs no hub address.
    Hubs(HubsArgs),
    /// Why can't I see or reach the hub? Checks this computer's addresses, discovery,
    /// the hub's address, TCP, its identity against the pin, the login and the
    /// protocol, the address the hub sees this computer at, and whether the hub can
    /// connect back to the port files would arrive on; says for each: ok, or what is
    /// wrong and what to do. Exit 1 when something is wrong. Takes at most about 10 s.
    Doctor(DoctorArgs),
    /// Print the shell completion script for bash, zsh, fish or powershell.
    ///
    /// For example `courier completions bash > ~/.local/share/bash-completion/completions/courier`
    /// (the Debian package installs them for every shell).
    Completions(CompletionsArgs),
    /// Write the man pages (courier.1 and one per subcommand) into a folder.
    #[command(hide = true)]
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub(crate) struct GroupArgs {
    #[command(subcommand)]
    pub(crate) action: GroupAction,
}

/// A change to a group: each waits for the hub's answer and says what happened in one
/// line; a refusal says why and exits 1.
#[derive(Debug, Subcommand)]
pub(crate) enum GroupAction {
    /// Create a group; you are its creator (you may remove members and name admins).
    Create(GroupCreateArgs),
    /// Add members to a group you are in (any member may).
    Add(GroupAddArgs),
    /// Remove a member from a group (its creator and admins may).
    Remove(GroupMemberArgs),
    /// Leave a group (anyone may, at any time).
    Leave(GroupLeaveArgs),
    /// Make a member an admin, who may remove members (the group's creator may).
    Admin(GroupAdminArgs),
}

#[derive(Debug, Args)]
pub(crate) struct GroupCreateArgs {
    #[command(flatten)]
    pub(crate) client: ClientArgs,
    /// Its name (a leading '#' is dropped: '#ops' creates "ops").
    #[arg(value_name = "NAME")]
    pub(crate) group: String,
    /// Its first members besides you: names or id prefixes, separated by commas.
    #[arg(long, value_name = "WHO,WHO…", value_delimiter = ',')]
    pub(crate) with: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct GroupAddArgs {
    #[command(flatten)]
    pub(crate) client: ClientArgs,
    /// The group: its name, with or without '#', or '#ID'.
    #[arg(value_name = "NAME")]
    pub(crate) group: String,
    /// Whom to add: names or id prefixes.
    #[arg(required = true)]
    pub(crate) who: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct GroupMemberArgs {
    #[command(flatten)]
    pub(crate) client: ClientArgs,
    /// The group: its name, with or without '#', or '#ID'.
    #[arg(value_name = "NAME")]
    pub(crate) group: String,
    /// The member: a name or an id prefix.
    pub(crate) who: String,
}

#[derive(Debug, Args)]
pub(crate) struct GroupLeaveArgs {
    #[command(flatten)]
    pub(crate) client: ClientArgs,
    /// The group: its name, with or without '#', or '#ID'.
    #[arg(value_name = "NAME")]
    pub(crate) group: String,
}

#[derive(Debug, Args)]
pub(crate) struct GroupAdminArgs {
    #[command(flatten)]
    pub(crate) client: ClientArgs,
    /// The group: its name, with or without '#', or '#ID'.
    #[arg(value_name = "NAME")]
    pub(crate) group: String,
    /// The member: a name or an id prefix.
    pub(crate) who: String,
    /// Make them a plain member again instead.
    #[arg(long)]
    pub(crate) off: bool,
}

#[derive(Debug, Args)]
pub(crate) struct GroupsArgs {
    #[command(flatten)]
    pub(crate) client: ClientArgs,
    /// One JSON object per group, one per line.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    #[command(flatten)]
    pub(crate) client: ClientArgs,
    /// The address this computer takes files on, as `send`/`receive --bind` (default: a
    /// port the system picks): the hub tries to connect back to it.
    #[arg(long, value_name = "IP[:PORT]", value_parser = parse_bind)]
    pub(crate) bind: Option<std::net::SocketAddr>,
    /// Also test the link to this contact (name or id prefix; online, any Courier answers
    /// by itself): direct, then through the hub's relay, each with its round-trip time
    /// and its speed over 2 s of in-memory data. Nothing is written on either side.
    #[arg(long, value_name = "WHO")]
    pub(crate) peer: Option<String>,
    /// One JSON object with every step on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct HubsArgs {
    /// Listen this long for hubs to answer, in seconds.
    #[arg(long, value_name = "S", default_value_t = 2.0)]
    pub(crate) timeout: f64,
    /// One JSON object per hub on stdout.
    #[arg(long)]
    pub(crate) json: bool,
    /// The profile folder whose pins say which hubs are known.
    #[arg(long, env = "COURIER_HOME", value_name = "DIR")]
    pub(crate) profile_dir: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct HistoryArgs {
    #[command(flatten)]
    pub(crate) client: ClientArgs,
    /// Only the conversation with WHO: a name, an id prefix (4+ hex digits),
    /// "everyone", or a group as '#NAME'.
    pub(crate) who: Option<String>,
    /// Only messages with all these words (case and accents ignored; the last word may
    /// be the start of one).
    #[arg(long, value_name = "TEXT")]
    pub(crate) search: Option<String>,
    /// The newest N messages (shown oldest first).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub(crate) limit: usize,
    /// One JSON object per message.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    #[command(flatten)]
    pub(crate) client: ClientArgs,
    /// Recipient: a display name, an id prefix (4+ hex digits), or a group as '#NAME' (its
    /// members other than you). Repeat for several.
    #[arg(long, required = true, value_name = "WHO")]
    pub(crate) to: Vec<String>,
    /// Files and folders to send (folders keep their structure).
    #[arg(required = true)]
    pub(crate) paths: Vec<PathBuf>,
    /// With several --to: copies sent at the same time (the others wait their turn).
    /// The copies running together read the files once; the others read them again, one
    /// more time per wave. 4 by default, whatever the link: this program cannot tell a
    /// wired link from Wi-Fi, where copies at once split the sender's air time, and each
    /// copy costs about 5 MiB. On a wired network, N of at least the recipients reads the
    /// files once.
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub(crate) parallel: u16,
    /// If the recipient is offline, leave the offer at the hub (names and sizes only)
    /// and wait: it reaches them when they come online, and the files go once they
    /// accept. Keeps waiting through hub restarts; Ctrl-C withdraws the offer.
    #[arg(long)]
    pub(crate) wait: bool,
    /// One JSON object per line on stdout: progress, files, and the result.
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) net: TransferNetArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ReceiveArgs {
    #[command(flatten)]
    pub(crate) client: ClientArgs,
    /// Where to save files (default: your download folder).
    #[arg(long, env = "COURIER_DOWNLOADS")]
    pub(crate) dir: Option<PathBuf>,
    /// Accept offers without asking.
    #[arg(long, short = 'y')]
    pub(crate) yes: bool,
    /// Only take offers from this contact (name or id prefix); others are declined.
    #[arg(long)]
    pub(crate) from: Option<String>,
    /// Exit after this many transfers (exit 1 if any of them failed).
    #[arg(long)]
    pub(crate) count: Option<u64>,
    /// One JSON object per line on stdout: offers, progress, saved files, results.
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) net: TransferNetArgs,
    #[command(flatten)]
    pub(crate) answer: AnswerArgs,
}

/// How transfers connect (rarely needed).
#[derive(Debug, Args, Clone)]
pub(crate) struct TransferNetArgs {
    /// Listen for the other side on this address, IP or IP:PORT (default: all
    /// interfaces, a port the system picks). A fixed port helps with firewalls.
    #[arg(long, value_name = "IP[:PORT]", value_parser = parse_bind)]
    pub(crate) bind: Option<std::net::SocketAddr>,
    /// Announce these addresses instead of this machine's interfaces (repeatable),
    /// for example when behind port forwarding.
    #[arg(long, value_name = "IP:PORT")]
    pub(crate) advertise: Vec<std::net::SocketAddr>,
    /// Do not fall back to the hub's relay.
    #[arg(long)]
    pub(crate) no_relay: bool,
    /// For tests and benchmarks (docs/TESTING.md): go through the hub's relay at once,
    /// neither listening nor dialling. It changes only this side's own ways to connect;
    /// both sides need it for a relayed transfer on one machine.
    #[arg(long, hide = true, conflicts_with = "no_relay")]
    pub(crate) relay_only: bool,
}

impl TransferNetArgs {
    pub(crate) fn options(&self) -> courier_core::transfer::Options {
        let mut o = courier_core::transfer::Options::default();
        if let Some(addr) = self.bind {
            o.listen = Some(addr);
        }
        if !self.advertise.is_empty() {
            o.advertise = Some(self.advertise.clone());
        }
        o.relay = !self.no_relay;
        if self.relay_only {
            o.listen = None;
            o.direct_wait = std::time::Duration::ZERO;
        }
        o
    }
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct HubArgs {
    /// Look after the hub's members instead of running it (works while it runs).
    #[command(subcommand)]
    pub(crate) action: Option<HubAction>,
    /// Read these options from a TOML file: each key a long flag (`offline-days = 30`,
    /// `no-relay = true`); flags given here (or their environment variables) win.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0:8977", env = "COURIER_LISTEN")]
    pub(crate) listen: String,
    /// Where the hub keeps its identity and password record.
    #[arg(long, env = "COURIER_HUB_DATA")]
    pub(crate) data_dir: Option<PathBuf>,
    /// Read the password from this file (first start or --reset-password).
    #[arg(long)]
    pub(crate) password_file: Option<PathBuf>,
    /// Set a new password (from the usual sources) instead of reusing the stored one.
    /// Every remembered device must then give the new password once.
    #[arg(long)]
    pub(crate) reset_password: bool,
    /// With --reset-password: keep remembering the devices it remembers.
    #[arg(long, requires = "reset_password")]
    pub(crate) keep_members: bool,
    /// Print the startup information as one JSON object on stdout.
    #[arg(long)]
    pub(crate) json: bool,
    /// Never relay file transfers (peers that cannot reach each other directly fail).
    #[arg(long)]
    pub(crate) no_relay: bool,
    /// Messages stored (on the disk) for one offline contact; past it, senders hear
    /// "queue full".
    #[arg(long, value_name = "N", default_value_t = courier_core::limits::MAILBOX_ON_DISK)]
    pub(crate) offline_messages: usize,
    /// File offers stored (sealed names and sizes) for one offline contact, and from one sender,
    /// until answered (`send --wait`); past it, the sender hears "too many offers".
    #[arg(long, value_name = "N", default_value_t = courier_core::limits::STORED_OFFERS)]
    pub(crate) offline_offers: usize,
    /// The name the hub shows on the network (default: this computer's name).
    #[arg(long, value_name = "NAME")]
    pub(crate) name: Option<String>,
    /// Do not advertise the hub on the network (mDNS); clients then need its address.
    #[arg(long)]
    pub(crate) no_advertise: bool,
    /// Days a message or file offer waits for an offline contact before it is
    /// forgotten.
    #[arg(long, value_name = "DAYS", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub(crate) offline_days: u32,
    /// Chat frames (messages, typing, read marks) one connection may send per second
    /// (bursts of 2.5 times more are allowed).
    #[arg(long, value_name = "N", default_value_t = courier_core::limits::MESSAGE_RATE_PER_SEC,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) message_rate: u32,
    /// The most members a group has.
    #[arg(long, value_name = "N", default_value_t = courier_core::limits::GROUP_MEMBERS as u32,
          value_parser = clap::value_parser!(u32).range(2..))]
    pub(crate) group_members: u32,
    /// The most groups one member is in.
    #[arg(long, value_name = "N", default_value_t = courier_core::limits::GROUPS_PER_MEMBER as u32,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) groups_per_member: u32,
    /// The most groups one member may have created (and still in use).
    #[arg(long, value_name = "N", default_value_t = courier_core::limits::GROUPS_CREATED as u32,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) groups_created: u32,
    /// Serve Prometheus metrics (GET /metrics) on ADDR; with no ADDR, on 127.0.0.1:9977.
    /// Off unless given. Counts only: never a name or a message.
    #[arg(long, value_name = "ADDR", num_args = 0..=1,
          default_missing_value = observe::METRICS_DEFAULT)]
    pub(crate) metrics: Option<std::net::SocketAddr>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum HubAction {
    /// List the hub's members: id, name, first and last seen, remembered since.
    Members(HubMembersArgs),
    /// Forget a member's device: it must give the password again. If it is online, the
    /// running hub disconnects it within seconds.
    Forget(HubForgetArgs),
    /// Ban a member: forgotten, refused at every login even with the password, and the
    /// messages and stored offers it left (or that wait for it) are dropped. If it is
    /// online, the running hub disconnects it within seconds.
    Ban(HubForgetArgs),
    /// Lift a ban: the member may log in with the password again.
    Unban(HubForgetArgs),
    /// List the banned identities.
    Bans(HubMembersArgs),
    /// What each sender left at the hub: messages stored for offline members and
    /// stored file offers.
    Stored(HubMembersArgs),
    /// Drop every stored message and stored offer from one sender (the hub carries on
    /// delivering the others').
    Drop(HubDropArgs),
    /// List every group with its members and their roles; `groups remove GROUP MEMBER`
    /// takes someone out of a group (a running hub does it within seconds).
    Groups(HubGroupsArgs),
    /// Copy the hub's identity, password record and database into a new folder while it
    /// runs; a hub started with `--data-dir OUT` is the same hub (there is no restore).
    Backup(HubBackupArgs),
    /// Whether a hub runs on this folder: its address, uptime, who is online and the
    /// backlog, asked of the running hub. Exit 0 when one runs, 3 when none does.
    Status(HubStatusArgs),
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct HubGroupsArgs {
    /// Remove someone from a group instead of listing them.
    #[command(subcommand)]
    pub(crate) action: Option<HubGroupsAction>,
    /// The hub's folder (as for `courier hub`).
    #[arg(long, env = "COURIER_HUB_DATA")]
    pub(crate) data_dir: Option<PathBuf>,
    /// One JSON object per group on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum HubGroupsAction {
    /// Remove a member from a group (the group's log says the owner removed them).
    Remove(HubGroupRemoveArgs),
}

#[derive(Debug, Args)]
pub(crate) struct HubGroupRemoveArgs {
    /// The hub's folder (as for `courier hub`).
    #[arg(long, env = "COURIER_HUB_DATA")]
    pub(crate) data_dir: Option<PathBuf>,
    /// The group: its name (`ops` or `#ops`) or its number, as `courier hub groups`
    /// shows it.
    pub(crate) group: String,
    /// The member: its id (or the start of it) or its name.
    pub(crate) member: String,
}

#[derive(Debug, Args)]
pub(crate) struct HubDropArgs {
    /// The hub's folder (as for `courier hub`).
    #[arg(long, env = "COURIER_HUB_DATA")]
    pub(crate) data_dir: Option<PathBuf>,
    /// The sender: its id (or the start of it) or its name.
    #[arg(long, value_name = "MEMBER")]
    pub(crate) from: String,
}

#[derive(Debug, Args)]
pub(crate) struct HubMembersArgs {
    /// The hub's folder (as for `courier hub`).
    #[arg(long, env = "COURIER_HUB_DATA")]
    pub(crate) data_dir: Option<PathBuf>,
    /// One JSON object per member on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct HubForgetArgs {
    /// The hub's folder (as for `courier hub`).
    #[arg(long, env = "COURIER_HUB_DATA")]
    pub(crate) data_dir: Option<PathBuf>,
    /// The member: its id (or the start of it, as `courier hub members` shows) or its
    /// name.
    pub(crate) member: String,
}

/// Where a hub is when none is given and none is found.
pub(crate) const LOCAL_HUB: &str = "127.0.0.1:8977";
/// The port of a hub address given without one (`courier hub` listens there by default).
const HUB_PORT: u16 = 8977;

#[derive(Debug, Args, Clone)]
pub(crate) struct ClientArgs {
    /// The hub's address, HOST[:PORT] (port 8977 if not given). Without it, the hub
    /// found on this network (mDNS) is used if there is exactly one; else 127.0.0.1:8977.
    #[arg(long, env = "COURIER_HUB", value_parser = parse_hub)]
    pub(crate) hub: Option<String>,
    /// Display name shown to others (default: the name the hub knows you by; your user
    /// name on a hub new to you).
    #[arg(long, env = "COURIER_NAME")]
    pub(crate) name: Option<String>,
    /// Directory for this identity, hub pins and settings; several identities can live on
    /// one machine with different directories.
    #[arg(long, env = "COURIER_HOME")]
    pub(crate) profile_dir: Option<PathBuf>,
    /// Read the hub password from this file (else COURIER_PASSWORD, else a prompt).
    /// A hub that remembers this device needs none.
    #[arg(long)]
    pub(crate) password_file: Option<PathBuf>,
    /// Do not ask the hub to remember this device (by default, after one login with
    /// the password, the next ones need none).
    #[arg(long, env = "COURIER_NO_REMEMBER")]
    pub(crate) no_remember: bool,
    /// Decline contacts' link tests (set by the commands that take
    /// `--no-link-tests`).
    #[arg(skip)]
    pub(crate) no_link_tests: bool,
}

impl ClientArgs {
    /// These arguments, answering link tests as `answer` says.
    pub(crate) fn answering(&self, answer: &AnswerArgs) -> Self {
        Self {
            no_link_tests: answer.no_link_tests,
            ..self.clone()
        }
    }
}

/// Whether a long-running session answers link tests.
#[derive(Debug, Args, Clone)]
pub(crate) struct AnswerArgs {
    /// Do not answer contacts' link tests (`courier doctor --peer`): they are
    /// told you do not. By default any Courier answers them by itself, dialling only the
    /// address the hub sees the checking contact at.
    #[arg(long, env = "COURIER_NO_LINK_TESTS")]
    pub(crate) no_link_tests: bool,
}

#[derive(Debug, Args)]
pub(crate) struct WhoArgs {
    #[command(flatten)]
    pub(crate) client: ClientArgs,
    /// One JSON object per contact, one per line.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    pub(crate) client: ClientArgs,
    /// The contact: a display name or an id prefix (4+ hex digits).
    pub(crate) who: String,
    /// Record that you compared the number and it matched.
    #[arg(long, conflicts_with = "unmark")]
    pub(crate) mark: bool,
    /// Remove the verified mark.
    #[arg(long)]
    pub(crate) unmark: bool,
    /// One JSON object: id, name, digits, groups, qr, verified.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct SayArgs {
    #[command(flatten)]
    pub(crate) client: ClientArgs,
    /// Recipient: a display name, an id prefix (4+ hex digits), "everyone", or a group
    /// as '#NAME'.
    #[arg(long)]
    pub(crate) to: String,
    /// The message; read from stdin when absent.
    pub(crate) text: Option<String>,
    /// Print the receipt as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ListenArgs {
    #[command(flatten)]
    pub(crate) client: ClientArgs,
    /// One JSON object per line: messages, receipts, contact, typing and group events.
    #[arg(long)]
    pub(crate) json: bool,
    /// Exit after this many messages.
    #[arg(long)]
    pub(crate) count: Option<u64>,
    /// Stop after this many seconds (exit 1 if --count was not reached).
    #[arg(long)]
    pub(crate) timeout: Option<f64>,
    #[command(flatten)]
    pub(crate) answer: AnswerArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ChatArgs {
    #[command(flatten)]
    pub(crate) client: ClientArgs,
    /// Who to talk to (name, id prefix, "everyone", or a group as '#NAME'; default
    /// everyone).
    pub(crate) who: Option<String>,
    #[command(flatten)]
    pub(crate) answer: AnswerArgs,
}

/// A hub address as typed: HOST:PORT, or a host alone (an IPv4 address, a name, an IPv6
/// address bare or in brackets) for [`HUB_PORT`].
fn parse_hub(s: &str) -> Result<String, String> {
    let s = s.trim();
    let bad = || format!("{s:?} is not a hub address: give HOST or HOST:PORT");
    if s.is_empty() || s.contains(char::is_whitespace) || s.contains('/') {
        return Err(bad());
    }
    if s.parse::<std::net::SocketAddr>().is_ok() {
        return Ok(s.to_owned());
    }
    let bracketed = s.strip_prefix('[').and_then(|r| r.strip_suffix(']'));
    if let Ok(ip) = bracketed.unwrap_or(s).parse::<std::net::Ipv6Addr>() {
        return Ok(format!("[{ip}]:{HUB_PORT}"));
    }
    match s.rsplit_once(':') {
        None if !s.contains(['[', ']']) => Ok(format!("{s}:{HUB_PORT}")),
        Some((host, port))
            if !host.is_empty()
                && !host.contains([':', '[', ']'])
                && port.parse::<u16>().is_ok_and(|p| p != 0) =>
        {
            Ok(s.to_owned())
        }
        _ => Err(bad()),
    }
}

fn parse_bind(s: &str) -> Result<std::net::SocketAddr, String> {
    s.parse::<std::net::SocketAddr>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(|ip| (ip, 0).into()))
        .map_err(|_| format!("{s:?} is not an IP address or IP:PORT"))
}

/// The version `--version` prints: the program's and the protocol's it speaks (two
/// Courier programs work together when their protocol versions match).
fn version() -> String {
    format!(
        "{} (protocol {})",
        env!("CARGO_PKG_VERSION"),
        courier_core::proto::PROTOCOL_VERSION
    )
}

#[cfg(test)]
mod tests {
    use super::parse_hub;

    #[test]
    fn a_hub_given_without_a_port_is_on_8977() {
        let ok = |s: &str| parse_hub(s).unwrap();
        assert_eq!(ok("127.0.0.1"), "127.0.0.1:8977");
        assert_eq!(ok(" hub.lan "), "hub.lan:8977");
        assert_eq!(ok("hub.lan:9000"), "hub.lan:9000");
        assert_eq!(ok("10.0.0.2:1"), "10.0.0.2:1");
        assert_eq!(ok("::1"), "[::1]:8977");
        assert_eq!(ok("[fe80::1]"), "[fe80::1]:8977");
        assert_eq!(ok("[::1]:9"), "[::1]:9");
        for bad in [
            "",
            "a b",
            "http://hub",
            "hub:0",
            "hub:notaport",
            "[::1",
            "[hub]",
            ":9",
        ] {
            assert!(parse_hub(bad).is_err(), "{bad:?}");
        }
    }
}
