//! What a fiber is doing, for [`Runtime::dump`](crate::Runtime::dump): running, ready to
//! run, or suspended on something (a sleep, a join, a `Deferred`, a queue, a semaphore, a
//! pool, its region's members), packed in one word of its core.
//!
//! How the word is kept: the primitive a fiber suspends on says what it waits on
//! ([`on`]) just before it returns `Pending`, into a thread-local; the interpreter whose
//! body returned `Pending` takes it ([`take`]) and stores it in the fiber's core. A body
//! that returns `Pending` without saying is waiting on a future of its own (`from_async`).
//! The interpreter marks the fiber running as each poll begins (which also clears anything a
//! primitive said and then did not suspend on), and ready to run when it yields.
//!
//! A leaf: it imports nothing from the crate but fiber ids, so that the clock and the
//! services can say what they wait on without depending on the fiber core.

use std::cell::Cell;
use std::sync::LazyLock;
use std::time::Duration;

use super::id::FiberId;

/// The word's top bits say what kind of state it is; the rest is its payload.
const KIND_SHIFT: u32 = 58;
const PAYLOAD: u64 = (1 << KIND_SHIFT) - 1;

const READY: u64 = 0;
const RUNNING: u64 = 1;
const EXTERNAL: u64 = 2;
const SLEEP_VIRTUAL: u64 = 3;
const SLEEP_LIVE: u64 = 4;
const JOIN: u64 = 5;
const DEFERRED: u64 = 6;
const QUEUE_TAKE: u64 = 7;
const QUEUE_OFFER: u64 = 8;
const SEMAPHORE: u64 = 9;
const POOL: u64 = 10;
const CLOSING: u64 = 11;
const MEMBERS: u64 = 12;
const NEVER: u64 = 13;

/// The state of a fiber never polled yet, or one that yielded: ready to run.
pub(crate) const READY_WORD: u64 = READY << KIND_SHIFT;
/// The state of a fiber being polled now.
pub(crate) const RUNNING_WORD: u64 = RUNNING << KIND_SHIFT;
const EXTERNAL_WORD: u64 = EXTERNAL << KIND_SHIFT;

thread_local! {
    /// What the primitive polled last on this thread said it waits on.
    static SAID: Cell<u64> = const { Cell::new(EXTERNAL_WORD) };
}

/// Live sleeps' deadlines are kept as nanoseconds after this instant.
static LIVE_BASE: LazyLock<tokio::time::Instant> = LazyLock::new(tokio::time::Instant::now);

fn word(kind: u64, payload: u64) -> u64 {
    (kind << KIND_SHIFT) | payload.min(PAYLOAD)
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// What a primitive waits on; [`on`] it just before returning `Pending`.
#[derive(Clone, Copy)]
pub(crate) enum Wait {
    /// A sleep on a test clock, until this virtual time.
    VirtualSleep(Duration),
    /// A sleep on tokio's timer, until this deadline.
    LiveSleep(tokio::time::Instant),
    /// Another fiber's end.
    Join(FiberId),
    /// A `Deferred`'s value (its address: the same for every fiber waiting on it).
    Deferred(usize),
    /// A queue's next item.
    QueueTake(usize),
    /// Room in a full queue.
    QueueOffer(usize),
    /// A semaphore's permits.
    Semaphore(usize),
    /// A pool's item.
    Pool(usize),
    /// Its region's members to finish, after interrupting them (this many still running).
    Closing(usize),
    /// Its region's members (a race's, a group's) to report (this many running).
    Members(usize),
    /// Nothing: `never`, which ends only when interrupted.
    Never,
}

impl Wait {
    fn word(self) -> u64 {
        match self {
            Wait::VirtualSleep(until) => word(SLEEP_VIRTUAL, nanos(until)),
            Wait::LiveSleep(deadline) => word(
                SLEEP_LIVE,
                nanos(deadline.saturating_duration_since(*LIVE_BASE)),
            ),
            Wait::Join(fiber) => word(JOIN, fiber.0),
            Wait::Deferred(at) => word(DEFERRED, at as u64),
            Wait::QueueTake(at) => word(QUEUE_TAKE, at as u64),
            Wait::QueueOffer(at) => word(QUEUE_OFFER, at as u64),
            Wait::Semaphore(at) => word(SEMAPHORE, at as u64),
            Wait::Pool(at) => word(POOL, at as u64),
            Wait::Closing(children) => word(CLOSING, children as u64),
            Wait::Members(running) => word(MEMBERS, running as u64),
            Wait::Never => word(NEVER, 0),
        }
    }
}

/// Says that the primitive being polled waits on `wait` (it is about to return `Pending`).
#[inline]
pub(crate) fn on(wait: Wait) {
    let word = wait.word();
    let _ = SAID.try_with(|said| said.set(word));
}

/// `future`, saying it waits on `wait` each time it returns `Pending`.
pub(crate) async fn marked<F: std::future::Future>(wait: Wait, future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        let polled = future.as_mut().poll(cx);
        if polled.is_pending() {
            on(wait);
        }
        polled
    })
    .await
}

