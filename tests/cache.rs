//! Cache: de-duplicated lookups (a thousand callers, one lookup), callers interrupted
//! without interrupting a lookup others wait for (and the last one out interrupting it),
//! least-recently-used eviction, times to live exact to the virtual millisecond for
//! successes and failures, refresh serving the old value, invalidation, closing with
//! lookups in flight. Each scenario runs on both runtime flavours, with `live_fibers() == 0`
//! checked after it.

use crate::common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::Log;
use effect::prelude::*;
use effect::{Cache, CacheStats, Deferred, Exit, Scope};

crate::effect_tests_on_both_flavours! {
    caches:
    a_thousand_concurrent_gets_of_a_missing_key_run_one_lookup => one_lookup_for_a_thousand;
    a_failed_lookup_goes_to_every_caller_and_is_not_kept_by_default => failures_shared_not_kept;
    an_interrupted_caller_leaves_the_lookup_to_the_others => interrupted_caller;
    the_last_caller_out_interrupts_the_lookup => last_caller_out;
    an_interrupt_storm_of_a_thousand_callers_leaks_nothing => interrupt_storm;
    the_least_recently_used_entry_is_evicted_at_capacity => lru_order;
    a_success_expires_at_its_time_to_live_to_the_millisecond => success_ttl;
    a_failure_is_kept_for_the_failure_time_to_live => failure_ttl;
    the_time_to_live_may_be_chosen_per_exit => ttl_per_exit;
    refresh_serves_the_old_value_until_the_new_one_is_ready => refresh_serves_old;
    a_failed_refresh_keeps_the_old_value => failed_refresh;
    invalidation_forgets_keys_but_callers_still_get_their_lookup => invalidation;
    set_puts_a_value_without_a_lookup => set_value;
    a_panicking_lookup_is_a_defect_for_every_caller_and_not_kept => panicking_lookup;
    lookups_run_in_the_context_the_cache_was_made_in => lookup_context;
    closing_the_scope_interrupts_and_awaits_lookups_in_flight => closing;
    bad_arguments_are_refused_clearly => bad_arguments;
}

const CALLERS: usize = 1_000;

/// A lookup that records each run, then waits for `gate` before answering `key * 10`;
/// recording "interrupted k" if it is interrupted.
fn gated(
    log: &Log,
    gate: &Deferred<()>,
) -> impl Fn(&u32) -> Effect<u32, String> + Send + Sync + use<> {
    let (log, gate) = (log.clone(), gate.clone());
    move |key: &u32| {
        let key = *key;
        log.push(format!("lookup {key}"));
        gate.wait()
            .map(move |()| key * 10)
            .on_interrupt(log.note(&format!("interrupted {key}")))
    }
}

/// How `effect` ends, as a value.
fn exit_of<A: Send + 'static, E: Send + 'static>(
    effect: Effect<A, E>,
) -> Effect<Exit<A, E>, String> {
    effect.fork().flat_map(|fiber| fiber.await_exit())
}

/// A lookup answering `key * 10` at once, counting its runs.
fn counted(runs: &Arc<AtomicU32>) -> impl Fn(&u32) -> Effect<u32, String> + Send + Sync + use<> {
    let runs = runs.clone();
    move |key: &u32| {
        runs.fetch_add(1, Ordering::SeqCst);
        succeed(key * 10)
    }
}

fn one_lookup_for_a_thousand(clock: TestClock) -> Effect<(), String> {
    scoped(effect_block! {
        let (log, gate) = (Log::default(), Deferred::new());
        let cache = Cache::make(10, secs(60), gated(&log, &gate))?;
        let mut callers = Vec::new();
        for _ in 0..CALLERS {
            callers.push(cache.get(7).fork()?);
        }
        clock.advance(Duration::ZERO).await; // every caller is waiting now
        assert_eq!(log.count("lookup 7"), 1);
        assert!(cache.contains_key(&7), "a lookup in flight is an entry");
        gate.complete(())?;
        for caller in callers {
            assert_eq!(caller.join()?, 70);
        }
        assert_eq!(cache.get(7)?, 70);
        let stats = cache.stats();
        let expected = CacheStats { hits: CALLERS as u64, misses: 1, loads: 1, evictions: 0, size: 1 };
        assert_eq!(stats, expected);
        assert_eq!(log.count("lookup 7"), 1);
    })
}

