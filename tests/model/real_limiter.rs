//! A `Prog::Limited` on the runtime: an `effect::RateLimiter` and its callers, each ask and
//! each caller let through recorded at its virtual instant, and the checks made after the
//! run:
//! - nobody is left in line;
//! - on virtual time, what went through never exceeds what the limit allows: for a token
//!   bucket of capacity C with a token every I, at most `C + ⌊(b - a) / I⌋` between any two
//!   instants a and b; for fixed windows, at most the limit in each window, counted from the
//!   limiter's first instant (one of the instants something asked).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use effect::prelude::*;
use effect::RateLimiter;

use crate::prog::{Ask, Limit};
use crate::real::World;
use crate::reference::Ev;

/// A limiter, and what asked and went through, when (on the virtual clock).
pub struct LimiterCheck {
    id: i64,
    limit: Limit,
    limiter: RateLimiter,
    asked: Mutex<Vec<Duration>>,
    through: Mutex<Vec<(Duration, u64)>>,
}

impl World {
    /// The limiter and its callers in `zip_par`: caller k asks k ms after the start.
    pub fn limited(&self, id: i64, limit: Limit, asks: &[Ask]) -> Effect<i64, i64> {
        let limiter = match limit {
            Limit::Bucket {
                capacity,
                refill,
                interval,
            } => RateLimiter::token_bucket(capacity, refill, self.dur(refill * interval)),
            Limit::Window { limit, window } => RateLimiter::fixed_window(limit, self.dur(window)),
        };
        let check = Arc::new(LimiterCheck {
            id,
            limit,
            limiter,
            asked: Mutex::default(),
            through: Mutex::default(),
        });
        self.limiters.lock().unwrap().push(check.clone());
        let callers = asks.iter().enumerate().map(|(k, ask)| {
            let caller = self.caller(&check, k, ask);
            self.sleep(k as u64).flat_map(move |()| caller)
        });
        zip_par(callers.collect::<Vec<_>>()).map(|vs| vs.iter().sum())
    }

    /// Caller `k`: asks (giving up after its patience, with -1), then runs its program.
    fn caller(&self, check: &Arc<LimiterCheck>, k: usize, ask: &Ask) -> Effect<i64, i64> {
        let (cost, prog) = (ask.cost, self.build(&ask.prog));
        let (asking, through, limiter) = (check.clone(), check.clone(), check.limiter.clone());
        let (clock, world) = (self.clock.clone(), self.clone());
        // What the limiter takes starts its time (zero, or too much, does not).
        let counts = cost > 0 && cost <= check.limit.capacity();
        let take = sync(move || {
            if counts {
                asking.asked.lock().unwrap().push(clock.current_time());
            }
        })
        .flat_map(move |()| limiter.acquire::<i64>(cost))
        .flat_map(move |()| {
            sync(move || {
                let now = world.clock.current_time();
                through.through.lock().unwrap().push((now, cost));
                world.record(Ev::Granted(through.id, k));
            })
        });
        let taken = match ask.patience {
            Some(p) => take.timeout(self.dur(p)).map(|t| t.is_some()),
            None => take.as_value(true),
        };
        taken.flat_map(move |through| if through { prog } else { succeed(-1) })
    }
}

/// After the run: nobody in line, and (on virtual time) nothing let through beyond the limit.
pub fn check(world: &World) -> Result<(), String> {
    for check in world.limiters.lock().unwrap().iter() {
        let id = check.id;
        if check.limiter.waiting() != 0 {
            return Err(format!(
                "limiter {id}: {} still in line after the run",
                check.limiter.waiting()
            ));
        }
        if world.live {
            continue;
        }
        let mut through: Vec<(Duration, u64)> = check.through.lock().unwrap().clone();
        through.retain(|(_, cost)| *cost > 0);
        through.sort_unstable();
        let asked = check.asked.lock().unwrap().clone();
        let verdict = match check.limit {
            Limit::Bucket {
                capacity, interval, ..
            } => bucket_kept(&through, capacity, world.dur(interval)),
            Limit::Window { limit, window } => {
                windows_kept(&through, &asked, limit, world.dur(window))
            }
        };
        verdict.map_err(|why| format!("limiter {id} ({}): {why}", check.limit))?;
    }
    Ok(())
}

/// At most `capacity + ⌊(b - a) / interval⌋` between any two instants a and b.
fn bucket_kept(
    through: &[(Duration, u64)],
    capacity: u64,
    interval: Duration,
) -> Result<(), String> {
    for (i, &(from, _)) in through.iter().enumerate() {
        let mut taken = 0;
        for &(to, cost) in &through[i..] {
            taken += cost;
            let allowed = capacity + ((to - from).as_nanos() / interval.as_nanos()) as u64;
            if taken > allowed {
                return Err(format!(
                    "{taken} let through from {from:?} to {to:?}, where {allowed} may: {through:?}"
                ));
            }
        }
    }
    Ok(())
}

/// At most `limit` in each window, for windows counted from one of the instants something
/// asked (the limiter's first instant is the first that reached it).
fn windows_kept(
    through: &[(Duration, u64)],
    asked: &[Duration],
    limit: u64,
    window: Duration,
) -> Result<(), String> {
    let Some(&(first, _)) = through.first() else {
        return Ok(());
    };
    let fits = |origin: Duration| {
        let mut used: std::collections::BTreeMap<u128, u64> = Default::default();
        through.iter().all(|&(at, cost)| {
            let Some(since) = at.checked_sub(origin) else {
                return false;
            };
            let used = used
                .entry(since.as_nanos() / window.as_nanos())
                .or_default();
            *used += cost;
            *used <= limit
        })
    };
    if asked.iter().filter(|at| **at <= first).any(|at| fits(*at)) {
        return Ok(());
    }
    Err(format!(
        "more than {limit} in one window of {window:?}, whichever ask began them: let through \
         {through:?}, asked {asked:?}"
    ))
}
