//! Network namespaces joined by veth pairs: real networks of their own, for tests of
//! what crosses one (mDNS discovery, firewalls, interfaces that come and go).
//!
//! Making them needs root and iproute2's `ip` (CI has both). Where they cannot be made,
//! the constructors return `Err` with the reason, for [`crate::not_run`].

use std::ffi::OsStr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// Runs `ip` with `args` (split at spaces), its stderr dropped. `Err` says which command
/// failed, and that it needs root and iproute2.
pub fn ip(args: &str) -> Result<(), String> {
    let ok = Command::new("ip")
        .args(args.split(' '))
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "cannot make network namespaces (`ip {args}` failed: needs root and iproute2)"
        ))
    }
}

/// A name of at most 15 characters (what an interface name may have), unique to this
/// process: `prefix` (two letters), the process id and a counter.
fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}x{n}", std::process::id() % 100_000)
}

/// A network namespace of its own (`ip netns add`), with its loopback up; deleted when
/// dropped, and with it the ends of veth pairs inside it.
#[derive(Debug)]
pub struct Namespace {
    name: String,
}

impl Namespace {
    /// A new namespace with a name unique to this process.
    pub fn new() -> Result<Self, String> {
        let ns = Self { name: unique("cn") };
        ip(&format!("netns add {}", ns.name))?;
        ip(&format!("-n {} link set lo up", ns.name))?;
        Ok(ns)
    }

    /// Its name, as `ip netns` knows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `program` run inside the namespace (`ip netns exec NAME program`); add its
    /// arguments to the command returned.
    pub fn exec(&self, program: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// The two ends of a veth pair: a cable between two namespaces.
#[derive(Debug, Clone)]
pub struct Veth {
    /// The interface in the first namespace.
    pub a: String,
    /// The interface in the second namespace.
    pub b: String,
}

/// Plugs a new veth pair between `a` (which gets the address `addr_a`, in CIDR form such
/// as `10.7.0.1/24`) and `b` (`addr_b`), both ends up.
pub fn connect(a: &Namespace, addr_a: &str, b: &Namespace, addr_b: &str) -> Result<Veth, String> {
    let veth = Veth {
        a: unique("cv"),
        b: unique("cv"),
    };
    let (na, nb, va, vb) = (&a.name, &b.name, &veth.a, &veth.b);
    for step in [
        format!("link add {va} type veth peer name {vb}"),
        format!("link set {va} netns {na}"),
        format!("link set {vb} netns {nb}"),
        format!("-n {na} addr add {addr_a} dev {va}"),
        format!("-n {nb} addr add {addr_b} dev {vb}"),
        format!("-n {na} link set {va} up"),
        format!("-n {nb} link set {vb} up"),
    ] {
        ip(&step)?;
    }
    Ok(veth)
}

/// Two namespaces on one link: `a` at `10.N.0.1/24`, `b` at `10.N.0.2/24`. Removed when
/// dropped.
#[derive(Debug)]
pub struct Pair {
    /// The first namespace, at `10.N.0.1`.
    pub a: Namespace,
    /// The second namespace, at `10.N.0.2`.
    pub b: Namespace,
    /// The link between them.
    pub veth: Veth,
}

impl Pair {
    /// Makes both namespaces and links them on the network `10.n.0.0/24` (each test
    /// takes its own `n`, so that two at once never share addresses).
    pub fn new(n: u8) -> Result<Self, String> {
        let a = Namespace::new()?;
        let b = Namespace::new()?;
        let veth = connect(&a, &format!("10.{n}.0.1/24"), &b, &format!("10.{n}.0.2/24"))?;
        Ok(Self { a, b, veth })
    }
}

/// Moves the calling thread into the network namespace `name`: the sockets and threads
/// it makes from then on belong there (the rest of the process stays where it was).
pub fn enter(name: &str) {
    use std::os::fd::AsFd as _;
    let file = std::fs::File::open(format!("/var/run/netns/{name}"))
        .unwrap_or_else(|e| panic!("opening namespace {name}: {e}"));
    rustix::thread::move_into_link_name_space(
        file.as_fd(),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )
    .unwrap_or_else(|e| panic!("entering namespace {name}: {e}"));
}
