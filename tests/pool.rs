//! Pool and KeyedPool: growth to the maximum and no further, shrinking at the exact virtual
//! instant, waiters in order, interrupted waiters taking nothing, failed acquisitions
//! reported and retried, invalidation, closing with items checked out, and, throughout,
//! every item released exactly once and never held by two at once. Each scenario runs on
//! both runtime flavours, with `live_fibers() == 0` checked after it.

use crate::common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use common::Log;
use effect::prelude::*;
use effect::{Deferred, Fiber, KeyedPool, Pool};

crate::effect_tests_on_both_flavours! {
    pools:
    the_minimum_is_made_up_front_and_the_pool_grows_to_its_maximum_only => grows_to_max;
    idle_items_go_first_most_recently_returned_first => reuses_idle;
    waiters_are_served_first_come_first_served => waiters_in_order;
    a_returned_item_goes_straight_to_the_first_waiter => hand_off_to_waiter;
    an_interrupted_waiter_takes_nothing_and_loses_nothing => interrupted_waiter;
    an_interrupt_storm_of_a_thousand_gets_leaks_and_duplicates_nothing => interrupt_storm;
    a_waiter_interrupted_after_being_handed_an_item_passes_it_on => granted_item_interrupted;
    a_waiter_interrupted_after_being_granted_a_slot_passes_it_on => granted_slot_interrupted;
    a_failed_acquisition_is_reported_to_its_get_and_retried_on_the_next => failed_acquisition;
    an_acquisition_interrupted_midway_releases_what_it_acquired => interrupted_acquisition;
    invalidated_items_are_released_and_replaced => invalidation;
    an_item_invalidated_once_handed_to_a_waiter_is_taken_back_and_replaced => invalidate_handed;
    an_invalidation_interrupted_while_it_releases_still_settles_the_slot => invalidate_interrupted;
    the_pool_shrinks_back_to_its_minimum_at_the_exact_instant => ttl_shrink;
    closing_waits_for_checked_out_items_and_releases_each_once => closing;
    make_fails_with_the_first_failed_acquisition_and_releases_the_rest => make_fails;
    bad_sizes_and_uses_are_refused_clearly => bad_arguments;
    keyed_pools_have_a_maximum_per_key_and_independent_keys => keyed_limits;
    idle_keys_are_released_after_their_time_to_live => keyed_ttl;
    a_keyed_pool_closes_every_key => keyed_closing;
}

/// An item: its number, in the order made.
#[derive(Clone, Debug, PartialEq)]
struct Conn(u32);

/// Counts what a pool does with its items.
#[derive(Clone, Default)]
struct Tracker {
    made: Arc<AtomicU32>,
    released: Arc<Mutex<Vec<u32>>>,
    /// How many hold each item now.
    holders: Arc<Mutex<HashMap<u32, u32>>>,
    most_held_at_once: Arc<AtomicU32>,
}

impl Tracker {
    /// An acquisition of a new `Conn`, released (and recorded) when the pool releases it.
    fn acquire(&self) -> Effect<Conn, String> {
        let (made, released) = (self.made.clone(), self.released.clone());
        acquire_release(
            sync(move || Conn(made.fetch_add(1, Ordering::SeqCst))),
            move |conn, _| sync(move || released.lock().unwrap().push(conn.0)),
        )
    }

