//! A `Prog::ItemPool` on the runtime: an `effect::Pool` of numbered items, watched by a
//! tracker that sees every acquisition, release and holder as it happens, and the checks
//! made of it after the run:
//! - no item is handed to two holders at once, or handed out once released;
//! - the items alive and being acquired never outnumber the pool's maximum;
//! - every item made is released exactly once, none while checked out, and nothing is left
//!   checked out, waiting or being acquired once the pool's scope has closed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use effect::prelude::*;
use effect::{Cause, Pool};

use crate::prog::{Checkout, Invalidate, PoolSpec};
use crate::real::{duration, World};
use crate::reference::Ev;

/// What one pool's items went through.
#[derive(Default)]
struct Seen {
    /// Acquisitions begun.
    begun: usize,
    /// Acquisitions under way, by number.
    acquiring: BTreeSet<usize>,
    /// Items made (numbered as their acquisition) and not released yet.
    alive: BTreeSet<usize>,
    made: usize,
    /// How many times each item was released.
    released: BTreeMap<usize, usize>,
    /// The holder that has each checked-out item.
    holders: BTreeMap<usize, usize>,
    /// Each rule broken, when it was.
    broken: Vec<String>,
}

/// Watches one pool (its acquisitions hold it, so it holds no `Pool` itself).
pub struct Tracker {
    spec: PoolSpec,
    seen: Mutex<Seen>,
}

impl Tracker {
    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap()
    }

    /// An acquisition starts: its number.
    fn begin(&self) -> usize {
        let mut seen = self.seen();
        let j = seen.begun;
        seen.begun += 1;
        seen.acquiring.insert(j);
        let (alive, acquiring) = (seen.alive.len(), seen.acquiring.len());
        if alive + acquiring > self.spec.max {
            seen.broken.push(format!(
                "acquisition {j} began with {alive} items alive and {acquiring} acquisitions \
                 under way, in a pool of at most {}",
                self.spec.max
            ));
        }
        j
    }

    fn made(&self, j: usize) {
        let mut seen = self.seen();
        seen.acquiring.remove(&j);
        seen.alive.insert(j);
        seen.made += 1;
    }

    /// The acquisition is over, made or not.
    fn ended(&self, j: usize) {
        self.seen().acquiring.remove(&j);
    }

    fn released(&self, item: usize) {
        let mut seen = self.seen();
        seen.alive.remove(&item);
        let count = seen.released.entry(item).or_default();
        *count += 1;
        if *count > 1 {
            let count = *count;
            seen.broken
                .push(format!("item {item} released {count} times"));
        }
        if let Some(holder) = seen.holders.get(&item).copied() {
            seen.broken.push(format!(
                "item {item} released while holder {holder} had it checked out"
            ));
        }
    }

    fn hold(&self, holder: usize, item: usize) {
        let mut seen = self.seen();
        if let Some(other) = seen.holders.insert(item, holder) {
            seen.broken.push(format!(
                "item {item} handed to holder {holder} while holder {other} had it"
            ));
        }
        if !seen.alive.contains(&item) {
            seen.broken.push(format!(
                "item {item} handed to holder {holder} but not alive (never made, or released)"
            ));
        }
    }

    fn leave(&self, holder: usize, item: usize) {
        let mut seen = self.seen();
        if seen.holders.get(&item) == Some(&holder) {
            seen.holders.remove(&item);
        }
    }
}

/// A pool's tracker, and the pool once it is made.
pub struct PoolCheck {
    tracker: Arc<Tracker>,
    pool: Mutex<Option<Pool<i64, i64>>>,
}

/// An acquisition of the pool `tracker` watches: it sleeps, then fails or makes the item
/// (numbered as the acquisition), released by a finalizer that sleeps and records it. It
/// counts as under way from when it starts until it ends, however it ends (the guard's drop
/// says so: the pool may build an acquisition and never start it).
fn acquisition(tracker: &Arc<Tracker>, live: bool) -> Effect<i64, i64> {
    let tracker = tracker.clone();
    Effect::new(move |_| async move {
        let spec = tracker.spec;
        let j = tracker.begin();
        let _under_way = UnderWay(tracker.clone(), j);
        sleep(duration(live, spec.acquire)).await?;
        if spec.fails(j) {
            return Err(Cause::Fail(-3));
        }
        let (made, released) = (tracker.clone(), tracker.clone());
        let release = duration(live, spec.release);
        acquire_release(sync(move || made.made(j)), move |(), _| {
            sleep(release).flat_map(move |()| sync(move || released.released(j)))
        })
        .await?;
        Ok(j as i64)
    })
}

