//! A runtime's registry of its user fibers (roots, forks, daemons, `Runtime::fork`s; not a
//! combinator's members): what [`Runtime::dump`](crate::Runtime::dump) lists, and what
//! shutdown interrupts (the unsupervised ones).
//!
//! Slabs in shards, by the thread registering: a fiber's slot is taken when it is
//! registered and given back when it completes, both O(1), with no sweep, and a runtime's
//! forks on different workers take different locks. Generic over what it holds weakly (a
//! fiber's core), so that it imports nothing of the core, which owns it.
//!
//! I6 (see the kernel map): a slot holds the fiber whose `registry_slot` names it; a fiber is
//! given a slot only while it is not done, and completion takes the number back out, both
//! under the fiber's state lock ([`Family`](super::core::Family) keeps that half).

use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Instant;

use super::id::FiberId;
use super::live::{instant_at, now_nanos};

/// How many shards a registry has (1 KiB a runtime, each on a cache line of its own).
const SHARDS: usize = 8;

/// A slot's number holds its shard in its top bits, and its index in the shard's slab
/// below (`u32::MAX`, "no slot", is never a real slot's: the shards stop short of it).
const SHARD_SHIFT: u32 = 28;
const INDEX_MASK: u32 = (1 << SHARD_SHIFT) - 1;

/// The bit of `Registered::parent` saying the fiber is supervised (fiber ids never reach it).
const SUPERVISED: u64 = 1 << 63;

pub(crate) struct Registry<T: ?Sized> {
    shards: [Shard<T>; SHARDS],
}

#[repr(align(128))]
struct Shard<T: ?Sized>(Mutex<Slab<T>>);

/// One shard's fibers.
pub(crate) struct Slab<T: ?Sized> {
    shard: u32,
    slots: Vec<Option<Registered<T>>>,
    /// Slots free for reuse.
    free: Vec<u32>,
    /// Set by shutdown, for good: unsupervised fibers registered from then on are
    /// interrupted at once.
    shutting_down: bool,
}

/// A user fiber in its registry, with what a dump tells of it beside its core, in 40 bytes
/// (24 more than a weak reference alone): every fiber of a runtime has one, and a fiber's
/// size counts.
pub(crate) struct Registered<T: ?Sized> {
    core: Weak<T>,
    /// The number of the fiber that started it (`NONE`'s for a root, or a fiber started
    /// from outside any), with [`SUPERVISED`] set if a parent's region owns it (a fork),
    /// clear if nobody does (a root, a daemon, a `Runtime::fork`: shutdown interrupts those).
    parent: u64,
    /// When it was registered (see [`now_nanos`]).
    started: u64,
    /// The span it started in.
    #[cfg(feature = "tracing")]
    span: Option<&'static tracing::Metadata<'static>>,
}

/// A user fiber alive, as its registry has it.
pub(crate) struct RegisteredFiber<T: ?Sized> {
    pub(crate) core: Arc<T>,
    /// The fiber that started it, `NONE` if none did.
    pub(crate) parent: FiberId,
    pub(crate) started: Instant,
    /// The name of the span it started in.
    pub(crate) span: Option<&'static str>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Only pushes and takes happen under these locks.
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

impl<T: ?Sized> Registered<T> {
    /// `core`'s registration, started by `parent`, now, in the span current on this thread.
    /// (Read before any lock is taken: they are held for as little as can be.)
    pub(crate) fn new(core: &Arc<T>, parent: FiberId, supervised: bool) -> Self {
        Registered {
            core: Arc::downgrade(core),
            parent: parent.0 | if supervised { SUPERVISED } else { 0 },
            started: now_nanos(),
            // The current span's metadata, without a handle to the span (which would count
            // a reference to it in the subscriber, and drop it again). A named fiber's own
            // span says only what the dump's tree shows already (the parent's name).
            #[cfg(feature = "tracing")]
            span: tracing::dispatcher::get_default(|dispatch| dispatch.current_span().metadata())
                .filter(|meta| !(meta.target() == "effect" && meta.name() == "fiber")),
        }
    }

