//! `broadcast` and `partition`: one source, pulled once, feeding several consumer streams,
//! each of which may run anywhere (in one run, or in several runs at once).
//!
//! # Whose is the source
//!
//! No consumer owns the source: it runs on a producer fiber owned by a [`Scope`] of its own
//! (the *source's scope*, through its [`Workers`]), shared by the consumers ([`Shared`]).
//! The producer starts once every consumer has been opened (or dropped unopened), by
//! whichever consumer's pull gets there first. Each consumer that is opened registers, in
//! its own scope, a finalizer that counts it out; the last one counted out (none left
//! unopened, none still open) closes the source's scope, which interrupts the producer and
//! waits for it, its finalizers (the source's resources' releases) run. So the source is
//! released exactly once, after every consumer is done, and within the run of the last.
//!
//! Invariants: the producer runs only while every consumer is either open in a scope or
//! gone (it starts when none is left unopened, and none can be opened after that), so the
//! last scope to close is always there to wait for it; dropping an unopened consumer never
//! has to stop a running producer.

use std::pin::pin;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::channel::{lock, Workers};
use super::fanout::{Outlets, Reader};
use super::{Pull, Step, Stream};
use crate::kernel::cause::Never;
use crate::kernel::context::Context;
use crate::kernel::effect::{succeed, suspend, Effect};
use crate::ops::scope::{scoped, Scope, ScopeExit};

impl<A: Send + 'static, E: Send + 'static> Stream<A, E> {
    /// `n` streams of this stream's values: this stream is pulled once, and every consumer
    /// sees every value, in order. Each consumer has a buffer of `buffer` values; the source
    /// is pulled only once every consumer still reading has room for a value, so **the
    /// slowest consumer sets the pace**, and the source runs ahead of it by at most `buffer`
    /// values (beyond the rest of one chunk of the source: exactly `buffer` for an effectful
    /// source, one value per pull). The consumers must run concurrently (in one `zip_par`,
    /// `merge_all`, ...): run one after the other, the first would wait for the second.
    ///
    /// **When the source runs.** It starts once every one of the `n` streams has been opened
    /// (its run started) or dropped unopened, on a fiber of its own, so no consumer misses
    /// a value and an unopened consumer dropped does not hold the others back. It runs in a
    /// scope of its own, released when it ends, or, if it has not ended, once every consumer
    /// is done: its resources are released exactly once, never while a consumer still reads.
    ///
    /// How it ends, for each consumer:
    /// - **End.** A consumer ends after the source has ended and it has read every value.
    /// - **Failure or defect.** A failure (or defect) of the source reaches every consumer
    ///   still reading, after the values before it (`E: Clone` for that); the source's
    ///   resources are released first.
    /// - **A consumer stops early** (it took what it needed, failed, was interrupted, or
    ///   was dropped unopened): the values waiting for it are dropped, and it no longer
    ///   holds the source back; the others go on. When every consumer has stopped, the
    ///   source is not pulled again, and is interrupted as the last consumer's run ends.
    ///
    /// `broadcast(0, ..)` gives no stream, and the source never runs.
    ///
    /// # Panics
    /// When `buffer` is 0.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// let [all, evens]: [Stream<u32, String>; 2] =
    ///     Stream::from_iter(1..=6).broadcast(2, 4).try_into().unwrap();
    /// let both = all.run_collect().zip_par(evens.filter(|n| n % 2 == 0).run_collect());
    /// assert_eq!(run_blocking(both), Ok((vec![1, 2, 3, 4, 5, 6], vec![2, 4, 6])));
    /// ```
    pub fn broadcast(self, n: usize, buffer: usize) -> Vec<Stream<A, E>>
    where
        A: Clone,
        E: Clone,
    {
        assert!(
            buffer > 0,
            "Stream::broadcast: the buffer must hold at least 1 value"
        );
        fan_out(self, n, buffer, Route::Copies(<Vec<A>>::clone))
    }