/// The address of a shared object, to tell it apart in a dump.
pub(crate) fn address<T: ?Sized>(shared: &std::sync::Arc<T>) -> usize {
    std::sync::Arc::as_ptr(shared) as *const () as usize
}

/// What the last primitive polled said it waits on (a future of the body's own if none
/// did), forgotten here.
#[inline]
pub(crate) fn take() -> u64 {
    SAID.try_with(|said| said.replace(EXTERNAL_WORD))
        .unwrap_or(EXTERNAL_WORD)
}

/// Forgets what a primitive said (a poll begins: whatever was said before is stale).
#[inline]
pub(crate) fn clear() {
    let _ = SAID.try_with(|said| said.set(EXTERNAL_WORD));
}

/// What a fiber is doing, as a [`Runtime::dump`](crate::Runtime::dump) shows it.
///
/// ```
/// use effect::dump::{FiberStatus, WaitingOn};
/// use effect::FiberId;
///
/// let status = FiberStatus::Waiting(WaitingOn::Join(FiberId::NONE));
/// assert_eq!(status.to_string(), "waiting: join of fiber #0");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FiberStatus {
    /// Being run by a worker thread right now.
    Running,
    /// Ready to run: not started yet, or yielded to let other work run.
    Ready,
    /// Suspended until what it waits on happens.
    Waiting(WaitingOn),
}

/// What a suspended fiber waits on.
///
/// Objects shared by fibers (a `Deferred`, a queue, a semaphore, a pool) are told apart by
/// an `id`, the same for every fiber waiting on the same object: two fibers each waiting on
/// a semaphore the other holds show up as waiting on each other's ids.
///
/// ```
/// use effect::prelude::*;
/// use effect::dump::{FiberStatus, WaitingOn};
/// use effect::{Clock, Context, Runtime, TestClock};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let clock = TestClock::new();
/// let runtime = Runtime::new(Context::new().with(Clock::from(clock.clone())));
/// let sleeper = runtime.fork(sleep::<Never>(secs(5)));
/// let joiner = runtime.fork(sleeper.join());
/// clock.advance(secs(0)).await; // returns once both wait
/// let dump = runtime.dump();
/// let waits: Vec<String> = dump.fibers().iter().map(|f| f.status.to_string()).collect();
/// assert_eq!(
///     waits,
///     [
///         "waiting: sleep until virtual time 5s".to_string(),
///         format!("waiting: join of fiber {}", dump.fibers()[0].id),
///     ]
/// );
/// runtime.shutdown().await;
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitingOn {
    /// A sleep on a [`TestClock`](crate::TestClock), until virtual time `until`.
    VirtualSleep {
        /// The virtual time (since the clock's start) the sleep ends at.
        until: Duration,
    },
    /// A sleep on the live clock, ending `remaining` after the dump was taken (zero when its
    /// deadline passed and it has not been run since).
    Sleep {
        /// How long the sleep has left.
        remaining: Duration,
    },
    /// The end of another fiber (`join`, `await_exit`, `interrupt`).
    Join(FiberId),
    /// A [`Deferred`](crate::Deferred)'s value.
    Deferred {
        /// Which `Deferred`.
        id: u64,
    },
    /// An item from an empty [`Queue`](crate::Queue).
    QueueTake {
        /// Which queue.
        id: u64,
    },
    /// Room in a full [`Queue`](crate::Queue).
    QueueOffer {
        /// Which queue.
        id: u64,
    },
    /// Permits of a [`Semaphore`](crate::Semaphore).
    Semaphore {
        /// Which semaphore.
        id: u64,
    },
    /// An item of a [`Pool`](crate::Pool) (or of a [`KeyedPool`](crate::KeyedPool)'s key).
    Pool {
        /// Which pool.
        id: u64,
    },
    /// Its children to finish: the fiber is ending, or leaving a scope, and has interrupted
    /// the fibers it owns there; `children` of them are still running their finalizers.
    Closing {
        /// The children not finished yet.
        children: usize,
    },
    /// The members of a combinator it runs (a race's branches, a `zip_par`'s effects, a
    /// `for_each_par`'s work) to finish.
    Members {
        /// The members still running.
        running: usize,
    },
    /// Nothing: [`never`](crate::never), which ends only when interrupted.
    Never,
    /// An external future: an effect made with [`from_async`](crate::from_async) or
    /// [`attempt_async`](crate::attempt_async), or another of the library's bodies that
    /// names nothing it waits on.
    External,
}

