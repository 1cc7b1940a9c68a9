//! Telling systemd how the hub is doing (`Type=notify`, the `sd_notify` protocol): one
//! datagram of `KEY=VALUE` lines to the socket named by `$NOTIFY_SOCKET`.
//!
//! A path is a socket file; a name starting with '@' is an abstract socket (Linux). Without
//! the variable, or off Unix, nothing is sent. A failed send is logged once and never stops
//! the hub: a supervisor that cannot be told is not a reason to refuse clients.
//!
//! `sd_notify(3)` unsets the variable so that children do not talk for the service. The hub
//! starts no other programs, and `std::env::remove_var` is `unsafe` (edition 2024), which
//! this crate forbids, so the variable stays.

/// Where the hub's notifications go: systemd's socket, if it gave one.
#[derive(Debug)]
pub(crate) struct Notifier {
    #[cfg(unix)]
    socket: Option<std::ffi::OsString>,
    /// A failure is logged once.
    #[cfg(unix)]
    warned: std::sync::atomic::AtomicBool,
}

impl Notifier {
    /// The notifier `$NOTIFY_SOCKET` names (none: sends nothing).
    pub(crate) fn from_env() -> Self {
        Self {
            #[cfg(unix)]
            socket: std::env::var_os("NOTIFY_SOCKET").filter(|s| !s.is_empty()),
            #[cfg(unix)]
            warned: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The hub listens and its database is open: `READY=1`, with `status` for
    /// `systemctl status`.
    pub(crate) fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={}\n", one_line(status)));
    }

    /// The hub has begun to shut down: `STOPPING=1`.
    pub(crate) fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=shutting down: telling clients goodbye\n");
    }

    fn send(&self, message: &str) {
        #[cfg(unix)]
        if let Some(socket) = &self.socket
            && let Err(e) = send_to(socket, message.as_bytes())
            && !self.warned.swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            tracing::warn!(
                "cannot tell systemd ({}): {e}",
                std::path::Path::new(socket).display()
            );
        }
        #[cfg(not(unix))]
        let _ = message;
    }
}

/// Sends `message` as one datagram to `socket` (a path, or '@' and an abstract name).
#[cfg(unix)]
fn send_to(socket: &std::ffi::OsStr, message: &[u8]) -> std::io::Result<usize> {
    use std::os::unix::ffi::OsStrExt as _;
    use std::os::unix::net::UnixDatagram;
    let datagram = UnixDatagram::unbound()?;
    match socket.as_bytes().strip_prefix(b"@") {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        Some(name) => {
            #[cfg(target_os = "android")]
            use std::os::android::net::SocketAddrExt as _;
            #[cfg(target_os = "linux")]
            use std::os::linux::net::SocketAddrExt as _;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            datagram.send_to_addr(message, &addr)
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        Some(_) => Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "abstract sockets are Linux only",
        )),
        None => datagram.send_to(message, socket),
    }
}

/// A status never breaks the `KEY=VALUE` lines.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