    /// Two streams of this stream's values: those for which `predicate` holds on the left,
    /// the others on the right, each in order. This stream is pulled once, on a fiber of its
    /// own, started and released as [`broadcast`](Stream::broadcast)'s source is (once both
    /// sides have been opened; released as it ends, or once both sides are done).
    ///
    /// **Back-pressure.** Each side has a buffer of `buffer` values. A value waits for room
    /// on its own side only, and the source is pulled again once the value is handed over:
    /// so a slow side holds back the source as soon as a value comes for it, and with it
    /// the other side; the source runs ahead of a side by at most `buffer` values, beyond the
    /// chunk being handed out (one value for an effectful source). Run both sides
    /// concurrently.
    ///
    /// How it ends: as for `broadcast`'s consumers. Each side ends after the source's end;
    /// a failure of the source, or a panic in `predicate` (which runs on the source's fiber),
    /// reaches both sides (`E: Clone`); a side that stops early has its values dropped and
    /// holds nothing back.
    ///
    /// # Panics
    /// When `buffer` is 0.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// let (evens, odds) = Stream::<u32, String>::from_iter(1..=7).partition(|n| n % 2 == 0, 4);
    /// let both = evens.run_collect().zip_par(odds.run_collect());
    /// assert_eq!(run_blocking(both), Ok((vec![2, 4, 6], vec![1, 3, 5, 7])));
    /// ```
    pub fn partition<F>(self, predicate: F, buffer: usize) -> (Stream<A, E>, Stream<A, E>)
    where
        E: Clone,
        F: FnMut(&A) -> bool + Send + 'static,
    {
        assert!(
            buffer > 0,
            "Stream::partition: the buffer must hold at least 1 value"
        );
        let mut sides = fan_out(self, 2, buffer, Route::Sides(Box::new(predicate)));
        let right = sides.pop().expect("two sides");
        let left = sides.pop().expect("two sides");
        (left, right)
    }
}

/// Where each value of a chunk goes.
enum Route<A> {
    /// To every consumer still reading, each its own copy of the chunk.
    Copies(fn(&Vec<A>) -> Vec<A>),
    /// To the left consumer (0) if the predicate holds, else to the right one (1).
    Sides(Box<dyn FnMut(&A) -> bool + Send>),
}

impl<A: Send + 'static> Route<A> {
    /// Splits `chunk` into `pieces`, one per outlet.
    fn split<E: Send + 'static>(
        &mut self,
        chunk: Vec<A>,
        outlets: &Outlets<A, E>,
        pieces: &mut [Vec<A>],
    ) {
        match self {
            Route::Copies(copy) => {
                let live: Vec<usize> = (0..outlets.len())
                    .filter(|&at| outlets.is_live(at))
                    .collect();
                if let Some((&last, others)) = live.split_last() {
                    for &at in others {
                        pieces[at] = copy(&chunk);
                    }
                    pieces[last] = chunk;
                }
            }
            Route::Sides(predicate) => {
                for value in chunk {
                    let side = if predicate(&value) { 0 } else { 1 };
                    pieces[side].push(value);
                }
            }
        }
    }
}

/// `n` consumer streams of `source`, its values routed to them by `route`.
fn fan_out<A, E>(
    source: Stream<A, E>,
    n: usize,
    buffer: usize,
    route: Route<A>,
) -> Vec<Stream<A, E>>
where
    A: Send + 'static,
    E: Clone + Send + 'static,
{
    if n == 0 {
        return Vec::new();
    }
    let mut outlets = Outlets::new(buffer);
    let readers: Vec<Reader<A, E>> = (0..n).map(|_| outlets.add()).collect();
    let scope = Scope::new();
    let shared = Arc::new(Shared {
        openings: Mutex::new(Openings {
            producer: Some(produce(source, outlets, route)),
            unopened: n,
            open: 0,
        }),
        all_opened: Notify::new(),
        workers: Workers::new(&scope),
        scope,
    });
    readers
        .into_iter()
        .map(|reader| {
            let ticket = Ticket {
                shared: shared.clone(),
                reader: Some(reader),
            };
            Stream::from_open(move |scope| ticket.open(&scope))
        })
        .collect()
}

/// The producer: pulls `source` (in a scope of its own, on the producer's fiber) and hands
/// its values to the outlets, then ends them with how the source ended, once its scope has
/// closed (so a release's defect reaches the consumers too).
///
/// Invariant: the source is pulled only while some consumer reads; for `Copies`, only once
/// every consumer still reading has room for a value (the slowest sets the pace). Once no
/// consumer reads, the producer waits to be interrupted by the closing of the source's scope.
fn produce<A, E>(
    source: Stream<A, E>,
    outlets: Outlets<A, E>,
    mut route: Route<A>,
) -> Effect<(), Never>
where
    A: Send + 'static,
    E: Clone + Send + 'static,
{
    let finishing = outlets.clone();
    let run = scoped(Effect::new(move |ctx: Context| async move {
        let mut pull = source.open(ctx.get::<Scope>());
        let mut pieces: Vec<Vec<A>> = (0..outlets.len()).map(|_| Vec::new()).collect();
        loop {
            let wanted = match route {
                Route::Copies(_) => outlets.room_in_each().await,
                Route::Sides(_) => outlets.any_live(),
            };
            if !wanted {
                // Every consumer has stopped: the source is not pulled again. It stays open
                // until the last consumer's scope closes and interrupts this fiber, so that
                // its release sees the same exit however the consumers stopped.
                std::future::pending::<()>().await;
            }
            match pull.await? {
                Step::Emit(chunk, rest) => {
                    route.split(chunk, &outlets, &mut pieces);
                    outlets.deliver(&mut pieces).await;
                    pull = *rest;
                }
                Step::End => return Ok(()),
            }
        }
    }));
    Effect::from_future(async move {
        finishing.finish_all(run.await);
        Ok(())
    })
}

