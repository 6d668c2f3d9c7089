//! `buffer_sliding` and `buffer_dropping`: buffers that never hold the producer back, and
//! lose values instead when the consumer falls behind.
//!
//! # Who owns what
//!
//! The producer is a daemon fiber owned by the stream's scope ([`Workers`]), started on the
//! first pull: it runs the upstream in a scope of its own and puts every value it pulls into
//! the shared [`Lossy`] buffer, which keeps at most `capacity` values, losing the oldest
//! (sliding) or the newest (dropping) beyond that. Its end (or failure) goes into the same
//! buffer, after its upstream's scope has closed, and is never lost: the consumer sees it
//! once it has taken every value kept before it. When the run ends early, the stream's scope
//! interrupts the producer and awaits it, so its resources are released before the run ends.

use std::collections::VecDeque;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use super::channel::Workers;
use super::{Pull, Step, Stream};
use crate::kernel::cause::{Exit, Never};
use crate::kernel::context::Context;
use crate::kernel::effect::Effect;
use crate::ops::scope::{scoped, Scope};

/// Which values a full buffer loses.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lose {
    Oldest,
    Newest,
}

/// The values the producer has pulled and the consumer has not taken, and how the producer
/// ended; the consumer waits on `ready`.
struct Lossy<A, E> {
    state: Mutex<State<A, E>>,
    ready: Notify,
}

struct State<A, E> {
    values: VecDeque<A>,
    capacity: usize,
    lose: Lose,
    ended: Option<Exit<(), E>>,
}

impl<A, E> Lossy<A, E> {
    fn lock(&self) -> MutexGuard<'_, State<A, E>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps what `chunk` may keep of its values, losing the rest as the policy says.
    fn put(&self, chunk: Vec<A>) {
        let mut state = self.lock();
        let capacity = state.capacity;
        match state.lose {
            Lose::Oldest => {
                state.values.extend(chunk);
                let over = state.values.len().saturating_sub(capacity);
                state.values.drain(..over);
            }
            Lose::Newest => {
                let room = capacity - state.values.len();
                state.values.extend(chunk.into_iter().take(room));
            }
        }
        drop(state);
        self.ready.notify_one();
    }

    fn end(&self, exit: Exit<(), E>) {
        self.lock().ended = Some(exit);
        self.ready.notify_one();
    }
}

impl<A: Send + 'static, E: Send + 'static> Stream<A, E> {
    /// This stream through a buffer of `capacity` values that never holds the producer back:
    /// when the consumer falls behind, the **oldest** values waiting are lost, so the
    /// consumer always gets the most recent ones (a dashboard that shows the latest
    /// readings). Values keep their order.
    ///
    /// Reads ahead without bound (the upstream runs on a fiber of its own as fast as it
    /// can), but holds at most `capacity` values. The upstream's end comes after the values
    /// kept before it; its failure (or defect) fails the stream after them, once its scope
    /// has closed. An early stop or an interruption interrupts the producer, and its
    /// resources are released, before the run ends.
    ///
    /// # Panics
    /// When `capacity` is 0.
    ///
    /// ```
    /// use effect::{ms, sleep, stream::Stream, Clock, Context, Runtime, TestClock};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let clock = TestClock::new();
    /// let runtime = Runtime::new(Context::new().with(Clock::from(clock.clone())));
    /// // Ten readings at once, a consumer that takes 10 ms per value: it sees the first,
    /// // then only the latest two.
    /// let latest = Stream::<u32, String>::from_iter(0..10)
    ///     .buffer_sliding(2)
    ///     .map_effect(|n| sleep(ms(10)).as_value(n));
    /// let run = runtime.fork(latest.run_collect());
    /// clock.advance(ms(100)).await;
    /// let seen = runtime.run(run.join()).await.unwrap();
    /// assert_eq!(seen.last(), Some(&9), "the latest value always gets through");
    /// assert!(seen.len() < 10, "some were lost: {seen:?}");
    /// # }
    /// ```
    pub fn buffer_sliding(self, capacity: usize) -> Stream<A, E> {
        assert!(
            capacity > 0,
            "Stream::buffer_sliding: the capacity must be at least 1"
        );
        self.lossy(capacity, Lose::Oldest)
    }

    /// Like [`buffer_sliding`](Stream::buffer_sliding), but a full buffer loses the
    /// **newest** values: the consumer gets the oldest ones waiting, and what came while it
    /// was behind is dropped (load shedding: new requests beyond the backlog are refused).
    ///
    /// # Panics
    /// When `capacity` is 0.
    ///
    /// ```
    /// use effect::{ms, sleep, stream::Stream, Clock, Context, Runtime, TestClock};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let clock = TestClock::new();
    /// let runtime = Runtime::new(Context::new().with(Clock::from(clock.clone())));
    /// let oldest = Stream::<u32, String>::from_iter(0..10)
    ///     .buffer_dropping(2)
    ///     .map_effect(|n| sleep(ms(10)).as_value(n));
    /// let run = runtime.fork(oldest.run_collect());
    /// clock.advance(ms(100)).await;
    /// assert_eq!(runtime.run(run.join()).await, Ok(vec![0, 1]));
    /// # }
    /// ```
    pub fn buffer_dropping(self, capacity: usize) -> Stream<A, E> {
        assert!(
            capacity > 0,
            "Stream::buffer_dropping: the capacity must be at least 1"
        );
        self.lossy(capacity, Lose::Newest)
    }

    fn lossy(self, capacity: usize, lose: Lose) -> Stream<A, E> {
        Stream::from_open(move |scope| {
            let workers = Workers::new(&scope);
            let buffer = Arc::new(Lossy {
                state: Mutex::new(State {
                    values: VecDeque::new(),
                    capacity,
                    lose,
                    ended: None,
                }),
                ready: Notify::new(),
            });
            let producer = produce(self, buffer.clone());
            workers.start(vec![producer], move |_| take(buffer))
        })
    }
}

/// The producer: runs `upstream` in a scope of its own, putting every chunk into `buffer`,
/// then its exit, once that scope has closed.
fn produce<A: Send + 'static, E: Send + 'static>(
    upstream: Stream<A, E>,
    buffer: Arc<Lossy<A, E>>,
) -> Effect<(), Never> {
    let into = buffer.clone();
    let run = scoped(Effect::new(move |ctx: Context| async move {
        let mut pull = upstream.open(ctx.get::<Scope>());
        loop {
            match pull.await? {
                Step::Emit(chunk, rest) => {
                    into.put(chunk);
                    pull = *rest;
                }
                Step::End => return Ok(()),
            }
        }
    }));
    Effect::from_future(async move {
        let exit = run.await;
        buffer.end(exit);
        Ok(())
    })
}

/// The pull of the consumer: every value kept so far, at once, or the producer's exit once
/// none is left. Cancel-safe: nothing is taken until the poll that returns it.
fn take<A: Send + 'static, E: Send + 'static>(buffer: Arc<Lossy<A, E>>) -> Pull<A, E> {
    Effect::from_future(async move {
        loop {
            // Registered before looking: a value put meanwhile wakes this wait.
            let mut ready = pin!(buffer.ready.notified());
            ready.as_mut().enable();
            {
                let mut state = buffer.lock();
                if !state.values.is_empty() {
                    let chunk: Vec<A> = state.values.drain(..).collect();
                    drop(state);
                    return Ok(Step::emit(chunk, take(buffer.clone())));
                }
                if let Some(exit) = state.ended.take() {
                    return exit.map(|()| Step::End);
                }
            }
            ready.await;
        }
    })
}