    /// Holds `conn` while `effect` runs, checking nobody else holds it. A bracket, not
    /// `ensuring`: a holder interrupted before it took the item must not give it back.
    fn hold<A: Send + 'static>(&self, conn: &Conn, effect: Effect<A, String>) -> Effect<A, String> {
        let (enter, leave, id) = (self.clone(), self.clone(), conn.0);
        acquire_use_release(
            sync(move || {
                let mut holders = enter.holders.lock().unwrap();
                let count = holders.entry(id).or_default();
                *count += 1;
                assert_eq!(*count, 1, "item {id} handed to two holders at once");
                let held = holders.values().filter(|n| **n > 0).count() as u32;
                enter.most_held_at_once.fetch_max(held, Ordering::SeqCst);
            }),
            move |()| effect,
            move |(), _| {
                sync(move || {
                    *leave.holders.lock().unwrap().get_mut(&id).unwrap() -= 1;
                })
            },
        )
    }

    fn made(&self) -> u32 {
        self.made.load(Ordering::SeqCst)
    }

    fn released(&self) -> Vec<u32> {
        let mut released = self.released.lock().unwrap().clone();
        released.sort_unstable();
        released
    }

    /// Every item made was released, once.
    fn all_released_once(&self) {
        assert_eq!(self.released(), (0..self.made()).collect::<Vec<_>>());
    }
}

/// A get that holds its item until `gate` completes, then returns the item's number.
fn hold_until(
    pool: &Pool<Conn, String>,
    tracker: &Tracker,
    gate: &Deferred<()>,
) -> Effect<u32, String> {
    let (tracker, gate) = (tracker.clone(), gate.clone());
    scoped(pool.get().flat_map(move |conn| {
        let id = conn.0;
        tracker.hold(&conn, gate.wait()).map(move |()| id)
    }))
}

/// The holder gives its item back to the pool, which hands it to the waiting get, and then
/// invalidates it, before the waiter has run: the item is taken back from the waiter and
/// released, and the waiter gets a new one (an invalidation was once lost here).
fn invalidate_handed(clock: TestClock) -> Effect<(), String> {
    let tracker = Tracker::default();
    let acquire = tracker.clone();
    let check = tracker.clone();
    scoped(effect_block! {
        let pool = Pool::make(move || acquire.acquire(), 0..=1)?;
        let (holding, invalidating) = (pool.clone(), pool.clone());
        let holder = scoped(holding.get().flat_map(|conn| sleep(ms(10)).as_value(conn)))
            .flat_map(move |conn| invalidating.invalidate(&conn).as_value(conn.0))
            .fork()?;
        clock.advance(ms(1)).await;
        let waiter = scoped(pool.get().map(|c| c.0)).fork()?;
        clock.advance(ms(10)).await;
        assert_eq!(holder.join()?, 0);
        let waited = waiter.join()?;
        if std::env::var_os("EFFECT_PERTURB").is_none() {
            assert_eq!(waited, 1, "the waiter got a new item, not the invalidated one");
        } else {
            // Random yields may let the waiter run before the invalidation: it used item 0
            // and gave it back, and the invalidation then found it idle. What follows holds
            // either way.
            assert!(waited <= 1);
        }
        assert_eq!(tracker.released(), vec![0]);
        assert_eq!(scoped(pool.get().map(|c| c.0))?, 1);
        assert_eq!((pool.size(), pool.idle(), pool.waiting()), (1, 1, 0));
    })
    .flat_map(move |()| {
        check.all_released_once();
        succeed(())
    })
}

/// An idle item's invalidation is cut short (a timeout) while the item's release runs: the
/// release finishes, its slot is settled, and the pool closes (it once waited forever).
fn invalidate_interrupted(clock: TestClock) -> Effect<(), String> {
    let released = Arc::new(AtomicU32::new(0));
    let counted = released.clone();
    let program = scoped(effect_block! {
        let pool = Pool::make(
            move || {
                let counted = counted.clone();
                acquire_release(succeed::<Conn, String>(Conn(0)), move |_, _| {
                    let counted = counted.clone();
                    sleep(ms(100)).flat_map(move |()| sync(move || { counted.fetch_add(1, Ordering::SeqCst); }))
                })
            },
            0..=1,
        )?;
        let conn = scoped(pool.get())?;
        // The deadline passes while the release runs, which it does not interrupt.
        let _cut_short = pool.invalidate::<String>(&conn).timeout(ms(50))?;
        (pool.size(), pool.idle())
    });
    effect_block! {
        let closed = program.fork()?;
        clock.advance(ms(100)).await;
        assert_eq!(closed.join()?, (0, 0));
        assert_eq!(released.load(Ordering::SeqCst), 1);
    }
}

