//! What `AuthUser` reads for each request — the user's row and whether the token's session is
//! live — kept per replica in a bounded in-memory cache (moka), so that an authenticated
//! request whose user is cached makes no query and takes no blocking thread.
//!
//! Every write that changes a user's row or ends a session calls `changes::changed` in its
//! transaction: the user is dropped from this replica's cache once the work is done
//! (`db::run`), and on PostgreSQL a `NOTIFY` sent in the transaction (delivered at commit)
//! drops it on every other replica (`listener`). A lookup that missed fills the cache only if
//! no drop of its user came between its read and its fill (a stripe's epoch), so a read made
//! before a logout committed is never kept after it. While a replica's `LISTEN` connection is
//! down, its cache is emptied and not used; it is used again once the connection is back.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use super::{changes::Pending, users::User};
/// Entries live at most this long, whatever happens: a bound on what a missed drop could cost.
const TIME_TO_LIVE: Duration = Duration::from_secs(600);
/// Drops and fills of different users rarely share a stripe.
const STRIPES: usize = 256;
/// A session cached per user at most (a user keeps 50 at most, `MAX_SESSIONS_PER_USER`).
const SESSIONS_PER_ENTRY: usize = 50;

/// One user as `AuthUser` needs it, and the sessions of theirs seen live since it was read.
#[derive(Debug)]
struct Entry {
    user: User,
    sessions: Vec<String>,
}

pub struct SessionCache {
    entries: moka::sync::Cache<i64, Arc<Entry>>,
    /// Bumped at each drop of a user of the stripe: a fill that saw another value skips.
    epochs: Box<[AtomicU64]>,
    /// False while the cache must not be used (its invalidations may be missed).
    trusted: AtomicBool,
    /// Bumped at each change of trust: a fill across one skips.
    generation: AtomicU64,
}

/// A lookup: the user; or not cached, and what a fill after the database's answer needs; or
/// the cache is not to be used now.
pub enum Lookup {
    Hit(User),
    Miss(Ticket),
    Bypass,
}

/// When a missed lookup began, by its stripe's epoch and the cache's generation.
pub struct Ticket {
    epoch: u64,
    generation: u64,
}

impl SessionCache {
    /// A cache of at most `capacity` users; trusted from the start when nothing else can
    /// change the database behind it (`trusted`), else once its listener says so.
    pub fn new(capacity: u64, trusted: bool) -> Self {
        SessionCache {
            entries: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(TIME_TO_LIVE)
                .build(),
            epochs: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
            trusted: AtomicBool::new(trusted),
            generation: AtomicU64::new(0),
        }
    }

    /// The user `user_id` if cached with `session_id` among its live sessions.
    pub fn lookup(&self, user_id: i64, session_id: &str) -> Lookup {
        // Read before the entry: a drop after this makes the fill skip.
        let ticket = Ticket {
            epoch: self.stripe(user_id).load(Ordering::Acquire),
            generation: self.generation.load(Ordering::Acquire),
        };
        if !self.trusted.load(Ordering::Acquire) {
            return Lookup::Bypass;
        }
        match self.entries.get(&user_id) {
            Some(entry) if entry.sessions.iter().any(|live| live == session_id) => {
                Lookup::Hit(entry.user.clone())
            }
            _ => Lookup::Miss(ticket),
        }
    }

    /// Keeps what the database answered a missed lookup (`user`, whose session `session_id`
    /// is live), unless the user was dropped or trust changed since the lookup began.
    pub fn fill(&self, ticket: Ticket, user: &User, session_id: &str) {
        let unchanged = || {
            self.stripe(user.id).load(Ordering::Acquire) == ticket.epoch
                && self.generation.load(Ordering::Acquire) == ticket.generation
                && self.trusted.load(Ordering::Acquire)
        };
        if !unchanged() {
            return;
        }
        let mut sessions = match self.entries.get(&user.id) {
            Some(known) => known.sessions.clone(),
            None => Vec::new(),
        };
        if sessions.len() >= SESSIONS_PER_ENTRY {
            sessions.remove(0);
        }
        sessions.push(session_id.to_owned());
        self.entries.insert(user.id, Arc::new(Entry { user: user.clone(), sessions }));
        // A drop that came while it was inserted may have missed the new entry.
        if !unchanged() {
            self.entries.invalidate(&user.id);
        }
    }

    /// Drops the user: their row changed, or one of their sessions ended.
    pub fn drop_user(&self, user_id: i64) {
        self.stripe(user_id).fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate(&user_id);
    }

    /// Empties the cache and stops using it: changes may be missed from now on.
    pub fn distrust(&self) {
        self.trusted.store(false, Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate_all();
    }

    /// Empties the cache and uses it again: every change is heard from now on.
    pub fn trust(&self) {
        self.entries.invalidate_all();
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.trusted.store(true, Ordering::Release);
    }

    pub fn is_trusted(&self) -> bool {
        self.trusted.load(Ordering::Acquire)
    }

    /// Users cached now (after moka's pending work).
    pub fn len(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn stripe(&self, user_id: i64) -> &AtomicU64 {
        &self.epochs[user_id.rem_euclid(STRIPES as i64) as usize]
    }
}

impl SessionCache {
    /// Pays what a piece of work owes the cache.
    pub fn settle(&self, pending: Pending) {
        match pending {
            Pending::Users(users) => users.into_iter().for_each(|user_id| self.drop_user(user_id)),
            Pending::Everyone => {
                self.generation.fetch_add(1, Ordering::AcqRel);
                self.entries.invalidate_all();
            }
        }
    }
}
