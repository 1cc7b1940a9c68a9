//! A small tmpfs, for tests of a full disk on a real file system.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A tmpfs mounted on a folder; unmounted when dropped. Mounting needs root (CI has it).
#[derive(Debug)]
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`mount -o size=..`: `8m`, `3g`) on the folder `at`,
    /// which must exist. `Err` says why it cannot, for [`crate::not_run`].
    pub fn mount(at: &Path, size: &str) -> Result<Self, String> {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|st| st.success());
        if ok {
            Ok(Self(at.to_owned()))
        } else {
            Err("mounting a tmpfs needs root (and the mount command)".to_owned())
        }
    }

    /// The folder it is mounted on.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Changes its size in place (`mount -o remount,size=..`), the files kept; whether
    /// that worked.
    pub fn resize(&self, size: &str) -> bool {
        Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .is_ok_and(|st| st.success())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}