impl FiberStatus {
    /// The status a core's word packs.
    pub(crate) fn from_word(word: u64) -> FiberStatus {
        let payload = word & PAYLOAD;
        let count = usize::try_from(payload).unwrap_or(usize::MAX);
        let waiting = match word >> KIND_SHIFT {
            READY => return FiberStatus::Ready,
            RUNNING => return FiberStatus::Running,
            SLEEP_VIRTUAL => WaitingOn::VirtualSleep {
                until: Duration::from_nanos(payload),
            },
            SLEEP_LIVE => {
                let deadline = *LIVE_BASE + Duration::from_nanos(payload);
                WaitingOn::Sleep {
                    remaining: deadline.saturating_duration_since(tokio::time::Instant::now()),
                }
            }
            JOIN => WaitingOn::Join(FiberId(payload)),
            DEFERRED => WaitingOn::Deferred { id: payload },
            QUEUE_TAKE => WaitingOn::QueueTake { id: payload },
            QUEUE_OFFER => WaitingOn::QueueOffer { id: payload },
            SEMAPHORE => WaitingOn::Semaphore { id: payload },
            POOL => WaitingOn::Pool { id: payload },
            CLOSING => WaitingOn::Closing { children: count },
            MEMBERS => WaitingOn::Members { running: count },
            NEVER => WaitingOn::Never,
            _ => WaitingOn::External,
        };
        FiberStatus::Waiting(waiting)
    }
}

impl std::fmt::Display for FiberStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FiberStatus::Running => f.write_str("running"),
            FiberStatus::Ready => f.write_str("ready to run"),
            FiberStatus::Waiting(on) => write!(f, "waiting: {on}"),
        }
    }
}

impl std::fmt::Display for WaitingOn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WaitingOn::VirtualSleep { until } => {
                write!(f, "sleep until virtual time {until:?}")
            }
            WaitingOn::Sleep { remaining } => write!(f, "sleep, {remaining:.1?} left"),
            WaitingOn::Join(fiber) => write!(f, "join of fiber {fiber}"),
            WaitingOn::Deferred { id } => write!(f, "Deferred @{id:x}"),
            WaitingOn::QueueTake { id } => write!(f, "take from queue @{id:x} (empty)"),
            WaitingOn::QueueOffer { id } => write!(f, "offer to queue @{id:x} (full)"),
            WaitingOn::Semaphore { id } => write!(f, "permits of semaphore @{id:x}"),
            WaitingOn::Pool { id } => write!(f, "an item of pool @{id:x}"),
            WaitingOn::Closing { children } => {
                write!(f, "closing: {children} child fiber(s) still finishing")
            }
            WaitingOn::Members { running } => {
                write!(f, "{running} member(s) of a race or group")
            }
            WaitingOn::Never => f.write_str("never (until interrupted)"),
            WaitingOn::External => f.write_str("an external future (from_async)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_wait_packs_into_a_word_and_back() {
        let cases = [
            (
                Wait::VirtualSleep(Duration::from_secs(90)),
                WaitingOn::VirtualSleep {
                    until: Duration::from_secs(90),
                },
            ),
            (Wait::Join(FiberId(77)), WaitingOn::Join(FiberId(77))),
            (Wait::Deferred(0x1000), WaitingOn::Deferred { id: 0x1000 }),
            (Wait::QueueTake(8), WaitingOn::QueueTake { id: 8 }),
            (Wait::QueueOffer(16), WaitingOn::QueueOffer { id: 16 }),
            (Wait::Semaphore(24), WaitingOn::Semaphore { id: 24 }),
            (Wait::Pool(32), WaitingOn::Pool { id: 32 }),
            (Wait::Closing(3), WaitingOn::Closing { children: 3 }),
            (Wait::Members(2), WaitingOn::Members { running: 2 }),
            (Wait::Never, WaitingOn::Never),
        ];
        for (wait, expected) in cases {
            on(wait);
            assert_eq!(
                FiberStatus::from_word(take()),
                FiberStatus::Waiting(expected)
            );
        }
        // Nothing said: a future of the body's own; taking forgets what was said.
        assert_eq!(
            FiberStatus::from_word(take()),
            FiberStatus::Waiting(WaitingOn::External)
        );
        on(Wait::Join(FiberId(1)));
        clear();
        assert_eq!(
            FiberStatus::from_word(take()),
            FiberStatus::Waiting(WaitingOn::External)
        );
        assert_eq!(FiberStatus::from_word(READY_WORD), FiberStatus::Ready);
        assert_eq!(FiberStatus::from_word(RUNNING_WORD), FiberStatus::Running);
    }

    #[test]
    fn a_live_sleep_reports_the_time_it_has_left_and_never_less_than_zero() {
        let now = tokio::time::Instant::now();
        on(Wait::LiveSleep(now + Duration::from_secs(30)));
        let FiberStatus::Waiting(WaitingOn::Sleep { remaining }) = FiberStatus::from_word(take())
        else {
            panic!("a live sleep")
        };
        assert!(remaining <= Duration::from_secs(30) && remaining > Duration::from_secs(29));
        on(Wait::LiveSleep(now));
        assert_eq!(
            FiberStatus::from_word(take()),
            FiberStatus::Waiting(WaitingOn::Sleep {
                remaining: Duration::ZERO
            })
        );
    }

    #[test]
    fn payloads_too_large_for_the_word_are_clamped_not_mixed_into_the_kind() {
        on(Wait::VirtualSleep(Duration::MAX));
        let FiberStatus::Waiting(WaitingOn::VirtualSleep { until }) =
            FiberStatus::from_word(take())
        else {
            panic!("still a virtual sleep")
        };
        assert_eq!(until, Duration::from_nanos(PAYLOAD));
    }
}
