//! The threads bcrypt runs on: one per core, at the lowest CPU priority (SCHED_IDLE). A burst of
//! logins then uses every core (bcrypt's throughput is cores ÷ the time of one hash) without
//! taking them from the async workers, so token checks stay fast while it lasts. Neither the async workers
//! nor actix's blocking pool (hundreds of threads, shared with diesel) ever run bcrypt.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, Instant},
};

use tokio::sync::oneshot;

use crate::error::ApiError;

/// The fallback where SCHED_IDLE is refused: the kernel then gives a waiting async worker of
/// the same session about ten times the CPU share of a bcrypt thread (weights 1024 : 110).
const NICENESS: libc::c_int = 10;

type Job = Box<dyn FnOnce() + Send>;

pub struct BcryptPool {
    jobs: mpsc::Sender<Job>,
    /// Jobs submitted and not finished: the queue depth `/metrics` reports.
    in_flight: Arc<AtomicUsize>,
    stats: Arc<BcryptStats>,
}

/// Totals since start, for `/metrics`.
#[derive(Debug, Default)]
pub struct BcryptStats {
    pub jobs: AtomicU64,
    /// From submission to a thread taking the job.
    pub wait_nanos: AtomicU64,
    /// Hashing and verifying.
    pub work_nanos: AtomicU64,
}

impl BcryptPool {
    /// Starts `threads` threads; they end when the pool is dropped.
    pub fn new(threads: usize) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..threads.max(1) {
            let queue = Arc::clone(&queue);
            thread::Builder::new().name(format!("bcrypt-{index}")).spawn(move || {
                lower_priority();
                loop {
                    let job = match queue.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            })?;
        }
        Ok(BcryptPool { jobs, in_flight: Arc::default(), stats: Arc::default() })
    }

    /// Jobs submitted and not finished.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> &BcryptStats {
        &self.stats
    }

    /// One per core the process may use.
    pub fn per_core() -> std::io::Result<Self> {
        Self::new(thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// Runs `work` on the pool and waits for it without blocking the caller's thread; jobs queue
    /// when every thread is busy.
    pub async fn run<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (done, result) = oneshot::channel();
        let in_flight = Arc::clone(&self.in_flight);
        let stats = Arc::clone(&self.stats);
        let submitted = Instant::now();
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.jobs
            .send(Box::new(move || {
                let started = Instant::now();
                let output = work();
                // Counted before the caller can see the result, so that a scrape after the
                // response never finds the job still queued.
                stats.jobs.fetch_add(1, Ordering::Relaxed);
                stats.wait_nanos.fetch_add(nanos(started - submitted), Ordering::Relaxed);
                stats.work_nanos.fetch_add(nanos(started.elapsed()), Ordering::Relaxed);
                in_flight.fetch_sub(1, Ordering::Relaxed);
                let _ = done.send(output);
            }))
            .map_err(|_| {
                self.in_flight.fetch_sub(1, Ordering::Relaxed);
                ApiError::internal("bcrypt pool stopped")
            })?;
        result.await.map_err(|_| ApiError::internal("bcrypt job dropped"))
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Puts the calling thread in the SCHED_IDLE class: it runs on CPU time nothing else in its
/// scheduling group wants, and a waking thread of that group (this process's async workers and
/// blocking threads) preempts it at once, which a nice value alone does not do (measured: with
/// nice 10, bcrypt still took 74% of the CPU under load, 26% with SCHED_IDLE). Other sessions,
/// such as a PostgreSQL server on the same machine, get their share of the CPU first under
/// autogroup scheduling either way. Where SCHED_IDLE is refused, the thread is niced instead.
/// Going back would need privileges, which is why these threads are bcrypt's own.
fn lower_priority() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 is the calling thread; the parameter is a valid sched_param for SCHED_IDLE.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } == 0 {
        return;
    }
    // SAFETY: gettid has no arguments and cannot fail; setpriority only reads its arguments.
    let result = unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, NICENESS)
    };
    if result != 0 {
        log::warn!("cannot lower bcrypt thread priority: {}", std::io::Error::last_os_error());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn jobs_run_on_idle_priority_bcrypt_threads_and_return_their_result() {
        let pool = BcryptPool::new(2).unwrap();
        let (name, policy) = pool
            .run(|| {
                // SAFETY: pid 0 is the calling thread.
                let policy = unsafe { libc::sched_getscheduler(0) };
                (thread::current().name().map(str::to_owned), policy)
            })
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("bcrypt-"));
        assert_eq!(policy, libc::SCHED_IDLE);
    }
}