fn failures_shared_not_kept(clock: TestClock) -> Effect<(), String> {
    scoped(effect_block! {
        let runs = Arc::new(AtomicU32::new(0));
        let (counter, gate) = (runs.clone(), Deferred::<()>::new());
        let waiting = gate.clone();
        let cache = Cache::make(10, secs(60), move |key: &u32| {
            let run = counter.fetch_add(1, Ordering::SeqCst);
            let key = *key;
            waiting.wait().flat_map(move |()| fail::<u32, String>(format!("lookup {run} of {key} failed")))
        })?;
        let callers: Vec<_> = (0..10).map(|_| cache.get(1).result()).collect();
        let all = zip_par(callers).fork()?;
        clock.advance(Duration::ZERO).await;
        gate.complete(())?;
        let exits = all.join()?;
        assert!(exits.iter().all(|e| *e == Err("lookup 0 of 1 failed".to_string())), "{exits:?}");
        assert_eq!(runs.load(Ordering::SeqCst), 1, "one lookup for the ten");
        assert!(!cache.contains_key(&1), "a failure is not kept by default");
        assert_eq!(cache.get(1).result()?, Err("lookup 1 of 1 failed".to_string()));
        assert_eq!(cache.stats().loads, 2);
    })
}

fn interrupted_caller(clock: TestClock) -> Effect<(), String> {
    scoped(effect_block! {
        let (log, gate) = (Log::default(), Deferred::new());
        let cache = Cache::make(10, secs(60), gated(&log, &gate))?;
        // The first caller (the one whose miss started the lookup) and a second are
        // interrupted; the third still gets the value, from the same lookup.
        let first = cache.get(3).fork()?;
        let second = cache.get(3).fork()?;
        let third = cache.get(3).fork()?;
        clock.advance(Duration::ZERO).await;
        assert!(first.interrupt()?.unwrap_err().is_interrupted());
        assert!(second.interrupt()?.unwrap_err().is_interrupted());
        clock.advance(Duration::ZERO).await;
        assert_eq!(log.count("interrupted 3"), 0, "the lookup goes on for the third");
        gate.complete(())?;
        assert_eq!(third.join()?, 30);
        assert_eq!(log.events(), vec!["lookup 3".to_string()]);
        assert_eq!(cache.get(3)?, 30, "kept");
        assert_eq!(log.count("lookup 3"), 1);
    })
}

fn last_caller_out(clock: TestClock) -> Effect<(), String> {
    scoped(effect_block! {
        let (log, gate) = (Log::default(), Deferred::new());
        let cache = Cache::make(10, secs(60), gated(&log, &gate))?;
        let first = cache.get(4).fork()?;
        let second = cache.get(4).fork()?;
        clock.advance(Duration::ZERO).await;
        assert!(first.interrupt()?.unwrap_err().is_interrupted());
        assert_eq!(log.count("interrupted 4"), 0);
        assert!(second.interrupt()?.unwrap_err().is_interrupted());
        clock.advance(Duration::ZERO).await;
        assert_eq!(log.count("interrupted 4"), 1, "the last one out interrupts the lookup");
        assert!(!cache.contains_key(&4), "nothing kept of an abandoned lookup");
        // The next get looks up afresh.
        gate.complete(())?;
        assert_eq!(cache.get(4)?, 40);
        assert_eq!(log.count("lookup 4"), 2);
        assert_eq!(cache.stats().loads, 2);
    })
}

