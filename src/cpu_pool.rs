//! Threads of their own for CPU-bound work that a request waits for: bcrypt, and decoding and
//! re-encoding pictures. One per core, at the lowest CPU priority (SCHED_IDLE): a burst of
//! logins or uploads then uses every core without taking them from the async workers, so token
//! checks stay fast while it lasts. Neither the async workers nor actix's blocking pool
//! (hundreds of threads, shared with diesel) ever run this work, and what waits for a thread is
//! bounded: a full queue, or a wait past its limit, is 503 at the door.

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
/// the same session about ten times the CPU share of a pool thread (weights 1024 : 110).
const NICENESS: libc::c_int = 10;

type Job = Box<dyn FnOnce() + Send>;

pub struct CpuPool {
    jobs: mpsc::SyncSender<Job>,
    /// Jobs submitted and not finished: the queue depth `/metrics` reports.
    in_flight: Arc<AtomicUsize>,
    stats: Arc<JobStats>,
    limits: QueueLimits,
}

/// How much work may wait for a thread: a queue of bounded length, and a bounded wait. A
/// storm of logins or uploads is shed with 503 at the door instead of queueing for tens of
/// seconds in front of a real user's.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    /// Jobs waiting (running ones not counted); one more is refused at once.
    pub capacity: usize,
    /// A job that waited longer is dropped when a thread reaches it: its caller has had 503.
    pub max_wait: Duration,
}

/// Totals since start, for `/metrics`.
#[derive(Debug, Default)]
pub struct JobStats {
    pub jobs: AtomicU64,
    /// From submission to a thread taking the job.
    pub wait_nanos: AtomicU64,
    /// Running.
    pub work_nanos: AtomicU64,
    /// Refused because the queue was full.
    pub refused_full: AtomicU64,
    /// Not run: the caller had gone (a closed connection) when a thread reached it.
    pub skipped_abandoned: AtomicU64,
    /// Not run: it had waited longer than `max_wait`.
    pub dropped_late: AtomicU64,
}

impl CpuPool {
    /// Starts `threads` threads named `name-N`; they end when the pool is dropped.
    pub fn new(name: &str, threads: usize, limits: QueueLimits) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::sync_channel::<Job>(limits.capacity);
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..threads.max(1) {
            let queue = Arc::clone(&queue);
            thread::Builder::new().name(format!("{name}-{index}")).spawn(move || {
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
        Ok(CpuPool { jobs, in_flight: Arc::default(), stats: Arc::default(), limits })
    }

    /// Jobs submitted and not finished.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> &JobStats {
        &self.stats
    }

    /// One thread per core the process may use.
    pub fn per_core(name: &str, limits: QueueLimits) -> std::io::Result<Self> {
        Self::new(name, cores(), limits)
    }

    /// Runs `work` on the pool and waits for it without blocking the caller's thread. Jobs
    /// queue when every thread is busy; a full queue, or a wait past `max_wait`, answers 503
    /// (`ApiError::Busy`); a job whose caller has gone is never run.
    pub async fn run<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (done, result) = oneshot::channel::<Option<T>>();
        let in_flight = Arc::clone(&self.in_flight);
        let stats = Arc::clone(&self.stats);
        let (submitted, max_wait) = (Instant::now(), self.limits.max_wait);
        let job: Job = Box::new(move || {
            let started = Instant::now();
            let output = if done.is_closed() {
                stats.skipped_abandoned.fetch_add(1, Ordering::Relaxed);
                None
            } else if started - submitted > max_wait {
                stats.dropped_late.fetch_add(1, Ordering::Relaxed);
                None
            } else {
                let output = work();
                stats.jobs.fetch_add(1, Ordering::Relaxed);
                stats.wait_nanos.fetch_add(nanos(started - submitted), Ordering::Relaxed);
                stats.work_nanos.fetch_add(nanos(started.elapsed()), Ordering::Relaxed);
                Some(output)
            };
            // Counted before the caller can see the result, so that a scrape after the
            // response never finds the job still queued.
            in_flight.fetch_sub(1, Ordering::Relaxed);
            let _ = done.send(output);
        });
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        if let Err(refused) = self.jobs.try_send(job) {
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
            return Err(match refused {
                mpsc::TrySendError::Full(_) => {
                    self.stats.refused_full.fetch_add(1, Ordering::Relaxed);
                    self.busy()
                }
                mpsc::TrySendError::Disconnected(_) => ApiError::internal("CPU pool stopped"),
            });
        }
        match result.await {
            Ok(Some(output)) => Ok(output),
            Ok(None) => Err(self.busy()),
            Err(_) => Err(ApiError::internal("CPU pool job dropped")),
        }
    }

