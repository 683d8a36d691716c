//! The lab workers: as many as the machine has cores, each taking the oldest
//! queued run, grading it, and writing progress on the way. The queue lives in
//! the database, so runs survive a restart and any instance may take them.
//!
//! Grading itself happens in a child process under OS limits
//! ([`lab_grader::sandbox`]): a learner's run that exhausts its memory or CPU,
//! or trips a bug nobody has found, ends that child, and the run fails with a
//! message saying which limit it reached. A child that dies for no reason the
//! sandbox can name counts as a grader death, like an instance that died while
//! grading; a run whose grading died twice is failed and never taken again.
//!
//! Several instances share the queue: a worker leases the run it grades and
//! renews the lease while grading. A run whose lease runs out (its instance
//! died) is taken over by whichever worker looks next; a graceful stop hands
//! this instance's runs back at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lab_grader::sandbox::Sandbox;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::store::{self, Claimed};
use super::RunProgress;
use crate::db::Db;

/// How often a running run writes its progress (and looks for a cancel).
const PROGRESS_EVERY: Duration = Duration::from_millis(250);
/// How often an idle worker looks at the queue without being woken (runs
/// queued through another instance).
const IDLE_POLL: Duration = Duration::from_secs(1);

/// How long a lease lasts unless renewed, by default.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// This instance's side of the queue: a bell for idle workers, the runs it is
/// grading (so a cancel reaches them at once), the name its leases carry, and
/// how grading children are started.
pub struct LabQueue {
    sandbox: Sandbox,
    wake: Notify,
    running: Mutex<HashMap<i64, CancellationToken>>,
    instance: String,
    lease: Duration,
    stopping: AtomicBool,
    idle: Notify,
}

impl LabQueue {
    /// A queue whose leases last `lease` unless renewed (a third of it apart),
    /// grading in children started by `sandbox`.
    pub fn new(lease: Duration, sandbox: Sandbox) -> Self {
        use rand::Rng;
        let tag: u32 = rand::thread_rng().gen();
        LabQueue {
            sandbox,
            wake: Notify::new(),
            running: Mutex::default(),
            instance: format!("{}-{tag:08x}", std::process::id()),
            lease: lease.max(Duration::from_millis(300)),
            stopping: AtomicBool::new(false),
            idle: Notify::new(),
        }
    }

    /// How this instance starts grading children (also for the query box).
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// The name this instance's leases carry.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX / 2)
    }

    fn running_count(&self) -> usize {
        self.running.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// A graceful stop: no new claims; runs being graded get `grace` to
    /// finish, then the rest are handed back to the queue (and stopped here)
    /// for another instance to grade. Returns how many were handed back.
    pub async fn drain(&self, db: &Db, grace: Duration) -> u64 {
        self.stopping.store(true, Ordering::SeqCst);
        self.wake.notify_waiters();
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let settled = self.idle.notified();
            tokio::pin!(settled);
            // Registered before the count is read, so a run settling in between still wakes us.
            settled.as_mut().enable();
            if self.running_count() == 0
                || tokio::time::timeout_at(deadline, settled).await.is_err()
            {
                break;
            }
        }
        // Also catches a run claimed just as the stop began.
        let handed = match store::release_all(db, &self.instance).await {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "lab runs not handed back; they are taken over when their lease runs out");
                0
            }
        };
        for token in self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            token.cancel();
        }
        handed
    }

    /// Wakes one idle worker: a run was queued.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Stops a run this instance is grading, if it is.
    pub fn cancel(&self, run: i64) {
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(token) = running.get(&run) {
            token.cancel();
        }
    }
}

/// Starts `workers` workers. Runs an earlier process left running are taken
/// over once their lease runs out, like those of any instance that died.
pub async fn spawn(db: Db, queue: Arc<LabQueue>, workers: usize) {
    for _ in 0..workers {
        let (db, queue) = (db.clone(), queue.clone());
        tokio::spawn(async move { work(db, queue).await });
    }
}