fn grows_to_max(clock: TestClock) -> Effect<(), String> {
    let tracker = Tracker::default();
    let acquire = tracker.clone();
    let pool_tracker = tracker.clone();
    scoped(effect_block! {
        let pool = Pool::make(move || acquire.acquire(), 2..=4)?;
        assert_eq!((pool.size(), pool.idle(), tracker.made()), (2, 2, 2));
        let gate = Deferred::<()>::new();
        let holders: Vec<_> = (0..6).map(|_| hold_until(&pool, &tracker, &gate)).collect();
        let all = for_each_par(holders, |h| h, 6).fork()?;
        clock.advance(ms(1)).await;
        assert_eq!((pool.size(), pool.in_use(), pool.waiting()), (4, 4, 2));
        assert_eq!(tracker.made(), 4, "grown to the maximum, not past it");
        gate.complete::<String>(())?;
        all.join()?;
        assert_eq!(tracker.most_held_at_once.load(Ordering::SeqCst), 4);
        assert_eq!((pool.size(), pool.idle(), pool.in_use()), (4, 4, 0));
    })
    .flat_map(move |()| {
        pool_tracker.all_released_once();
        succeed(())
    })
}

fn reuses_idle(_clock: TestClock) -> Effect<(), String> {
    let tracker = Tracker::default();
    let acquire = tracker.clone();
    scoped(effect_block! {
        let pool = Pool::make(move || acquire.acquire(), 0..=3)?;
        let first = scoped(pool.get().zip(pool.get()).map(|(a, b)| (a.0, b.0)))?;
        assert_eq!(first, (0, 1));
        // Returned in reverse order of acquisition: 1, then 0. The last returned goes first.
        let again = scoped(pool.get().map(|c| c.0))?;
        assert_eq!(again, 0);
        assert_eq!(tracker.made(), 2, "nothing new was made");
    })
}

fn waiters_in_order(clock: TestClock) -> Effect<(), String> {
    let tracker = Tracker::default();
    let acquire = tracker.clone();
    scoped(effect_block! {
        let pool = Pool::make(move || acquire.acquire(), 1..=1)?;
        let gate = Deferred::<()>::new();
        let holder = hold_until(&pool, &tracker, &gate).fork()?;
        clock.advance(ms(1)).await;
        let log = Log::default();
        let mut waiters = Vec::new();
        for i in 0..5 {
            let log = log.clone();
            waiters.push(scoped(pool.get().flat_map(move |_| log.note::<String>(&i.to_string()))).fork()?);
            clock.advance(ms(1)).await;
        }
        assert_eq!(pool.waiting(), 5);
        gate.complete::<String>(())?;
        holder.join()?;
        for waiter in waiters {
            waiter.join()?;
        }
        assert_eq!(log.events(), ["0", "1", "2", "3", "4"]);
    })
}

fn hand_off_to_waiter(clock: TestClock) -> Effect<(), String> {
    let tracker = Tracker::default();
    let acquire = tracker.clone();
    scoped(effect_block! {
        let pool = Pool::make(move || acquire.acquire(), 1..=1)?;
        let gate = Deferred::<()>::new();
        let holder = hold_until(&pool, &tracker, &gate).fork()?;
        clock.advance(ms(1)).await;
        let waiter = scoped(pool.get().map(|c| c.0)).fork()?;
        clock.advance(ms(1)).await;
        gate.complete::<String>(())?;
        holder.join()?;
        assert_eq!(waiter.join()?, 0, "the same item, handed over");
        assert_eq!(pool.idle(), 1);
    })
}

