//! What the concurrent and timed operators are made of: the fibers an opened stream starts,
//! owned by the scope it was opened in ([`Workers`]), and the channel through which those
//! fibers hand their chunks, their end and their failure to the fiber pulling the stream
//! ([`Channel`]).
//!
//! # Who owns which fiber
//!
//! A pull runs on whatever fiber pulls: the sink's, or an in-place member of a `race` or a
//! `timeout` that a downstream operator (`interrupt_when`, `timeout`) runs it in. A fiber
//! forked from there with `fork` would belong to that member and be interrupted as soon as
//! the member's pull ends. So every fiber an operator starts is a member of the operator's
//! [`Workers`] (a kernel region with no body), started in one step, and the **stream's
//! scope** owns that region: when that scope closes (the run ended, failed, was interrupted, or the consumer took
//! what it needed), every fiber is interrupted and awaited, and its finalizers have run,
//! before the close goes on. A stream that fails fast shuts its workers the same way before
//! it reports the failure.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{Pull, Step, Stream, CHUNK_SIZE};
use crate::kernel::cause::{Cause, Exit, Never};
use crate::kernel::clock::Clock;
use crate::kernel::context::Context;
use crate::kernel::effect::{closing, Effect};
use crate::kernel::fiber::core::Family;
use crate::kernel::fiber::handoff::current_fiber;
use crate::kernel::fiber::locals::Inherited;
use crate::kernel::fiber::prim::Owner;
use crate::kernel::fiber::region::Region;
use crate::ops::scope::{scoped, Scope};
use crate::services::sync::Queue;

/// How many chunks a channel without a value bound holds: a producer (a `merge` source, an
/// inner stream of `flat_map_par`, the upstream of a timed operator) runs at most this many
/// chunks ahead of the consumer, plus the chunk it is handing over.
pub(crate) const CHANNEL_CHUNKS: usize = 16;

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// The fibers one opened operator started, owned by the scope it was opened in: the task
/// members of a [`Region`] that has no body (the kernel's one owner of fibers), closed when
/// the scope closes.
///
/// Invariant: every fiber is started as a member of the region, in one step of the fiber
/// that starts it, so none runs unowned, whichever fiber started it (a pull's fiber may be an
/// in-place member of a race, whose own forks would end with its pull). The region is closed
/// when the scope closes (its finalizer, registered at open), or earlier when the stream
/// fails fast: every member is interrupted and awaited, and the defects of their
/// interruption (a finalizer that died) are kept. Once shut, nothing more starts.
#[derive(Clone)]
pub(crate) struct Workers {
    shared: Arc<WorkersShared>,
}

struct WorkersShared {
    region: Arc<Region<(), Never>>,
    state: Mutex<WorkersState>,
}

#[derive(Default)]
struct WorkersState {
    /// Slots of finished members, for the next ones (see [`Region::take_finished`]).
    free: Vec<usize>,
    shut: bool,
}

impl Workers {
    /// An empty set, shut when `scope` closes.
    pub(crate) fn new(scope: &Scope) -> Workers {
        let workers = Workers {
            shared: Arc::new(WorkersShared {
                region: Arc::default(),
                state: Mutex::default(),
            }),
        };
        let owner = workers.clone();
        if !scope.add_finalizer_exit_now(move |_| owner.shut()) {
            // Opened in a scope that is already closed: nothing may start.
            lock(&workers.shared.state).shut = true;
        }
        workers
    }

    /// Starts `effect` on a fiber of its own (interruptible), owned by this set.
    pub(crate) fn fork(&self, effect: Effect<(), Never>) -> Effect<(), Never> {
        self.fork_all(std::iter::once(effect))
    }

    /// Starts every effect of `effects`, in order, each on a fiber of its own owned by this
    /// set.
    pub(crate) fn fork_all<I>(&self, effects: I) -> Effect<(), Never>
    where
        I: IntoIterator<Item = Effect<(), Never>> + Send + 'static,
        I::IntoIter: Send,
    {
        let workers = self.clone();
        Effect::from_future(async move {
            let (inherited, family) = current_fiber();
            for effect in effects {
                workers.start_one(effect, &inherited, &family);
            }
            Ok(())
        })
    }

