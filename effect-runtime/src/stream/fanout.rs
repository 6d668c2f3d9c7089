//! What the fan-out operators (`group_by_key`, `broadcast`, `partition`) are made of: the
//! [`Outlets`] through which one producer fiber hands the values it pulls to several
//! consumers, each outlet bounded in values, and the [`Reader`] through which one consumer
//! reads its outlet.
//!
//! # Who waits for whom
//!
//! One producer pulls the source and hands each value to the outlet (or outlets) it goes to.
//! An outlet holds at most its capacity in values: the producer waits for room in the
//! outlets its values go to, so a slow consumer holds back the source, and with it every
//! other consumer. A consumer waits for values in its own outlet only.
//!
//! A consumer that is done with its outlet, however (it ended, stopped early, failed, was
//! interrupted, or its stream was dropped unopened), drops its [`Reader`], which leaves the
//! outlet *gone*: what waits in it is dropped at once, and from then on the producer drops
//! what would go to it rather than wait for room. So a consumer that stops never holds the
//! others back. Dropping is the signal, rather than the closing of the consumer's scope: a
//! stream stops being pulled (`take`, `zip`) well before the scope it runs in closes.
//!
//! Invariants: only the producer puts values in an outlet, and only after checking the room
//! under the outlet's lock, so an outlet never holds more than its capacity; the end or the
//! failure is recorded after the last value, and given to the consumer only once every value
//! before it has been taken.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll, Waker};

use futures::task::AtomicWaker;

use super::channel::lock;
use super::{Pull, Step, Stream, CHUNK_SIZE};
use crate::kernel::cause::{Cause, Exit};
use crate::kernel::effect::Effect;

/// The outlets of one producer, and where it waits for room in them.
pub(crate) struct Outlets<A, E> {
    list: Vec<Arc<Outlet<A, E>>>,
    capacity: usize,
    room: Arc<Room>,
}

impl<A, E> Clone for Outlets<A, E> {
    fn clone(&self) -> Self {
        Outlets {
            list: self.list.clone(),
            capacity: self.capacity,
            room: self.room.clone(),
        }
    }
}

/// Where a producer waits for room: woken whenever a consumer takes values from one of its
/// outlets, or leaves one.
#[derive(Default)]
struct Room {
    producer: AtomicWaker,
}

/// One consumer's values, waiting for it.
struct Outlet<A, E> {
    capacity: usize,
    room: Arc<Room>,
    state: Mutex<OutletState<A, E>>,
}

struct OutletState<A, E> {
    /// The values waiting, in the chunks they were handed over in; `len` of them in all,
    /// never more than the capacity.
    chunks: VecDeque<Vec<A>>,
    len: usize,
    /// How the producer ended, once it has: given to the consumer after the values.
    end: Option<Exit<(), E>>,
    /// The consumer is done with the outlet: nothing is kept for it any more.
    gone: bool,
    /// The consumer, waiting for values.
    reader: Option<Waker>,
}

/// What a consumer reads next.
enum Next<A, E> {
    Chunk(Vec<A>),
    End,
    Failed(Cause<E>),
}

impl<A: Send + 'static, E: Send + 'static> Outlets<A, E> {
    /// No outlets yet; each one added holds at most `capacity` values.
    pub(crate) fn new(capacity: usize) -> Self {
        Outlets {
            list: Vec::new(),
            capacity,
            room: Arc::default(),
        }
    }