fn interrupted_waiter(clock: TestClock) -> Effect<(), String> {
    let tracker = Tracker::default();
    let acquire = tracker.clone();
    scoped(effect_block! {
        let pool = Pool::make(move || acquire.acquire(), 1..=1)?;
        let gate = Deferred::<()>::new();
        let holder = hold_until(&pool, &tracker, &gate).fork()?;
        clock.advance(ms(1)).await;
        let doomed = scoped(pool.get().map(|c| c.0)).fork()?;
        clock.advance(ms(1)).await;
        let next = scoped(pool.get().map(|c| c.0)).fork()?;
        clock.advance(ms(1)).await;
        assert_eq!(pool.waiting(), 2);
        assert!(doomed.interrupt()?.unwrap_err().is_interrupted());
        assert_eq!(pool.waiting(), 1);
        gate.complete::<String>(())?;
        holder.join()?;
        assert_eq!(next.join()?, 0, "the next waiter got the item");
        assert_eq!((pool.size(), pool.idle(), tracker.made()), (1, 1, 1));
    })
}

fn interrupt_storm(clock: TestClock) -> Effect<(), String> {
    let tracker = Tracker::default();
    let acquire = tracker.clone();
    let check = tracker.clone();
    scoped(effect_block! {
        let pool = Pool::make(move || acquire.acquire(), 2..=8)?;
        let gate = Deferred::<()>::new();
        let mut fibers = Vec::new();
        for _ in 0..1_000 {
            fibers.push(hold_until(&pool, &tracker, &gate).fork()?);
        }
        clock.advance(ms(1)).await;
        assert_eq!((pool.in_use(), pool.waiting()), (8, 992));
        let mut kept = Vec::new();
        for (i, fiber) in fibers.into_iter().enumerate() {
            if i % 3 == 1 {
                let _ = fiber.interrupt()?;
            } else {
                kept.push(fiber);
            }
        }
        gate.complete::<String>(())?;
        for fiber in kept {
            fiber.join()?;
        }
        assert_eq!((pool.in_use(), pool.waiting(), pool.size()), (0, 0, 8));
        assert_eq!(tracker.made(), 8, "never more than the maximum");
        assert!(tracker.most_held_at_once.load(Ordering::SeqCst) <= 8);
    })
    .flat_map(move |()| {
        check.all_released_once();
        succeed(())
    })
}

/// The holder returns its item, which is handed to the first waiter; the waiter is
/// interrupted before it takes it (on one thread, before it runs at all): the item goes to
/// the next waiter, and nothing is counted twice or lost.
fn granted_item_interrupted(clock: TestClock) -> Effect<(), String> {
    let tracker = Tracker::default();
    let acquire = tracker.clone();
    let check = tracker.clone();
    scoped(effect_block! {
        let pool = Pool::make(move || acquire.acquire(), 1..=1)?;
        let gate = Deferred::<()>::new();
        let holder = hold_until(&pool, &tracker, &gate).fork()?;
        clock.advance(ms(1)).await;
        let first = scoped(pool.get().map(|c| c.0)).fork()?;
        clock.advance(ms(1)).await;
        let second = scoped(pool.get().map(|c| c.0)).fork()?;
        clock.advance(ms(1)).await;
        gate.complete::<String>(())?;
        holder.join()?; // returned, and handed to `first`
        let _ = first.interrupt()?;
        assert_eq!(second.join()?, 0, "the item went on to the next waiter");
        assert_eq!((pool.size(), pool.idle(), pool.waiting(), tracker.made()), (1, 1, 0, 1));
    })
    .flat_map(move |()| {
        check.all_released_once();
        succeed(())
    })
}