/// An acquisition under way, until dropped.
struct UnderWay(Arc<Tracker>, usize);

impl Drop for UnderWay {
    fn drop(&mut self) {
        self.0.ended(self.1);
    }
}

impl World {
    /// The pool, made in a scope of its own, and its holders in `zip_par`: holder k asks k
    /// ms after the pool is made.
    pub fn item_pool(&self, spec: PoolSpec, holders: &[Checkout]) -> Effect<i64, i64> {
        let tracker = Arc::new(Tracker {
            spec,
            seen: Mutex::default(),
        });
        let check = Arc::new(PoolCheck {
            tracker: tracker.clone(),
            pool: Mutex::new(None),
        });
        self.item_pools.lock().unwrap().push(check.clone());
        let progs: Vec<Effect<i64, i64>> = holders.iter().map(|h| self.build(&h.prog)).collect();
        let (holders, world, live) = (holders.to_vec(), self.clone(), self.live);
        let acquire = {
            let tracker = tracker.clone();
            move || acquisition(&tracker, live)
        };
        scoped(
            Pool::make(acquire, spec.min..=spec.max).flat_map(move |pool: Pool<i64, i64>| {
                *check.pool.lock().unwrap() = Some(pool.clone());
                let branches = holders.iter().zip(progs).enumerate().map(|(k, (h, prog))| {
                    let holder = world.holder(&pool, &tracker, k, h, prog);
                    world.sleep(k as u64).flat_map(move |()| holder)
                });
                zip_par(branches.collect::<Vec<_>>()).map(|vs| vs.iter().sum())
            }),
        )
    }

    /// Holder `k`: gets an item (-1 if its patience runs out first, -2 if the acquisition
    /// it caused failed), holds it while its program runs, and invalidates it when it should;
    /// the item goes back when the holder's scope closes.
    fn holder(
        &self,
        pool: &Pool<i64, i64>,
        tracker: &Arc<Tracker>,
        k: usize,
        checkout: &Checkout,
        prog: Effect<i64, i64>,
    ) -> Effect<i64, i64> {
        let get = pool.get().catch_all(|_| succeed(-2));
        let get = match checkout.patience {
            Some(p) => get.timeout(self.dur(p)).map(|got| got.unwrap_or(-1)),
            None => get,
        };
        let (invalidate, id) = (checkout.invalidate, tracker.spec.id);
        let (enter, leave, world) = (tracker.clone(), tracker.clone(), self.clone());
        let (holding, returned) = (pool.clone(), pool.clone());
        let region = scoped(get.flat_map(move |item| {
            if item < 0 {
                return succeed((item, item));
            }
            let used = prog.flat_map(move |v| match invalidate {
                Invalidate::Holding => holding.invalidate(&item).as_value(v),
                _ => succeed(v),
            });
            sync(move || {
                enter.hold(k, item as usize);
                world.record(Ev::Got(id, k));
            })
            .flat_map(move |()| used)
            .map(move |v| (item, v))
            .ensuring(sync(move || leave.leave(k, item as usize)))
        }));
        region.flat_map(move |(item, v)| match invalidate {
            Invalidate::Returned if item >= 0 => returned.invalidate(&item).as_value(v),
            _ => succeed(v),
        })
    }
}

/// After the run: every rule kept, every item made released once, and the pool empty.
pub fn check(world: &World) -> Result<(), String> {
    for check in world.item_pools.lock().unwrap().iter() {
        let id = check.tracker.spec.id;
        let seen = check.tracker.seen();
        if let Some(broken) = seen.broken.first() {
            return Err(format!("item pool {id}: {broken}"));
        }
        let unreleased: Vec<usize> = (0..seen.begun)
            .filter(|j| seen.alive.contains(j) || seen.acquiring.contains(j))
            .collect();
        if !unreleased.is_empty() || seen.released.len() != seen.made {
            return Err(format!(
                "item pool {id}: {} items made, {} released; not released or still being \
                 acquired: {unreleased:?}",
                seen.made,
                seen.released.len()
            ));
        }
        if !seen.holders.is_empty() {
            return Err(format!(
                "item pool {id}: still checked out after the run: {:?}",
                seen.holders
            ));
        }
        if let Some(pool) = check.pool.lock().unwrap().as_ref() {
            if pool.size() + pool.in_use() + pool.idle() + pool.waiting() != 0 {
                return Err(format!("item pool {id}: after its scope closed: {pool:?}"));
            }
        }
    }
    Ok(())
}