    /// A new outlet (the next index), and the reader of it.
    pub(crate) fn add(&mut self) -> Reader<A, E> {
        let outlet = Arc::new(Outlet {
            capacity: self.capacity,
            room: self.room.clone(),
            state: Mutex::new(OutletState {
                chunks: VecDeque::new(),
                len: 0,
                end: None,
                gone: false,
                reader: None,
            }),
        });
        self.list.push(outlet.clone());
        Reader { outlet }
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether the consumer of outlet `at` still reads it.
    pub(crate) fn is_live(&self, at: usize) -> bool {
        !lock(&self.list[at].state).gone
    }

    /// Whether some consumer still reads its outlet.
    pub(crate) fn any_live(&self) -> bool {
        (0..self.list.len()).any(|at| self.is_live(at))
    }

    /// Hands `pieces[i]` to outlet `i`, each as its room allows, and waits until every piece
    /// is handed over (or dropped: its consumer is gone). The pieces are left empty.
    ///
    /// Interrupted while it waits, it has handed over a first part of each piece, and the
    /// rest is left in `pieces`.
    pub(crate) async fn deliver(&self, pieces: &mut [Vec<A>]) {
        if !self.offer_all(pieces) {
            return;
        }
        poll_fn(|cx| self.poll_delivered(cx, pieces)).await;
    }

    fn poll_delivered(&self, cx: &mut TaskContext<'_>, pieces: &mut [Vec<A>]) -> Poll<()> {
        // Registered before the offers: room made after an offer saw none still wakes us.
        self.room.producer.register(cx.waker());
        match self.offer_all(pieces) {
            true => Poll::Pending,
            false => Poll::Ready(()),
        }
    }

    /// Offers every piece not handed over yet; gives whether some still wait for room.
    fn offer_all(&self, pieces: &mut [Vec<A>]) -> bool {
        let mut waiting = false;
        for (outlet, piece) in self.list.iter().zip(pieces) {
            if !piece.is_empty() && outlet.offer(piece) {
                waiting = true;
            }
        }
        waiting
    }

    /// Waits until every outlet still read has room for a value; gives `false` (at once) when
    /// no consumer reads any more.
    pub(crate) async fn room_in_each(&self) -> bool {
        poll_fn(|cx| {
            if let Some(ready) = self.room_everywhere() {
                return Poll::Ready(ready);
            }
            self.room.producer.register(cx.waker());
            self.room_everywhere().map_or(Poll::Pending, Poll::Ready)
        })
        .await
    }

    /// `Some(true)` if every outlet still read has room, `Some(false)` if none is read,
    /// `None` while one of them is full.
    fn room_everywhere(&self) -> Option<bool> {
        let mut live = false;
        for outlet in &self.list {
            let state = lock(&outlet.state);
            if state.gone {
                continue;
            }
            if state.len >= self.capacity {
                return None;
            }
            live = true;
        }
        Some(live)
    }

    /// Ends every outlet: each consumer ends once it has taken what waits for it.
    pub(crate) fn end_all(&self) {
        for outlet in &self.list {
            outlet.finish(Ok(()));
        }
    }

    /// Ends every outlet with `exit`: the end, or a copy of the failure for each consumer,
    /// after the values waiting for it.
    pub(crate) fn finish_all(&self, exit: Exit<(), E>)
    where
        E: Clone,
    {
        match exit {
            Ok(()) => self.end_all(),
            Err(cause) => {
                for outlet in &self.list {
                    outlet.finish(Err(cause.clone()));
                }
            }
        }
    }
}

impl<A, E> Outlet<A, E> {
    /// Puts as much of `piece` in as there is room for, leaving the rest in `piece` (all of
    /// it is dropped if the consumer is gone); gives whether some is left, waiting for room.
    fn offer(&self, piece: &mut Vec<A>) -> bool {
        let mut state = lock(&self.state);
        if state.gone {
            drop(state);
            // Dropped outside the lock: a value's destructor may do anything.
            drop(std::mem::take(piece));
            return false;
        }
        let room = self.capacity - state.len;
        if room == 0 {
            return true;
        }
        let chunk = if piece.len() <= room {
            std::mem::take(piece)
        } else {
            let rest = piece.split_off(room);
            std::mem::replace(piece, rest)
        };
        // The capacity holds: `room` was checked under this same lock.
        state.len += chunk.len();
        debug_assert!(state.len <= self.capacity);
        state.chunks.push_back(chunk);
        let reader = state.reader.take();
        drop(state);
        if let Some(reader) = reader {
            reader.wake();
        }
        !piece.is_empty()
    }

    /// Records how the producer ended, for the consumer to see after the values.
    fn finish(&self, exit: Exit<(), E>) {
        let mut state = lock(&self.state);
        if state.gone || state.end.is_some() {
            return;
        }
        state.end = Some(exit);
        let reader = state.reader.take();
        drop(state);
        if let Some(reader) = reader {
            reader.wake();
        }
    }

    /// The values waiting (every chunk, up to [`CHUNK_SIZE`] values, as one), else the end or
    /// the failure once recorded, else waits.
    fn poll_next(&self, cx: &mut TaskContext<'_>) -> Poll<Next<A, E>> {
        let mut state = lock(&self.state);
        if let Some(mut chunk) = state.chunks.pop_front() {
            while chunk.len() < CHUNK_SIZE {
                match state.chunks.pop_front() {
                    Some(more) => chunk.extend(more),
                    None => break,
                }
            }
            state.len -= chunk.len();
            drop(state);
            self.room.producer.wake();
            return Poll::Ready(Next::Chunk(chunk));
        }
        match state.end.take() {
            Some(Ok(())) => {
                // Kept: a pull after the end ends again.
                state.end = Some(Ok(()));
                Poll::Ready(Next::End)
            }
            Some(Err(cause)) => Poll::Ready(Next::Failed(cause)),
            None => {
                state.reader = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    /// The consumer is done: drops what waits for it, and lets the producer stop waiting
    /// for room here.
    fn leave(&self) {
        let mut state = lock(&self.state);
        state.gone = true;
        state.len = 0;
        let dropped = (std::mem::take(&mut state.chunks), state.end.take());
        drop(state);
        drop(dropped);
        self.room.producer.wake();
    }
}

/// One consumer's handle on its outlet. Dropping it (with the stream or the pull holding
/// it) leaves the outlet.
pub(crate) struct Reader<A, E> {
    outlet: Arc<Outlet<A, E>>,
}

impl<A, E> Drop for Reader<A, E> {
    fn drop(&mut self) {
        self.outlet.leave();
    }
}

impl<A: Send + 'static, E: Send + 'static> Reader<A, E> {
    /// The pull of the outlet's values as they come (each pull takes every chunk waiting, up
    /// to [`CHUNK_SIZE`] values), then the producer's end or failure. The reader goes with
    /// the pull: the outlet is left as soon as the rest is no longer wanted.
    pub(crate) fn pull(self) -> Pull<A, E> {
        Effect::from_future(async move {
            match poll_fn(|cx| self.outlet.poll_next(cx)).await {
                Next::Chunk(chunk) => Ok(Step::emit(chunk, self.pull())),
                Next::End => Ok(Step::End),
                Next::Failed(cause) => Err(cause),
            }
        })
    }

    /// The stream of the outlet's values: see [`pull`](Reader::pull). Dropped unopened, it
    /// leaves the outlet.
    pub(crate) fn into_stream(self) -> Stream<A, E> {
        Stream::from_open(move |_scope| self.pull())
    }
}