/// An invalidated item's release grants its slot to the first waiter; the waiter is
/// interrupted before it acquires: the slot goes to the next waiter, not counted twice.
fn granted_slot_interrupted(clock: TestClock) -> Effect<(), String> {
    let tracker = Tracker::default();
    let acquire = tracker.clone();
    let check = tracker.clone();
    scoped(effect_block! {
        let pool = Pool::make(move || acquire.acquire(), 1..=1)?;
        let gate = Deferred::<()>::new();
        let holder = hold_until(&pool, &tracker, &gate).fork()?;
        clock.advance(ms(1)).await;
        let first = scoped(pool.get().map(|c| c.0)).fork()?;
        clock.advance(ms(1)).await;
        let second = scoped(pool.get().map(|c| c.0)).fork()?;
        clock.advance(ms(1)).await;
        pool.invalidate::<String>(&Conn(0))?;
        gate.complete::<String>(())?;
        holder.join()?; // released, and its slot granted to `first`
        let _ = first.interrupt()?;
        let got = second.join()?;
        assert!(got == 1 || got == 2, "a new item for the next waiter: {got}");
        assert_eq!((pool.size(), pool.waiting()), (1, 0), "one slot, counted once");
    })
    .flat_map(move |()| {
        check.all_released_once();
        succeed(())
    })
}

fn failed_acquisition(clock: TestClock) -> Effect<(), String> {
    let attempts = Arc::new(AtomicU32::new(0));
    let counter = attempts.clone();
    scoped(effect_block! {
        // The second and third acquisitions fail.
        let pool = Pool::make(
            move || {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                if n == 1 || n == 2 { fail(format!("connect {n} refused")) } else { succeed(Conn(n)) }
            },
            0..=2,
        )?;
        let gate = Deferred::<()>::new();
        let first = scoped(pool.get().flat_map({ let gate = gate.clone(); move |c| gate.wait().as_value(c.0) })).fork()?;
        clock.advance(ms(1)).await;
        let failed = scoped(pool.get()).result()?;
        assert_eq!(failed, Err("connect 1 refused".to_string()), "reported to the get that caused it");
        assert_eq!(pool.size(), 1, "the failed slot is not counted");
        // A waiter behind a failing acquisition gets the slot and tries again.
        let second = scoped(pool.get().map(|c| c.0)).result()?;
        assert_eq!(second, Err("connect 2 refused".to_string()));
        assert_eq!(scoped(pool.get().map(|c| c.0))?, 3, "the next demand retried, and succeeded");
        gate.complete::<String>(())?;
        assert_eq!(first.join()?, 0);
        assert_eq!(pool.size(), 2);
    })
}

fn interrupted_acquisition(clock: TestClock) -> Effect<(), String> {
    let log = Log::default();
    let acquire_log = log.clone();
    let (started, resume) = (Deferred::<()>::new(), Deferred::<()>::new());
    let (started_in, resume_in) = (started.clone(), resume.clone());
    scoped(effect_block! {
        // Each acquisition opens a socket (released with the item's scope), then waits.
        let pool = Pool::<Conn, String>::make(
            move || {
                let (log, started, resume) = (acquire_log.clone(), started_in.clone(), resume_in.clone());
                acquire_release(log.note("socket opened"), move |(), _| log.note("socket closed"))
                    .flat_map(move |()| started.complete(()))
                    .flat_map(move |_| resume.wait())
                    .as_value(Conn(7))
            },
            0..=1,
        )?;
        let getting = scoped(pool.get()).fork()?;
        started.wait::<String>()?;
        clock.advance(ms(1)).await;
        assert_eq!(pool.size(), 1, "the slot is counted while it acquires");
        let queued = scoped(pool.get().map(|c| c.0)).fork()?;
        clock.advance(ms(1)).await;
        assert!(getting.interrupt()?.unwrap_err().is_interrupted());
        // What it acquired was released; its slot went to the queued get, which acquires its
        // own at once.
        clock.advance(ms(1)).await;
        assert_eq!(log.events(), ["socket opened", "socket closed", "socket opened"]);
        assert_eq!(pool.size(), 1, "one slot, never two");
        resume.complete::<String>(())?;
        assert_eq!(queued.join()?, 7);
        assert_eq!(pool.size(), 1);
    })
}

