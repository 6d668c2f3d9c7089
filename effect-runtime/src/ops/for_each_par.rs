//! Parallel mapping with bounded parallelism: `for_each_par`.
//!
//! `parallelism` worker fibers, the members of one fail-fast group (see
//! [`fail_fast_group`]) on tasks, pull items from a shared queue, one at a time, so never
//! more than `parallelism` items are in flight, and only `parallelism` fibers are started
//! however many items there are. Results are stored by input index. The first failure stops
//! the workers from taking new items: the failing worker ends, the others are interrupted
//! mid-item and awaited, and `for_each_par` fails with that cause.

use std::sync::{Arc, Mutex};

use crate::kernel::effect::{die, succeed, Effect};
use crate::ops::par::fail_fast_group;

/// Applies `f` to every item, running at most `parallelism` of the resulting effects at a
/// time, and succeeds with their values in input order. Fail-fast; `parallelism == 0` dies
/// with a message saying so.
///
/// ```
/// use effect::{for_each_par, run_blocking, succeed, Effect};
///
/// let doubled: Effect<Vec<u32>, ()> = for_each_par(vec![1, 2, 3], |n| succeed(n * 2), 2);
/// assert_eq!(run_blocking(doubled), Ok(vec![2, 4, 6]));
/// ```
pub fn for_each_par<T, A, E, I, F>(items: I, f: F, parallelism: usize) -> Effect<Vec<A>, E>
where
    T: Send + 'static,
    A: Send + 'static,
    E: Send + 'static,
    I: IntoIterator<Item = T>,
    F: Fn(T) -> Effect<A, E> + Send + Sync + 'static,
{
    if parallelism == 0 {
        return die("for_each_par: parallelism must be at least 1");
    }
    let items: Vec<T> = items.into_iter().collect();
    let count = items.len();
    if count == 0 {
        return succeed(Vec::new());
    }
    let queue = Arc::new(Mutex::new(items.into_iter().enumerate()));
    let results: Arc<Mutex<Vec<Option<A>>>> =
        Arc::new(Mutex::new((0..count).map(|_| None).collect()));
    let f = Arc::new(f);
    let workers = parallelism.min(count);
    let collected = results.clone();
    let workers = (0..workers).map(move |_| worker(queue.clone(), f.clone(), results.clone()));
    fail_fast_group(
        workers,
        (),
        |(), _, ()| {},
        move |()| {
            let values = std::mem::take(&mut *collected.lock().unwrap_or_else(|p| p.into_inner()));
            values
                .into_iter()
                .map(|v| v.expect("every item produced a value"))
                .collect()
        },
    )
}

/// One worker: takes the next item, runs `f` on it, stores the value, until the queue is
/// empty or an item fails.
fn worker<T, A, E, F>(
    queue: Arc<Mutex<std::iter::Enumerate<std::vec::IntoIter<T>>>>,
    f: Arc<F>,
    results: Arc<Mutex<Vec<Option<A>>>>,
) -> Effect<(), E>
where
    T: Send + 'static,
    A: Send + 'static,
    E: Send + 'static,
    F: Fn(T) -> Effect<A, E> + Send + Sync + 'static,
{
    Effect::from_future(async move {
        loop {
            let next = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
            let Some((index, item)) = next else {
                return Ok(());
            };
            let value = f(item).await?;
            results.lock().unwrap_or_else(|p| p.into_inner())[index] = Some(value);
        }
    })
}