fn interrupt_storm(clock: TestClock) -> Effect<(), String> {
    scoped(effect_block! {
        let (log, gate) = (Log::default(), Deferred::new());
        let cache = Cache::make(10, secs(60), gated(&log, &gate))?;
        let mut callers = Vec::new();
        for i in 0..CALLERS {
            callers.push(cache.get((i % 2) as u32).fork()?);
        }
        clock.advance(Duration::ZERO).await;
        assert_eq!((log.count("lookup 0"), log.count("lookup 1")), (1, 1));
        // Every caller of key 0 is interrupted, and every other one of key 1.
        let mut kept = Vec::new();
        for (i, caller) in callers.into_iter().enumerate() {
            if i % 2 == 0 || i % 4 == 1 {
                assert!(caller.interrupt()?.unwrap_err().is_interrupted());
            } else {
                kept.push(caller);
            }
        }
        clock.advance(Duration::ZERO).await;
        assert_eq!(log.count("interrupted 0"), 1);
        assert_eq!(log.count("interrupted 1"), 0);
        gate.complete(())?;
        for caller in kept {
            assert_eq!(caller.join()?, 10);
        }
        assert!(!cache.contains_key(&0));
        assert_eq!(cache.get(1)?, 10);
        assert_eq!(log.count("lookup 1"), 1);
    })
}

fn lru_order(_clock: TestClock) -> Effect<(), String> {
    scoped(effect_block! {
        let runs = Arc::new(AtomicU32::new(0));
        let cache = Cache::make(3, Duration::MAX, counted(&runs))?;
        for key in [1, 2, 3] {
            cache.get(key)?;
        }
        cache.get(1)?; // 1 is now the most recently used: 2 the least
        cache.get(4)?;
        let held: Vec<bool> = (1..=4).map(|k| cache.contains_key(&k)).collect();
        assert_eq!(held, vec![true, false, true, true]);
        cache.get(3)?;
        cache.get(5)?; // evicts 1
        let held: Vec<bool> = (1..=5).map(|k| cache.contains_key(&k)).collect();
        assert_eq!(held, vec![false, false, true, true, true]);
        let stats = cache.stats();
        assert_eq!((stats.evictions, stats.size, stats.loads), (2, 3, 5));
        assert_eq!(runs.load(Ordering::SeqCst), 5);
    })
}

fn success_ttl(clock: TestClock) -> Effect<(), String> {
    scoped(effect_block! {
        let runs = Arc::new(AtomicU32::new(0));
        let cache = Cache::make(10, secs(60), counted(&runs))?;
        cache.get(1)?;
        clock.advance(ms(59_999)).await;
        assert!(cache.contains_key(&1));
        cache.get(1)?;
        assert_eq!(runs.load(Ordering::SeqCst), 1, "kept until the 60th second");
        clock.advance(ms(1)).await;
        assert!(!cache.contains_key(&1), "expired at exactly 60 s");
        cache.get(1)?;
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses), (1, 2));
    })
}

fn failure_ttl(clock: TestClock) -> Effect<(), String> {
    scoped(effect_block! {
        let runs = Arc::new(AtomicU32::new(0));
        let counter = runs.clone();
        let cache = Cache::builder(10, move |_: &u32| {
            let run = counter.fetch_add(1, Ordering::SeqCst);
            fail::<u32, String>(format!("failure {run}"))
        })
        .failure_time_to_live(secs(5))
        .make()?;
        assert_eq!(cache.get(1).result()?, Err("failure 0".to_string()));
        clock.advance(ms(4_999)).await;
        assert_eq!(cache.get(1).result()?, Err("failure 0".to_string()), "the failure is kept");
        clock.advance(ms(1)).await;
        assert_eq!(cache.get(1).result()?, Err("failure 1".to_string()), "then looked up again");
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    })
}