    /// A pull that first starts `producers`, each on a fiber of its own owned by this set,
    /// then goes on as `then` says.
    pub(crate) fn start<A, E, F>(self, producers: Vec<Effect<(), Never>>, then: F) -> Pull<A, E>
    where
        A: Send + 'static,
        E: Send + 'static,
        F: FnOnce(Workers) -> Pull<A, E> + Send + 'static,
    {
        self.fork_all(producers)
            .widen()
            .flat_map(move |()| then(self))
    }

    /// Starts `effect` as a member, in the slot of a finished one if there is one (so a run
    /// starting a fiber per value holds only about as many as are running); nothing once the
    /// set is shut.
    fn start_one(&self, effect: Effect<(), Never>, from: &Inherited, family: &Option<Arc<Family>>) {
        let WorkersShared { region, state } = &*self.shared;
        let mut state = lock(state);
        if state.shut {
            return;
        }
        if state.free.is_empty() {
            region.take_finished(&mut state.free);
        }
        region.start_task(effect, state.free.pop(), from, family);
    }

    /// Shuts the set: closes its region, which interrupts every member still running and
    /// waits until each is done (its finalizers have run), and fails with the defects their
    /// interruption produced (a finalizer that died), which are never lost. Shutting twice
    /// does nothing more.
    pub(crate) fn shut(&self) -> Effect<(), Never> {
        let shared = self.shared.clone();
        Effect::from_future(async move {
            lock(&shared.state).shut = true;
            let owner: Arc<dyn Owner> = shared.region.clone();
            closing(owner.close()).await
        })
        .uninterruptible()
    }
}

/// What the producers of a channel tell its consumer, in the order it happens.
pub(crate) enum Signal<T> {
    /// Values, in order.
    Chunk(Vec<T>),
    /// Every producer has ended; nothing follows.
    End,
    /// A producer failed. Its cause is already in the channel's failure cell: recorded before
    /// it is announced, a failure is never lost, even by a producer interrupted (by a fail-fast
    /// shut) while it waits for room to announce it.
    Failed,
}

/// A bounded [`Queue`] of [`Signal`]s from producer fibers to the one consumer pulling the
/// stream, with the count of producers still running (the last to end sends `End`), the
/// failure cell, and optionally a bound on the *values* in flight.
pub(crate) struct Channel<T, E> {
    queue: Queue<Signal<T>>,
    shared: Arc<Shared<E>>,
}

struct Shared<E> {
    /// Producers that have not ended. The one that brings it to zero sends `End`, after its
    /// last chunk: every other producer's chunks were queued before it ended.
    live: AtomicUsize,
    failure: Mutex<Option<Cause<E>>>,
    /// With a value bound: one credit per value taken from upstream (or started, for
    /// `map_par`) and not yet given to the consumer. Producers take credits before they put
    /// values in; the consumer gives them back as it emits the values.
    credits: Option<Arc<Semaphore>>,
}