async fn work(db: Db, queue: Arc<LabQueue>) {
    while !queue.stopping.load(Ordering::SeqCst) {
        match store::claim_next(&db, &queue.instance, queue.lease_ms()).await {
            Ok(Some(claimed)) => grade(&db, &queue, claimed).await,
            Ok(None) => {
                let _ = tokio::time::timeout(IDLE_POLL, queue.wake.notified()).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "lab queue unavailable");
                tokio::time::sleep(IDLE_POLL).await;
            }
        }
    }
}

async fn grade(db: &Db, queue: &LabQueue, claimed: Claimed) {
    let run = claimed.id;
    let token = CancellationToken::new();
    queue
        .running
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(run, token.clone());
    let latest: Arc<Mutex<Option<RunProgress>>> = Arc::default();
    let sink = latest.clone();
    let grading = {
        let token = token.clone();
        let (lab, files) = (claimed.lab.clone(), claimed.files.clone());
        let sandbox = queue.sandbox.clone();
        tokio::spawn(async move {
            sandbox
                .grade(&lab, &files, token, move |g| {
                    let p = &g.progress;
                    *sink.lock().unwrap_or_else(|e| e.into_inner()) = Some(RunProgress {
                        status: "running".into(),
                        position: None,
                        index: g.index,
                        runs: g.runs,
                        run_title: g.run_title,
                        elapsed: p.elapsed,
                        total: p.total,
                        vus: p.vus,
                        rps: p.rps,
                        p95_ms: p.p95_ms,
                        errors: p.errors,
                        requests: p.requests,
                    });
                })
                .await
        })
    };
    // Progress goes to the database, where every instance's pages read it; a
    // cancel asked through any instance comes back the same way.
    let (owner, lease_ms, renew_every) = (claimed.owner.clone(), queue.lease_ms(), queue.lease / 3);
    let reporter = tokio::spawn({
        let db = db.clone();
        let token = token.clone();
        async move {
            let mut last: Option<RunProgress> = None;
            let mut renewed = Instant::now();
            loop {
                tokio::time::sleep(PROGRESS_EVERY).await;
                if renewed.elapsed() >= renew_every {
                    match store::renew_lease(&db, run, &owner, lease_ms).await {
                        Ok(true) => renewed = Instant::now(),
                        Ok(false) => {
                            tracing::warn!(run, "lab run lease lost; another instance grades it");
                            token.cancel();
                            return;
                        }
                        Err(e) => tracing::warn!(run, error = %e, "lab run lease not renewed"),
                    }
                }
                let now = latest.lock().unwrap_or_else(|e| e.into_inner()).clone();
                if let Some(p) = now.filter(|p| Some(p) != last.as_ref()) {
                    match store::report_progress(&db, run, &p).await {
                        Ok(true) => token.cancel(),
                        Ok(false) => {}
                        Err(e) => tracing::warn!(run, error = %e, "progress not stored"),
                    }
                    last = Some(p);
                } else if let Ok(true) = store::cancel_requested(&db, run).await {
                    token.cancel();
                }
            }
        }
    });
    let outcome = grading.await;
    reporter.abort();
    let stored = match outcome {
        Ok(Ok(outcome)) => store::finish(db, &claimed, &outcome.report, &outcome.data).await,
        // Stopped on purpose (a cancel, a lost lease, a graceful stop) before
        // the child could answer: nothing to blame the run for.
        Ok(Err(_)) if token.is_cancelled() => {
            store::finish(db, &claimed, &store::unanswered(None, true), &[]).await
        }
        Ok(Err(failure)) if failure.is_crash() => {
            tracing::error!(run, error = %failure, "lab grader died");
            store::grader_died(db, &claimed, &failure.message()).await
        }
        Ok(Err(failure)) => {
            tracing::warn!(run, error = %failure, "lab run stopped at a sandbox limit");
            store::fail(db, &claimed, &failure.message()).await
        }
        Err(e) => {
            tracing::error!(run, error = %e, "lab grading task crashed");
            store::grader_died(
                db,
                &claimed,
                "The grader stopped unexpectedly while grading this run. Your files are saved; run it again.",
            )
            .await
        }
    };
    if let Err(e) = stored {
        tracing::error!(run, error = %e, "graded lab run not stored");
    }
    // Only now is the run settled: a graceful stop waits for this.
    queue
        .running
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&run);
    queue.idle.notify_waiters();
}