fn ttl_per_exit(clock: TestClock) -> Effect<(), String> {
    scoped(effect_block! {
        let runs = Arc::new(AtomicU32::new(0));
        let counter = runs.clone();
        let cache = Cache::builder(10, move |key: &u32| {
            counter.fetch_add(1, Ordering::SeqCst);
            if *key == 0 { fail("zero".to_string()) } else { succeed(*key) }
        })
        // Larger keys are kept longer; the failure for 1 s; key 9 not at all.
        .time_to_live_with(|exit| match exit {
            Ok(9) => Duration::ZERO,
            Ok(n) => secs(u64::from(*n)),
            Err(_) => secs(1),
        })
        .make()?;
        for key in [0, 2, 5, 9] {
            let _ = cache.get(key).result()?;
        }
        assert_eq!(cache.size(), 3, "9 was not kept");
        clock.advance(secs(1)).await;
        let held: Vec<bool> = [0, 2, 5, 9].iter().map(|k| cache.contains_key(k)).collect();
        assert_eq!(held, vec![false, true, true, false]);
        clock.advance(secs(1)).await;
        let held: Vec<bool> = [0, 2, 5, 9].iter().map(|k| cache.contains_key(k)).collect();
        assert_eq!(held, vec![false, false, true, false]);
        assert_eq!(runs.load(Ordering::SeqCst), 4);
    })
}

fn refresh_serves_old(clock: TestClock) -> Effect<(), String> {
    scoped(effect_block! {
        let version = Arc::new(AtomicU32::new(1));
        let gate = Deferred::<()>::new();
        let (current, waiting) = (version.clone(), gate.clone());
        let cache = Cache::make(10, Duration::MAX, move |_: &u32| {
            let v = current.load(Ordering::SeqCst);
            // The first lookup answers at once; later ones wait for the gate.
            if v == 1 { succeed(v) } else { waiting.wait().as_value(v) }
        })?;
        assert_eq!(cache.get(0)?, 1);
        version.store(2, Ordering::SeqCst);
        let refreshing = cache.refresh(0).fork()?;
        clock.advance(Duration::ZERO).await;
        assert_eq!(cache.get(0)?, 1, "the old value is served while the refresh runs");
        // A second refresh joins the one in flight.
        let again = cache.refresh(0).fork()?;
        clock.advance(Duration::ZERO).await;
        gate.complete(())?;
        refreshing.join()?;
        again.join()?;
        assert_eq!(cache.get(0)?, 2);
        assert_eq!(cache.stats().loads, 2, "the refreshes ran one lookup");
        // A refresh of a key not held is a lookup.
        cache.refresh(5)?;
        assert!(cache.contains_key(&5));
    })
}

fn failed_refresh(_clock: TestClock) -> Effect<(), String> {
    scoped(effect_block! {
        let calls = Arc::new(AtomicU32::new(0));
        let counter = calls.clone();
        let cache = Cache::make(10, Duration::MAX, move |_: &u32| {
            if counter.fetch_add(1, Ordering::SeqCst) == 0 { succeed(1) } else { fail("refresh failed".to_string()) }
        })?;
        assert_eq!(cache.get(0)?, 1);
        assert_eq!(cache.refresh(0).result()?, Err("refresh failed".to_string()));
        assert_eq!(cache.get(0)?, 1, "a failure not kept leaves the old value");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    })
}

fn invalidation(clock: TestClock) -> Effect<(), String> {
    scoped(effect_block! {
        let (log, gate) = (Log::default(), Deferred::new());
        let cache = Cache::make(10, secs(60), gated(&log, &gate))?;
        let caller = cache.get(1).fork()?;
        clock.advance(Duration::ZERO).await;
        cache.invalidate(&1)?;
        assert!(!cache.contains_key(&1));
        gate.complete(())?;
        assert_eq!(caller.join()?, 10, "the caller still gets its lookup's value");
        assert!(!cache.contains_key(&1), "which is not kept once invalidated");
        cache.get(1)?;
        cache.get(2)?;
        assert_eq!(log.count("lookup 1"), 2);
        cache.invalidate(&1)?;
        assert_eq!((cache.contains_key(&1), cache.contains_key(&2)), (false, true));
        cache.invalidate(&42)?; // not held: nothing happens
        cache.invalidate_all()?;
        assert_eq!(cache.size(), 0);
        cache.get(2)?;
        assert_eq!(log.count("lookup 2"), 2);
    })
}