impl<T, E> Clone for Channel<T, E> {
    fn clone(&self) -> Self {
        Channel {
            queue: self.queue.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<T: Send + 'static, E: Send + 'static> Channel<T, E> {
    /// A channel of `chunks` chunks, for `producers` producers.
    pub(crate) fn new(chunks: usize, producers: usize) -> Self {
        Channel::with_credits(chunks, producers, None)
    }

    /// A channel holding at most `values` values (in chunks of at least one), for
    /// `producers` producers that take credits for what they send.
    pub(crate) fn with_value_bound(values: usize, producers: usize) -> Self {
        // More permits than tokio's semaphore holds is as good as unbounded.
        let credits = values.min(Semaphore::MAX_PERMITS);
        // One item per value at most, and room for the producers' last signals beside them.
        let capacity = credits.saturating_add(producers).saturating_add(1);
        let credits = Arc::new(Semaphore::new(credits));
        Channel::with_credits(capacity, producers, Some(credits))
    }

    fn with_credits(capacity: usize, producers: usize, credits: Option<Arc<Semaphore>>) -> Self {
        Channel {
            queue: Queue::bounded(capacity),
            shared: Arc::new(Shared {
                live: AtomicUsize::new(producers),
                failure: Mutex::new(None),
                credits,
            }),
        }
    }

    /// The credits of a channel with a value bound.
    pub(crate) fn credits(&self) -> Option<&Arc<Semaphore>> {
        self.shared.credits.as_ref()
    }

    /// Counts one more producer; called before it is started.
    pub(crate) fn add_producer(&self) {
        self.shared.live.fetch_add(1, Ordering::AcqRel);
    }

    /// Gives back the credits of `values` values the consumer has emitted.
    pub(crate) fn release(&self, values: usize) {
        if let Some(credits) = &self.shared.credits {
            credits.add_permits(values);
        }
    }

    /// Sends a chunk whose credits its producer already holds (so it never waits for room).
    pub(crate) async fn send_chunk(&self, chunk: Vec<T>) {
        self.send(Signal::Chunk(chunk)).await;
    }

    async fn send(&self, signal: Signal<T>) {
        // Channels are never shut down: a producer is interrupted rather than refused.
        let _ = self.queue.send(signal).await;
    }

    /// Sends `chunk`, taking the credits it needs (if the channel has a value bound) beyond
    /// the `held` ones, in pieces as credits come; gives how many credits are still held.
    async fn send_counted(&self, mut chunk: Vec<T>, mut held: usize) -> usize {
        let Some(credits) = &self.shared.credits else {
            if !chunk.is_empty() {
                self.send(Signal::Chunk(chunk)).await;
            }
            return held;
        };
        while !chunk.is_empty() {
            if held == 0 {
                held = take_credits(credits, chunk.len()).await;
            } else {
                held += try_take_credits(credits, chunk.len().saturating_sub(held));
            }
            let rest = if chunk.len() > held {
                chunk.split_off(held)
            } else {
                Vec::new()
            };
            held -= chunk.len();
            self.send(Signal::Chunk(chunk)).await;
            chunk = rest;
        }
        held
    }

    /// Records that a producer ended with `exit`: the last to end sends `End`; a failure is
    /// recorded (beside any other, in parallel) and announced with `Failed`.
    async fn finish(&self, exit: Exit<(), E>) {
        match exit {
            Ok(()) => {
                if self.shared.live.fetch_sub(1, Ordering::AcqRel) == 1 {
                    self.send(Signal::End).await;
                }
            }
            Err(cause) => {
                {
                    let mut failure = lock(&self.shared.failure);
                    *failure = Some(match failure.take() {
                        None => cause,
                        Some(earlier) => earlier.both(cause),
                    });
                }
                self.send(Signal::Failed).await;
            }
        }
    }

    /// The producer that runs `run` and tells the channel how it ended. `slot` (a permit of
    /// `flat_map_par`'s limit) is given back once `run` is over, its resources released.
    pub(crate) fn finishing(
        self,
        run: Effect<(), E>,
        slot: Option<OwnedSemaphorePermit>,
    ) -> Effect<(), Never> {
        Effect::from_future(async move {
            let exit = run.await;
            drop(slot);
            self.finish(exit).await;
            Ok(())
        })
    }

    /// The producer that runs `stream` in a scope of its own (closed when it ends, however it
    /// ends, so its resources are released on this fiber) and sends its chunks. With a value
    /// bound it takes a credit *before* each pull, so it never holds more pulled values than
    /// credits, beyond the rest of the one chunk it is handing over.
    pub(crate) fn pump(
        self,
        stream: Stream<T, E>,
        slot: Option<OwnedSemaphorePermit>,
    ) -> Effect<(), Never> {
        let out = self.clone();
        let run = scoped(Effect::new(move |ctx: Context| async move {
            let mut pull = stream.open(ctx.get::<Scope>());
            let mut held = 0;
            loop {
                if let (Some(credits), 0) = (out.credits(), held) {
                    held = take_credits(credits, 1).await;
                }
                match pull.await? {
                    Step::Emit(chunk, rest) => {
                        held = out.send_counted(chunk, held).await;
                        pull = *rest;
                    }
                    Step::End => return Ok(()),
                }
            }
        }));
        self.finishing(run, slot)
    }

    /// The next signal if one is waiting.
    pub(crate) fn try_recv(&self) -> Option<Signal<T>> {
        self.queue.try_take()
    }

    /// The next signal, waiting for one. Cancel-safe.
    pub(crate) async fn recv(&self) -> Signal<T> {
        self.queue.recv().await.unwrap_or(Signal::End)
    }

    /// The next signal, or `None` once `left` has passed on `clock` (at once if it is zero,
    /// unless a signal is ready: a signal ready when time is up wins). Without a time limit,
    /// waits for the signal. Cancel-safe.
    pub(crate) async fn recv_within(
        &self,
        clock: &Clock,
        left: Option<Duration>,
    ) -> Option<Signal<T>> {
        let Some(left) = left else {
            return Some(self.recv().await);
        };
        let mut signal = pin!(self.recv());
        let mut expiry = pin!(clock.sleep(left));
        poll_fn(|cx| match signal.as_mut().poll(cx) {
            Poll::Ready(signal) => Poll::Ready(Some(signal)),
            Poll::Pending => expiry.as_mut().poll(cx).map(|()| None),
        })
        .await
    }

    /// After a `Failed` signal: shuts `workers` (every producer interrupted, its finalizers
    /// run), then fails with the recorded failure, beside the defects the shut produced.
    pub(crate) fn fail_fast<B: Send + 'static>(&self, workers: &Workers) -> Effect<B, E> {
        let (shared, workers) = (self.shared.clone(), workers.clone());
        Effect::from_future(async move {
            let shut = workers.shut().await;
            let failure = lock(&shared.failure).take().unwrap_or_else(|| {
                Cause::die(
                    "effect runtime: a stream producer announced a failure it did not record",
                )
            });
            Err(match shut {
                Ok(()) => failure,
                Err(defects) => failure.both(defects.widen()),
            })
        })
    }

    /// The pull of the values the producers send, as they arrive (each pull takes every
    /// chunk already waiting, up to [`CHUNK_SIZE`] values), until every producer has ended or
    /// one has failed (then fail-fast: see [`fail_fast`](Channel::fail_fast)). Credits are
    /// given back as values are emitted.
    pub(crate) fn receive(self, workers: Workers) -> Pull<T, E> {
        self.receive_from(None, workers)
    }

    /// [`receive`](Channel::receive), starting with `taken` if a signal was already taken.
    fn receive_from(self, taken: Option<Signal<T>>, workers: Workers) -> Pull<T, E> {
        Effect::from_future(async move {
            let signal = match taken {
                Some(signal) => signal,
                None => self.recv().await,
            };
            match signal {
                Signal::Chunk(mut chunk) => {
                    let mut after = None;
                    while chunk.len() < CHUNK_SIZE {
                        match self.try_recv() {
                            Some(Signal::Chunk(more)) => chunk.extend(more),
                            // The end or a failure comes after these values: next pull.
                            other => {
                                after = other;
                                break;
                            }
                        }
                    }
                    self.release(chunk.len());
                    Ok(Step::emit(chunk, self.receive_from(after, workers)))
                }
                Signal::End => Ok(Step::End),
                Signal::Failed => self.fail_fast(&workers).await,
            }
        })
    }
}

impl<A: Send + 'static, E: Send + 'static> Stream<A, E> {
    /// Opened in `scope`: this stream runs on a producer fiber owned by `scope`, feeding
    /// `channel`, from the first pull on; `consume` makes the pull that reads the channel
    /// (given the workers to shut if it fails fast).
    pub(crate) fn open_producing<B, F>(
        self,
        scope: &Scope,
        channel: Channel<A, E>,
        consume: F,
    ) -> Pull<B, E>
    where
        B: Send + 'static,
        F: FnOnce(Channel<A, E>, Workers) -> Pull<B, E> + Send + 'static,
    {
        let producer = channel.clone().pump(self, None);
        Workers::new(scope).start(vec![producer], move |workers| consume(channel, workers))
    }
}

/// Waits for one credit, then takes as many more (up to `want` in all) as are free now;
/// gives how many it took. Credits taken are forgotten: the consumer adds them back.
async fn take_credits(credits: &Semaphore, want: usize) -> usize {
    credits
        .acquire()
        .await
        .expect("effect runtime: a stream channel's credits are never closed")
        .forget();
    1 + try_take_credits(credits, want.saturating_sub(1))
}

/// Takes up to `want` credits that are free now; gives how many.
fn try_take_credits(credits: &Semaphore, want: usize) -> usize {
    let take = want.min(credits.available_permits()).min(u32::MAX as usize);
    if take == 0 {
        return 0;
    }
    // Only this producer takes credits, so what was free is still free (or more is).
    match credits.try_acquire_many(take as u32) {
        Ok(permits) => {
            permits.forget();
            take
        }
        Err(_) => 0,
    }
}
