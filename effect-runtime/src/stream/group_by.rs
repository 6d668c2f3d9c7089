//! `group_by_key`: a stream split by key into groups, each consumed by a stream of its own,
//! all at once, their results merged.
//!
//! One dispatcher fiber pulls the source and hands each value to its key's group through
//! the group's [`Outlets`] entry, bounded in values; each group's stream runs on a fiber of
//! its own and hands its values to the pulling fiber through one [`Channel`], as
//! `flat_map_par`'s inner streams do. Every fiber is owned by the stream's scope (see
//! [`channel`](super::channel)).

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;

use super::channel::{Channel, Workers, CHANNEL_CHUNKS};
use super::fanout::Outlets;
use super::{Step, Stream};
use crate::kernel::cause::{Cause, Never};
use crate::kernel::context::Context;
use crate::kernel::effect::Effect;
use crate::ops::scope::{scoped, Scope};

/// A stream whose values are grouped by key, made by [`Stream::group_by_key`]: each key's
/// values form a stream of their own, which [`merge_groups`](GroupBy::merge_groups) hands,
/// with the key, to a function, running what it makes of every group at once.
///
/// ```
/// use effect::{run_blocking, stream::{GroupBy, Stream}};
///
/// let words = Stream::<&str, String>::from_iter(["apple", "bean", "avocado", "beet", "corn"]);
/// let by_initial: GroupBy<char, &str, String> =
///     words.group_by_key(|word| word.chars().next().unwrap(), 8);
/// let counts = by_initial.merge_groups(|initial, group| {
///     Stream::from_effect(group.run_count()).map(move |count| (initial, count))
/// });
/// let mut counts = run_blocking(counts.run_collect()).unwrap();
/// counts.sort();
/// assert_eq!(counts, [('a', 2), ('b', 2), ('c', 1)]);
/// ```
#[must_use = "a grouping does nothing until its groups are merged and run"]
pub struct GroupBy<K, A, E = Never> {
    source: Stream<A, E>,
    key: Box<dyn FnMut(&A) -> K + Send>,
    buffer: usize,
}

impl<K, A, E> fmt::Debug for GroupBy<K, A, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupBy")
            .field("buffer", &self.buffer)
            .finish_non_exhaustive()
    }
}

impl<A: Send + 'static, E: Send + 'static> Stream<A, E> {
    /// This stream's values grouped by the key `key` gives each, every group with a buffer
    /// of `buffer` values: run it with [`GroupBy::merge_groups`], which consumes each key's
    /// values as a stream of their own, all groups at once.
    ///
    /// **Back-pressure.** One fiber pulls this stream and hands each value to its group,
    /// waiting while that group's buffer is full. So a group consuming slowly holds back
    /// the source, and with it every other group: size `buffer` for how unevenly the keys
    /// come and go. This stream is read ahead of a group by at most `buffer` values, beyond
    /// the chunk being handed out (one value for an effectful source).
    ///
    /// `key` runs on that fiber, once per value; a panic in it is a defect of the stream.
    ///
    /// # Panics
    /// When `buffer` is 0: a group could never be handed a value.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// // The sum of each remainder's values.
    /// let sums = Stream::<u32, String>::from_iter(1..=10)
    ///     .group_by_key(|n| n % 3, 16)
    ///     .merge_groups(|rem, group| {
    ///         Stream::from_effect(group.run_fold(0, |sum, n| sum + n)).map(move |sum| (rem, sum))
    ///     });
    /// let mut sums = run_blocking(sums.run_collect()).unwrap();
    /// sums.sort();
    /// assert_eq!(sums, [(0, 18), (1, 22), (2, 15)]);
    /// ```
    pub fn group_by_key<K, F>(self, key: F, buffer: usize) -> GroupBy<K, A, E>
    where
        K: Eq + Hash + Clone + Send + 'static,
        F: FnMut(&A) -> K + Send + 'static,
    {
        assert!(
            buffer > 0,
            "Stream::group_by_key: the buffer must hold at least 1 value"
        );
        GroupBy {
            source: self,
            key: Box::new(key),
            buffer,
        }
    }
}