fn invalidation(clock: TestClock) -> Effect<(), String> {
    let tracker = Tracker::default();
    let acquire = tracker.clone();
    scoped(effect_block! {
        let pool = Pool::make(move || acquire.acquire(), 1..=2)?;
        // Idle: released at once.
        pool.invalidate::<String>(&Conn(0))?;
        assert_eq!((tracker.released(), pool.size()), (vec![0], 0));
        // Checked out: released when it comes back.
        let gate = Deferred::<()>::new();
        let holder = hold_until(&pool, &tracker, &gate).fork()?;
        clock.advance(ms(1)).await;
        pool.invalidate::<String>(&Conn(1))?;
        assert_eq!(tracker.released(), [0], "not while it is held");
        gate.complete::<String>(())?;
        assert_eq!(holder.join()?, 1);
        assert_eq!((tracker.released(), pool.size()), (vec![0, 1], 0));
        // Replaced on the next demand; an item the pool does not hold is ignored.
        assert_eq!(scoped(pool.get().map(|c| c.0))?, 2);
        pool.invalidate::<String>(&Conn(99))?;
        assert_eq!(pool.size(), 1);
    })
}

fn ttl_shrink(clock: TestClock) -> Effect<(), String> {
    let tracker = Tracker::default();
    let acquire = tracker.clone();
    scoped(effect_block! {
        let pool = Pool::make_with_ttl(move || acquire.acquire(), 1..=3, secs(60))?;
        let gate = Deferred::<()>::new();
        let holders: Vec<_> = (0..3).map(|_| hold_until(&pool, &tracker, &gate)).collect();
        let all = for_each_par(holders, |h| h, 3).fork()?;
        clock.advance(ms(1)).await;
        assert_eq!(pool.size(), 3);
        gate.complete::<String>(())?;
        all.join()?;
        let returned = clock.current_time();
        clock.advance(secs(60) - ms(1)).await;
        assert_eq!(pool.size(), 3, "not a millisecond early");
        clock.advance(ms(1)).await;
        assert_eq!(clock.current_time(), returned + secs(60));
        assert_eq!((pool.size(), pool.idle()), (1, 1), "back to the minimum, exactly at the time to live");
        assert_eq!(tracker.released().len(), 2);
        // Never below the minimum.
        clock.advance(secs(600)).await;
        assert_eq!(pool.size(), 1);
        // The kept item is used first; a second is made anew. An item used again restarts
        // its time to live.
        let (kept, fresh) = scoped(pool.get().zip(pool.get()).map(|(a, b)| (a.0, b.0)))?;
        assert!(kept < 3, "{kept}");
        assert_eq!((fresh, tracker.made()), (3, 4));
        clock.advance(secs(30)).await;
        scoped(pool.get())?; // one of the two, used again
        clock.advance(secs(30)).await;
        assert_eq!(pool.size(), 1, "the one idle for 60 s was released");
        clock.advance(secs(30)).await;
        assert_eq!(pool.size(), 1);
    })
}