/// What the consumers of one source share.
struct Shared {
    openings: Mutex<Openings>,
    /// Told when no consumer is left unopened: consumers waiting to start the producer
    /// check again.
    all_opened: Notify,
    /// The source's scope: its workers hold the producer. Closed by the last consumer done.
    scope: Scope,
    workers: Workers,
}

struct Openings {
    /// The producer, until a consumer starts it.
    producer: Option<Effect<(), Never>>,
    /// Consumers neither opened nor dropped.
    unopened: usize,
    /// Consumers opened whose scope has not closed.
    open: usize,
}

impl Shared {
    /// One more consumer opened.
    fn opened(&self) {
        let mut openings = lock(&self.openings);
        openings.unopened -= 1;
        openings.open += 1;
        let all = openings.unopened == 0;
        drop(openings);
        if all {
            self.all_opened.notify_waiters();
        }
    }

    /// A consumer dropped unopened. It cannot be the last one done while the producer runs:
    /// the producer starts only once none is left unopened.
    fn dropped_unopened(&self) {
        let mut openings = lock(&self.openings);
        openings.unopened -= 1;
        let all = openings.unopened == 0;
        drop(openings);
        if all {
            self.all_opened.notify_waiters();
        }
    }

    /// A consumer's scope closed with `exit`: if it was the last consumer, the source's scope
    /// closes too (the producer interrupted and awaited, the source released).
    fn closed(&self, exit: ScopeExit) -> Effect<(), Never> {
        let mut openings = lock(&self.openings);
        openings.open -= 1;
        let last = openings.open == 0 && openings.unopened == 0;
        drop(openings);
        match last {
            true => self.scope.close_effect(exit),
            false => succeed(()),
        }
    }

    /// Waits until no consumer is left unopened, then starts the producer if no consumer has
    /// yet.
    fn started(self: Arc<Self>) -> Effect<(), Never> {
        Effect::from_future(async move {
            loop {
                // Registered before the check: an opening in between still wakes us.
                let mut all_opened = pin!(self.all_opened.notified());
                all_opened.as_mut().enable();
                if lock(&self.openings).unopened == 0 {
                    break;
                }
                all_opened.await;
            }
            Ok(self)
        })
        .flat_map(|shared| {
            // Taking the producer and forking it are one uninterruptible step: a consumer
            // interrupted here has either left the producer for another or started it.
            suspend(move || match lock(&shared.openings).producer.take() {
                Some(producer) => shared.workers.fork(producer),
                None => succeed(()),
            })
            .uninterruptible()
        })
    }
}

/// One consumer stream, until it is opened. Dropped unopened, it counts its consumer out.
struct Ticket<A, E> {
    shared: Arc<Shared>,
    reader: Option<Reader<A, E>>,
}

impl<A, E> Drop for Ticket<A, E> {
    fn drop(&mut self) {
        if let Some(reader) = self.reader.take() {
            drop(reader);
            self.shared.dropped_unopened();
        }
    }
}

impl<A: Send + 'static, E: Send + 'static> Ticket<A, E> {
    /// Opens the consumer in `scope`: counted in now, and out when `scope` closes; its first
    /// pull waits for the producer to start (starting it if it is the one to), then reads.
    fn open(mut self, scope: &Scope) -> Pull<A, E> {
        let reader = self.reader.take().expect("a consumer is opened once");
        let shared = self.shared.clone();
        shared.opened();
        let closing = shared.clone();
        if !scope.add_finalizer_exit_now(move |exit| closing.closed(exit.clone())) {
            // Opened in a scope already closed: counted out at once, reading nothing.
            drop(reader);
            return shared.closed(Ok(())).widen().map(|()| Step::End);
        }
        shared.started().widen().flat_map(move |()| reader.pull())
    }
}