impl<K, A, E> GroupBy<K, A, E>
where
    K: Eq + Hash + Clone + Send + 'static,
    A: Send + 'static,
    E: Send + 'static,
{
    /// The values of the streams `f` makes of each group, as they come. As a key is seen
    /// for the first time, `f` gets it and the stream of that key's values (in their order);
    /// the stream `f` makes runs on a fiber of its own, at once with every other group's (no
    /// limit: one fiber per key), and its values are merged into this stream through a
    /// buffer of a few chunks (16, shared), so no group gets far ahead of the consumer.
    ///
    /// How it ends:
    /// - **End.** A group's stream ends after the source has ended and the group has read
    ///   its values; this stream ends once every group's stream has. The source runs in a
    ///   scope of its own, released as it ends (before the groups end).
    /// - **A group stops early.** A group's stream that stops reading its values (it took
    ///   what it needed, or `f` left it unread) no longer holds the source back: the key's
    ///   later values are dropped, and the key does not start a new group.
    /// - **Failure or defect.** A failure of the source, a panic in the key function or in
    ///   `f`, or a failure of a group's stream fails this stream, *fail-fast*: every group is
    ///   interrupted, and its finalizers have run, before the failure is reported, after the
    ///   values that reached the buffer before it. The groups do not see the source's failure:
    ///   they are interrupted, so a group's partial result is never emitted as if it were
    ///   whole.
    /// - **Early stop or interruption.** Interrupting the run, or the consumer taking what
    ///   it needs (`take`), interrupts the source and every group, releasing their resources,
    ///   before the run ends.
    ///
    /// Every key seen is remembered until the run ends, and its group's fiber runs until the
    /// source ends (or the group stops): this is for a bounded set of keys. A group's stream
    /// is to be run by the stream `f` makes (as below): held and run elsewhere after this
    /// stream's run ended, it would wait for values forever.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// // Each event tagged with its position among its user's events.
    /// let events = Stream::<(&str, u32), String>::from_iter([("ann", 7), ("bob", 3), ("ann", 9)]);
    /// let numbered = events
    ///     .group_by_key(|(user, _)| *user, 16)
    ///     .merge_groups(|_, group| group.zip_with_index());
    /// let mut numbered = run_blocking(numbered.run_collect()).unwrap();
    /// numbered.sort();
    /// assert_eq!(numbered, [(("ann", 7), 0), (("ann", 9), 1), (("bob", 3), 0)]);
    /// ```
    pub fn merge_groups<B, F>(self, f: F) -> Stream<B, E>
    where
        B: Send + 'static,
        F: FnMut(K, Stream<A, E>) -> Stream<B, E> + Send + 'static,
    {
        Stream::from_open(move |scope| {
            let workers = Workers::new(&scope);
            let channel = Channel::new(CHANNEL_CHUNKS, 1);
            let dispatcher = dispatch(self, f, &workers, channel.clone());
            workers.start(vec![dispatcher], move |workers| channel.receive(workers))
        })
    }
}

/// The dispatcher, a producer of `channel`: pulls the source (in a scope of its own) and
/// hands each value to its key's group, starting a group (`f`'s stream of it, on a fiber
/// owned by `workers`, as one more producer of `channel`) for each new key.
///
/// Invariants: a chunk of the source is split by key and handed over in full (each piece as
/// its group's room allows) before the source is pulled again, so each group's buffer bounds
/// how far the source runs ahead of it. The groups are ended only once the source's scope
/// has closed without a failure: on a failure they are left waiting, to be interrupted by
/// the fail-fast, and never see an end they could take for a whole result.
fn dispatch<K, A, B, E, F>(
    groups: GroupBy<K, A, E>,
    mut f: F,
    workers: &Workers,
    channel: Channel<B, E>,
) -> Effect<(), Never>
where
    K: Eq + Hash + Clone + Send + 'static,
    A: Send + 'static,
    B: Send + 'static,
    E: Send + 'static,
    F: FnMut(K, Stream<A, E>) -> Stream<B, E> + Send + 'static,
{
    let GroupBy {
        source,
        mut key,
        buffer,
    } = groups;
    let (out, workers) = (channel.clone(), workers.clone());
    let run = scoped(Effect::new(move |ctx: Context| async move {
        let mut pull = source.open(ctx.get::<Scope>());
        let mut outlets = Outlets::new(buffer);
        let mut group_of: HashMap<K, usize> = HashMap::new();
        // The piece of the current chunk for each group, by the group's index.
        let mut pieces: Vec<Vec<A>> = Vec::new();
        loop {
            match pull.await? {
                Step::Emit(chunk, rest) => {
                    for value in chunk {
                        let k = key(&value);
                        let at = match group_of.get(&k) {
                            Some(&at) => at,
                            None => {
                                let at = outlets.len();
                                let group = outlets.add().into_stream();
                                let stream = f(k.clone(), group);
                                group_of.insert(k, at);
                                pieces.push(Vec::new());
                                // Counted before it starts, so the channel cannot end before
                                // this group does.
                                out.add_producer();
                                workers
                                    .fork(out.clone().pump(stream, None))
                                    .await
                                    .map_err(Cause::widen)?;
                                at
                            }
                        };
                        pieces[at].push(value);
                    }
                    outlets.deliver(&mut pieces).await;
                    pull = *rest;
                }
                Step::End => return Ok(outlets),
            }
        }
    }))
    .map(|outlets| outlets.end_all());
    channel.finishing(run, None)
}