fn closing(clock: TestClock) -> Effect<(), String> {
    effect_block! {
        let tracker = Tracker::default();
        let (acquire, closed) = (tracker.clone(), Log::default());
        let gate = Deferred::<()>::new();
        let pool_cell: Arc<Mutex<Option<Pool<Conn, String>>>> = Arc::default();
        let cell = pool_cell.clone();
        let ready = Deferred::<()>::new();
        let outer_ready = ready.clone();
        let (hold_gate, hold_tracker, hold_ready) = (gate.clone(), tracker.clone(), ready.clone());
        let closed_log = closed.clone();
        // The holder outlives the pool's scope (a daemon): the test joins it at the end, so
        // it is not still finishing when the test's effect ends.
        let holder_cell: Arc<Mutex<Option<Fiber<(), String>>>> = Arc::default();
        let holder_out = holder_cell.clone();
        let pool_scope = scoped(effect_block! {
            let pool = Pool::make(move || acquire.acquire(), 1..=1)?;
            *cell.lock().unwrap() = Some(pool.clone());
            // Checked out by a fiber of its own (its own scope), held until the gate opens;
            // the pool's scope closes once it has the item.
            let holding = scoped(pool.get().flat_map(move |conn| {
                hold_ready
                    .complete::<String>(())
                    .flat_map(move |_| hold_tracker.hold(&conn, hold_gate.wait()))
            }));
            let holder = holding.fork_daemon()?;
            *holder_out.lock().unwrap() = Some(holder);
            ready.wait::<String>()?;
        })
        .ensuring(closed_log.note("pool closed"))
        .fork()?;
        outer_ready.wait::<String>()?;
        clock.advance(ms(1)).await;
        let pool = pool_cell.lock().unwrap().clone().unwrap();
        let waiting = scoped(pool.get()).fork()?;
        clock.advance(ms(1)).await;
        // The pool's scope is closing: it waits for the checked-out item.
        assert!(closed.events().is_empty(), "closing waits for the item held");
        assert!(waiting.await_exit()?.unwrap_err().is_interrupted(), "a waiting get is interrupted");
        assert!(scoped(pool.get()).map(Ok).catch_all_cause(|c| succeed(Err(c)))?.unwrap_err().is_interrupted());
        assert!(tracker.released().is_empty());
        gate.complete::<String>(())?;
        pool_scope.join()?;
        assert_eq!(closed.events(), ["pool closed"]);
        let holder = holder_cell.lock().unwrap().take().unwrap();
        holder.join()?;
        tracker.all_released_once();
    }
}

fn make_fails(_clock: TestClock) -> Effect<(), String> {
    effect_block! {
        let released = Log::default();
        let counter = Arc::new(AtomicU32::new(0));
        let (made, log) = (counter.clone(), released.clone());
        let failed = scoped(Pool::<Conn, String>::make(
            move || {
                let n = made.fetch_add(1, Ordering::SeqCst);
                let log = log.clone();
                if n == 2 {
                    fail("the third connection failed".to_string())
                } else {
                    // The effect is built when asked for but may be interrupted before it
                    // runs: record the acquisition itself.
                    let acquired = log.clone();
                    acquire_release(
                        sync(move || { acquired.push(format!("acquired {n}")); Conn(n) }),
                        move |c, _| log.note(&format!("released {}", c.0)),
                    )
                }
            },
            4..=4,
        ))
        .result()?;
        assert_eq!(failed.err(), Some("the third connection failed".to_string()));
        let events = released.events();
        let mut acquired: Vec<String> = events.iter().filter_map(|e| e.strip_prefix("acquired ")).map(str::to_string).collect();
        let mut freed: Vec<String> = events.iter().filter_map(|e| e.strip_prefix("released ")).map(str::to_string).collect();
        acquired.sort();
        freed.sort();
        assert_eq!(freed, acquired, "every item acquired was released, once: {events:?}");
        assert!(counter.load(Ordering::SeqCst) >= 3);
    }
}