    pub(crate) fn supervised(&self) -> bool {
        self.parent & SUPERVISED != 0
    }
}

impl<T: ?Sized> Default for Registry<T> {
    fn default() -> Self {
        Registry {
            shards: std::array::from_fn(|shard| {
                Shard(Mutex::new(Slab {
                    shard: shard as u32,
                    slots: Vec::new(),
                    free: Vec::new(),
                    shutting_down: false,
                }))
            }),
        }
    }
}

impl<T: ?Sized> Registry<T> {
    /// The shard of the thread calling, locked.
    pub(crate) fn shard_here(&self) -> MutexGuard<'_, Slab<T>> {
        lock(&self.shards[super::live::this_threads_shard() % SHARDS].0)
    }

    /// Frees slot `slot`, which `core` holds (see I6).
    pub(crate) fn remove(&self, slot: u32, core: *const ()) {
        let mut slab = lock(&self.shards[(slot >> SHARD_SHIFT) as usize].0);
        let index = slot & INDEX_MASK;
        let held = slab.slots[index as usize].take();
        debug_assert!(
            held.is_some_and(|held| Weak::as_ptr(&held.core) as *const () == core),
            "I6: a fiber frees only its own slot"
        );
        slab.free.push(index);
    }

    /// The fibers registered and alive now.
    pub(crate) fn alive(&self) -> Vec<RegisteredFiber<T>> {
        let mut fibers = Vec::new();
        for shard in &self.shards {
            let slab = lock(&shard.0);
            fibers.extend(slab.slots.iter().flatten().filter_map(|entry| {
                Some(RegisteredFiber {
                    core: entry.core.upgrade()?,
                    parent: FiberId(entry.parent & !SUPERVISED),
                    started: instant_at(entry.started),
                    #[cfg(feature = "tracing")]
                    span: entry.span.map(|meta| meta.name()),
                    #[cfg(not(feature = "tracing"))]
                    span: None,
                })
            }));
        }
        fibers
    }

    /// Marks every shard shutting down, and gives the unsupervised fibers registered: a
    /// fiber registered in a shard after it was visited sees the mark as it registers.
    pub(crate) fn shut_down(&self) -> Vec<Arc<T>> {
        let mut fibers = Vec::new();
        for shard in &self.shards {
            let mut slab = lock(&shard.0);
            slab.shutting_down = true;
            fibers.extend(
                slab.slots
                    .iter()
                    .flatten()
                    .filter(|entry| !entry.supervised())
                    .filter_map(|entry| entry.core.upgrade()),
            );
        }
        fibers
    }

    /// Fibers registered, for tests.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                let slab = lock(&shard.0);
                slab.slots.len() - slab.free.len()
            })
            .sum()
    }

    /// Slots made (taken or free), for tests.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| lock(&shard.0).slots.len())
            .sum()
    }
}

impl<T: ?Sized> Slab<T> {
    pub(crate) fn shutting_down(&self) -> bool {
        self.shutting_down
    }

    /// Takes a slot for `entry`: its number.
    pub(crate) fn insert(&mut self, entry: Registered<T>) -> u32 {
        let entry = Some(entry);
        let index = match self.free.pop() {
            Some(index) => {
                debug_assert!(
                    self.slots[index as usize].is_none(),
                    "I6: a free slot is empty"
                );
                self.slots[index as usize] = entry;
                index
            }
            None => {
                let index = u32::try_from(self.slots.len())
                    .ok()
                    .filter(|&index| index <= INDEX_MASK)
                    .expect("effect runtime: more than 268 million user fibers alive in one runtime shard");
                self.slots.push(entry);
                index
            }
        };
        (self.shard << SHARD_SHIFT) | index
    }
}

// See `Registered`.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Option<Registered<dyn std::any::Any>>>() <= 40);
