//! The hosting thread: it owns the hub hosted here (at most one) and starts, restarts
//! and stops it in the order the window asked, answering each request through a future
//! that the window turns into a `Task`.

use std::net::SocketAddr;
use std::path::PathBuf;

use courier_core::identity::PinStore;
use courier_core::proto::ClientId;

use super::Hosted;

/// What the window knows of the hub hosted here (the hub itself lives on the hosting
/// thread).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    /// Which start made it: a stop names the hub it means by this.
    pub id: u64,
    /// Where it listens.
    pub listen: SocketAddr,
    /// The addresses others can join with.
    pub addresses: Vec<SocketAddr>,
    /// Its fingerprint (its safety code is `fingerprint.safety_code()`).
    pub fingerprint: ClientId,
    /// Shown on the network as this name, if it is.
    pub advertised: Option<String>,
}

impl Running {
    fn of(id: u64, hosted: &Hosted) -> Self {
        Self {
            id,
            listen: hosted.listen,
            addresses: hosted.addresses.clone(),
            fingerprint: hosted.fingerprint,
            advertised: hosted.advertised.clone(),
        }
    }

    /// `127.0.0.1:port`: how the app itself joins its hub.
    pub fn local_address(&self) -> String {
        format!("127.0.0.1:{}", self.listen.port())
    }
}

/// What a start (or restart) answers.
#[derive(Debug, Clone)]
pub struct Started {
    /// The hub, or why it could not start (a sentence for the user).
    pub hub: Result<Running, String>,
    /// Whether the hub's folder holds a password now (the login form asks for one
    /// only when it does not).
    pub has_password: bool,
}

/// What starting a hub needs.
#[derive(Debug, Clone)]
pub struct Start {
    /// The app's profile folder: the hub's own pin is written there.
    pub profile: PathBuf,
    /// The hub's folder (identity, password record, database).
    pub dir: PathBuf,
    /// A password to set (a new hub, or a new password), or `None` to keep the one it has.
    pub new_password: Option<String>,
    /// Port (0: any free one).
    pub port: u16,
    /// Show it on the network.
    pub advertise: bool,
}

/// The hosted hub, with the start that made it.
type Slot = Option<(u64, Hosted)>;
type Job = Box<dyn FnOnce(&mut Slot) + Send>;

/// The window's way to the hosting thread (started on first use).
#[derive(Debug, Default)]
pub struct Worker {
    jobs: Option<async_channel::Sender<Job>>,
}

impl Worker {
    /// Queues `job` now (so requests keep their order); the future answers what it
    /// returned, `None` if the thread could not be started or is gone.
    fn ask<T: Send + 'static>(
        &mut self,
        job: impl FnOnce(&mut Slot) -> T + Send + 'static,
    ) -> impl Future<Output = Option<T>> + Send + 'static {
        let (tx, rx) = async_channel::bounded(1);
        let job: Job = Box::new(move |slot: &mut Slot| {
            let _ = tx.try_send(job(slot));
        });
        let queued = self.jobs().is_some_and(|jobs| jobs.try_send(job).is_ok());
        async move {
            if !queued {
                return None;
            }
            rx.recv().await.ok()
        }
    }

    fn jobs(&mut self) -> Option<&async_channel::Sender<Job>> {
        if self
            .jobs
            .as_ref()
            .is_none_or(async_channel::Sender::is_closed)
        {
            let (jobs, queue) = async_channel::unbounded::<Job>();
            let spawned = std::thread::Builder::new()
                .name("courier-hosting".into())
                .spawn(move || {
                    let mut slot: Slot = None;
                    while let Ok(job) = queue.recv_blocking() {
                        job(&mut slot);
                    }
                    // The window is gone: dropping the hub tells it to stop.
                });
            self.jobs = spawned.ok().map(|_| jobs);
        }
        self.jobs.as_ref()
    }

    /// Starts a hub as `start` says (a hub still running here is stopped first) and pins
    /// it in the profile, so that joining it asks nothing; it is known as `id`.
    pub fn start(
        &mut self,
        id: u64,
        start: Start,
    ) -> impl Future<Output = Started> + Send + 'static {
        let answer = self.ask(move |slot| {
            stop(slot);
            let hub = super::start(
                &start.dir,
                start.new_password.as_deref(),
                start.port,
                start.advertise,
            )
            .and_then(|hosted| pin_own(&start.profile, hosted))
            .map(|hosted| {
                let running = Running::of(id, &hosted);
                *slot = Some((id, hosted));
                running
            });
            Started {
                hub,
                has_password: super::has_password(&start.dir),
            }
        });
        async move { answer.await.unwrap_or_else(gone) }
    }

    /// Stops the hub running here and starts it again on its port with
    /// `start.new_password` (`start.port` is not used); the new one is known as `id`.
    /// Answers an error if no hub runs here.
    pub fn restart(
        &mut self,
        id: u64,
        start: Start,
    ) -> impl Future<Output = Started> + Send + 'static {
        let answer = self.ask(move |slot| {
            let Some((_, hosted)) = slot.take() else {
                return Started {
                    hub: Err("the hub is not running".to_owned()),
                    has_password: super::has_password(&start.dir),
                };
            };
            let port = hosted.listen.port();
            // Waits (briefly) for the hub to tell everyone goodbye and free its port.
            hosted.stop();
            let hub = super::start(
                &start.dir,
                start.new_password.as_deref(),
                port,
                start.advertise,
            )
            .map(|hosted| {
                let running = Running::of(id, &hosted);
                *slot = Some((id, hosted));
                running
            });
            Started {
                hub,
                has_password: super::has_password(&start.dir),
            }
        });
        async move { answer.await.unwrap_or_else(gone) }
    }

    /// Stops the hub known as `id` if it still runs here (a newer one is left alone),
    /// once everything asked before is done; answers when it said goodbye.
    pub fn stop(&mut self, id: u64) -> impl Future<Output = ()> + Send + 'static {
        let answer = self.ask(move |slot| {
            if slot.as_ref().is_some_and(|(running, _)| *running == id) {
                stop(slot);
            }
        });
        async move {
            answer.await;
        }
    }

    /// Stops whatever hub runs here, once everything asked before is done, and waits
    /// for it: for the end of the program, never for `update`.
    pub fn stop_now(&mut self) {
        smol::block_on(self.ask(stop));
    }
}

/// We know our own hub: it is pinned in the profile `profile` at once, so that joining
/// it asks nothing to confirm (a hub that cannot be pinned is stopped).
fn pin_own(profile: &std::path::Path, hosted: Hosted) -> Result<Hosted, String> {
    let pins = PinStore::new(profile);
    match pins.set(&hosted.local_address(), hosted.fingerprint) {
        Ok(()) => Ok(hosted),
        Err(e) => {
            hosted.stop();
            Err(format!("Cannot store the hub's pin: {e}"))
        }
    }
}

fn stop(slot: &mut Slot) {
    if let Some((_, hosted)) = slot.take() {
        hosted.stop();
    }
}

fn gone() -> Started {
    Started {
        hub: Err("cannot start the hub: its thread is gone".to_owned()),
        has_password: false,
    }
}