fn bad_arguments(_clock: TestClock) -> Effect<(), String> {
    effect_block! {
        let defect = |effect: Effect<(), String>| -> Effect<String, String> {
            effect.map(|()| String::new()).catch_all_cause(|cause| succeed(cause.defects()[0].message().to_string()))
        };
        let empty = defect(scoped(Pool::make(|| succeed::<u8, String>(0), 0..=0).map(|_| ())))?;
        assert!(empty.contains("at most 0 items"), "{empty}");
        #[allow(clippy::reversed_empty_ranges)]
        let reversed = defect(scoped(Pool::make(|| succeed::<u8, String>(0), 3..=2).map(|_| ())))?;
        assert!(reversed.contains("3..=2 is empty"), "{reversed}");
        let outside = defect(Pool::make(|| succeed::<u8, String>(0), 1..=1).map(|_| ()))?;
        assert!(outside.contains("outside a scope"), "{outside}");
        let get_outside = defect(scoped(Pool::make(|| succeed::<u8, String>(0), 1..=1)).flat_map(|pool| pool.get().map(|_| ())))?;
        assert!(get_outside.contains("outside a scope"), "{get_outside}");
        let keyed = defect(scoped(KeyedPool::make(|_: &u8| succeed::<u8, String>(0), 0).map(|_| ())))?;
        assert!(keyed.contains("at most 0 items"), "{keyed}");
    }
}

fn keyed_limits(clock: TestClock) -> Effect<(), String> {
    let made = Arc::new(AtomicU32::new(0));
    let counter = made.clone();
    scoped(effect_block! {
        let pool = KeyedPool::make(
            move |host: &&'static str| {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                succeed::<(String, u32), String>((host.to_string(), n))
            },
            2,
        )?;
        let gate = Deferred::<()>::new();
        let hold = |host: &'static str| {
            let gate = gate.clone();
            scoped(pool.get(host).flat_map(move |item| gate.wait().as_value(item)))
        };
        let a = for_each_par(vec![hold("a"), hold("a"), hold("a")], |h| h, 3).fork()?;
        clock.advance(ms(1)).await;
        assert_eq!((pool.in_use(), pool.waiting()), (2, 1), "two for \"a\", and one waits");
        // "b" is not held up by "a".
        let b = scoped(pool.get("b").map(|(host, _)| host))?;
        assert_eq!(b, "b");
        gate.complete::<String>(())?;
        let items = a.join()?;
        assert!(items.iter().all(|(host, _)| host == "a"));
        assert_eq!(made.load(Ordering::SeqCst), 3, "two for a, one for b");
        assert_eq!((pool.keys(), pool.size()), (2, 3));
        // Invalidation finds the item in its key's pool.
        let item = items[0].clone();
        pool.invalidate::<String>(&item)?;
        assert_eq!(pool.size(), 2);
    })
}

fn keyed_ttl(clock: TestClock) -> Effect<(), String> {
    let tracker = Tracker::default();
    let acquire = tracker.clone();
    scoped(effect_block! {
        let pool = KeyedPool::make_with_ttl(move |_: &u32| acquire.acquire(), 2, secs(10))?;
        scoped(pool.get(1))?;
        clock.advance(secs(5)).await;
        scoped(pool.get(2))?;
        assert_eq!((pool.keys(), pool.size()), (2, 2));
        clock.advance(secs(5)).await;
        assert_eq!((pool.keys(), pool.size()), (1, 1), "key 1 idle for 10 s: released and forgotten");
        assert_eq!(tracker.released(), [0]);
        clock.advance(secs(5)).await;
        assert_eq!((pool.keys(), pool.size()), (0, 0));
        // A forgotten key comes back with its next get.
        assert_eq!(scoped(pool.get(1).map(|c| c.0))?, 2);
        assert_eq!(pool.keys(), 1);
    })
}

fn keyed_closing(clock: TestClock) -> Effect<(), String> {
    let tracker = Tracker::default();
    let acquire = tracker.clone();
    let check = tracker.clone();
    scoped(effect_block! {
        let pool = KeyedPool::make_with_ttl(move |_: &u32| acquire.acquire(), 2, secs(10))?;
        for key in 0..5 {
            scoped(pool.get(key))?;
        }
        clock.advance(secs(1)).await;
        assert_eq!(pool.size(), 5);
    })
    .flat_map(move |()| {
        // Closed with the scope: every key's items released once, every reaper stopped.
        check.all_released_once();
        assert_eq!(check.made(), 5);
        succeed(())
    })
}