    /// 503, retried after about the longest a queued job may wait.
    fn busy(&self) -> ApiError {
        ApiError::Busy { retry_after_secs: self.limits.max_wait.as_secs().max(1) }
    }
}

/// The cores this process may use.
pub fn cores() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
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
/// Going back would need privileges, which is why these threads are the pool's own.
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
        log::warn!(
            "cannot lower {} thread priority: {}",
            thread::current().name().unwrap_or("pool"),
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(test)]
mod tests {
    use std::{pin::Pin, sync::atomic::AtomicBool};

    use super::*;

    const LIMITS: QueueLimits = QueueLimits { capacity: 1, max_wait: Duration::from_secs(60) };

    /// Polls once: the job is submitted then, and still waiting.
    fn pending<F: Future + Unpin>(future: &mut F) -> bool {
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        Pin::new(future).poll(&mut context).is_pending()
    }

    /// A job that holds the pool's one thread until `release` sends, and its caller's future.
    async fn occupy(
        pool: &CpuPool,
    ) -> (std::sync::mpsc::Sender<()>, Pin<Box<impl Future<Output = Result<(), ApiError>> + '_>>)
    {
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let (started, running) = oneshot::channel();
        let mut job = Box::pin(pool.run(move || {
            let _ = started.send(());
            let _ = hold.recv();
        }));
        // Polled until a thread has taken it, so that what comes after it waits in the queue.
        tokio::select! {
            _ = &mut job => unreachable!("the job waits for its release"),
            _ = running => {}
        }
        (release, job)
    }

    #[actix_web::test]
    async fn jobs_run_on_idle_priority_named_threads_and_return_their_result() {
        let pool = CpuPool::new("bcrypt", 2, LIMITS).unwrap();
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

    #[actix_web::test]
    async fn a_full_queue_refuses_at_once_with_503() {
        let pool = CpuPool::new("test", 1, LIMITS).unwrap();
        let (release, running) = occupy(&pool).await;
        let mut queued = Box::pin(pool.run(|| 1));
        // Polled once: it is in the queue now, which holds one.
        assert!(pending(&mut queued));
        let refused = pool.run(|| 2).await;
        assert!(matches!(refused, Err(ApiError::Busy { retry_after_secs: 60 })), "{refused:?}");
        assert_eq!(pool.stats().refused_full.load(Ordering::Relaxed), 1);
        release.send(()).unwrap();
        running.await.unwrap();
        assert_eq!(queued.await.unwrap(), 1);
    }

    #[actix_web::test]
    async fn a_job_whose_caller_is_gone_is_never_run() {
        let pool = CpuPool::new("test", 1, QueueLimits { capacity: 2, ..LIMITS }).unwrap();
        let (release, running) = occupy(&pool).await;
        let ran = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&ran);
        let mut abandoned = Box::pin(pool.run(move || flag.store(true, Ordering::SeqCst)));
        assert!(pending(&mut abandoned));
        drop(abandoned);
        release.send(()).unwrap();
        running.await.unwrap();
        // The next job runs after the abandoned one was taken (and skipped).
        pool.run(|| ()).await.unwrap();
        assert!(!ran.load(Ordering::SeqCst));
        assert_eq!(pool.stats().skipped_abandoned.load(Ordering::Relaxed), 1);
        assert_eq!(pool.in_flight(), 0);
    }

    #[actix_web::test]
    async fn a_job_that_waited_too_long_is_dropped_with_503() {
        let limits = QueueLimits { capacity: 4, max_wait: Duration::from_millis(20) };
        let pool = CpuPool::new("test", 1, limits).unwrap();
        let (release, running) = occupy(&pool).await;
        let ran = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&ran);
        let mut late = Box::pin(pool.run(move || flag.store(true, Ordering::SeqCst)));
        assert!(pending(&mut late));
        std::thread::sleep(Duration::from_millis(50));
        release.send(()).unwrap();
        running.await.unwrap();
        assert!(matches!(late.await, Err(ApiError::Busy { retry_after_secs: 1 })));
        assert!(!ran.load(Ordering::SeqCst));
        assert_eq!(pool.stats().dropped_late.load(Ordering::Relaxed), 1);
    }
}
