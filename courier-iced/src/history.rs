//! The history worker: one thread owns the history's SQLite connection and runs what
//! the window asks of it, in the order asked, so that `update` never waits on the file
//! (its busy timeout can be seconds while `courier listen` writes the same file).
//!
//! [`Worker::open`] starts the thread, which opens the file first. Every request is
//! queued at once (so writes and reads keep their order) and answered through a future
//! that the caller turns into a `Task`; a request to a history that could not be opened,
//! or whose thread is gone, is answered `None`. Searches skip a query that a newer one
//! replaced before it ran, so typing never queues a search per keystroke.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use courier_core::history::{Entry, History};
use courier_core::proto::ClientId;

type Job = Box<dyn FnOnce(&mut History) + Send>;

/// The window's way to its history: a queue to the thread that owns the connection.
#[derive(Clone)]
pub struct Worker {
    jobs: async_channel::Sender<Job>,
    /// The newest search asked for; an older one still queued is skipped.
    search: Arc<AtomicU64>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("queued", &self.jobs.len())
            .finish_non_exhaustive()
    }
}

/// What a search answers: the query it was for, and what it found.
#[derive(Debug, Clone)]
pub struct Found {
    /// The query as typed.
    pub query: String,
    /// The messages found, newest first; `None` when a newer search replaced it before
    /// it ran, or there is no history.
    pub entries: Option<Result<Vec<Entry>, String>>,
}

impl Worker {
    /// Starts the thread that opens the history of `hub` in the profile folder `dir` and
    /// then serves requests. The future says whether the file could be opened.
    pub fn open(
        dir: PathBuf,
        hub: ClientId,
    ) -> (
        Self,
        impl Future<Output = Result<(), String>> + Send + 'static,
    ) {
        let (jobs, queue) = async_channel::unbounded::<Job>();
        let (opened_tx, opened) = async_channel::bounded(1);
        let spawned = std::thread::Builder::new()
            .name("courier-history".into())
            .spawn(move || {
                let mut history = match History::open(&dir, &hub) {
                    Ok(history) => {
                        let _ = opened_tx.try_send(Ok(()));
                        history
                    }
                    Err(e) => {
                        let _ = opened_tx.try_send(Err(e.to_string()));
                        return;
                    }
                };
                while let Ok(job) = queue.recv_blocking() {
                    job(&mut history);
                }
            });
        if let Err(e) = spawned {
            let _ = opened.try_recv();
            let worker = Self::gone();
            return (
                worker,
                Box::pin(async move { Err(e.to_string()) }) as Opened,
            );
        }
        let worker = Self {
            jobs,
            search: Arc::new(AtomicU64::new(0)),
        };
        let opened: Opened = Box::pin(async move {
            opened
                .recv()
                .await
                .unwrap_or_else(|_| Err("the history stopped".to_owned()))
        });
        (worker, opened)
    }

    /// A worker with no history behind it: every request is answered `None`.
    fn gone() -> Self {
        let (jobs, _) = async_channel::unbounded();
        Self {
            jobs,
            search: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Queues `job`; the future answers what it returned (`None`: no history).
    pub fn ask<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut History) -> T + Send + 'static,
    ) -> impl Future<Output = Option<T>> + Send + 'static {
        let (tx, rx) = async_channel::bounded(1);
        let queued = self.jobs.try_send(Box::new(move |history: &mut History| {
            let _ = tx.try_send(job(history));
        }));
        async move {
            if queued.is_err() {
                return None;
            }
            rx.recv().await.ok()
        }
    }

    /// Searches for `query` (as [`History::search`], at most `limit` messages), unless a
    /// newer search is asked for before this one runs.
    pub fn search(
        &self,
        query: String,
        limit: usize,
    ) -> impl Future<Output = Found> + Send + 'static {
        let turn = self.search.fetch_add(1, Ordering::SeqCst) + 1;
        let newest = Arc::clone(&self.search);
        let asked = query.clone();
        let answer = self.ask(move |history| {
            (newest.load(Ordering::SeqCst) == turn)
                .then(|| history.search(&asked, limit).map_err(|e| e.to_string()))
        });
        async move {
            Found {
                query,
                entries: answer.await.flatten(),
            }
        }
    }
}

type Opened = std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'static>>;