fn set_value(clock: TestClock) -> Effect<(), String> {
    scoped(effect_block! {
        let runs = Arc::new(AtomicU32::new(0));
        let cache = Cache::make(2, secs(10), counted(&runs))?;
        cache.set(1, 111)?;
        assert_eq!(cache.get(1)?, 111);
        cache.set(1, 112)?;
        assert_eq!(cache.get(1)?, 112);
        cache.set(2, 222)?;
        cache.set(3, 333)?; // evicts 1
        assert!(!cache.contains_key(&1));
        assert_eq!(runs.load(Ordering::SeqCst), 0);
        clock.advance(secs(10)).await;
        assert_eq!(cache.get(3)?, 30, "a value set expires like a looked-up one");
        assert_eq!(cache.stats().evictions, 1);
    })
}

fn panicking_lookup(_clock: TestClock) -> Effect<(), String> {
    scoped(effect_block! {
        let runs = Arc::new(AtomicU32::new(0));
        let counter = runs.clone();
        let cache = Cache::make(10, secs(60), move |key: &u32| -> Effect<u32, String> {
            counter.fetch_add(1, Ordering::SeqCst);
            if *key == 0 {
                panic!("lookup of 0 panicked");
            }
            sync(|| panic!("the lookup's effect panicked"))
        })?;
        let defect = |exit: Exit<u32, String>| exit.unwrap_err().defects()[0].message().to_string();
        let callers: Vec<_> = (0..5).map(|_| exit_of(cache.get(0))).collect();
        for exit in zip_par(callers)? {
            assert_eq!(defect(exit), "lookup of 0 panicked", "every caller gets the defect");
        }
        let first = exit_of(cache.get(0))?;
        assert_eq!(defect(first), "lookup of 0 panicked");
        let second = exit_of(cache.get(1))?;
        assert_eq!(defect(second), "the lookup's effect panicked");
        assert!(!cache.contains_key(&0) && !cache.contains_key(&1), "defects are not kept");
        assert!(runs.load(Ordering::SeqCst) >= 3);
    })
}

fn lookup_context(clock: TestClock) -> Effect<(), String> {
    #[derive(Clone)]
    struct Region(&'static str);
    scoped(effect_block! {
        let cache = Cache::make(10, secs(60), |city: &String| {
            let city = city.clone();
            service_with(move |region: &Region| format!("{city} in {}", region.0))
        })
        .provide_service(Region("eu"))?;
        // The caller's own context has no Region: the lookup sees the cache's.
        assert_eq!(cache.get("Paris".to_string())?, "Paris in eu");
        let _ = clock;
    })
}

fn closing(clock: TestClock) -> Effect<(), String> {
    effect_block! {
        let (log, gate) = (Log::default(), Deferred::<()>::new());
        let scope = Scope::new();
        let cache = Cache::make(10, secs(60), gated(&log, &gate)).provide_service(scope.clone())?;
        let callers: Vec<_> = (0..3).map(|_| cache.get(1).fork()).collect::<Vec<_>>();
        let mut fibers = Vec::new();
        for caller in callers {
            fibers.push(caller?);
        }
        clock.advance(Duration::ZERO).await;
        scope.close_effect(Ok(()))?;
        assert_eq!(log.count("interrupted 1"), 1, "the lookup was interrupted, and awaited");
        for fiber in fibers {
            assert!(fiber.await_exit()?.unwrap_err().is_interrupted(), "its callers are interrupted");
        }
        let after = exit_of(cache.get(1))?;
        assert!(after.unwrap_err().is_interrupted(), "a get after closing is interrupted");
        assert_eq!(log.count("lookup 1"), 1);
    }
}

fn bad_arguments(_clock: TestClock) -> Effect<(), String> {
    effect_block! {
        let defect = |effect: Effect<(), String>| -> Effect<String, String> {
            effect.map(|()| String::new()).catch_all_cause(|cause| succeed(cause.defects()[0].message().to_string()))
        };
        let lookup = |n: &u32| succeed::<u32, String>(*n);
        let empty = defect(scoped(Cache::make(0, secs(1), lookup).map(|_| ())))?;
        assert!(empty.contains("capacity 0"), "{empty}");
        let outside = defect(Cache::make(1, secs(1), lookup).map(|_| ()))?;
        assert!(outside.contains("outside a scope"), "{outside}");
    }
}
