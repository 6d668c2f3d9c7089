//! [`FiberDump`]: a snapshot of a runtime's live user fibers, what each is doing, printable
//! as a tree (each fiber under the one that started it).
//!
//! Taken from the family's registry (see [`Family`]) without stopping
//! anything: each fiber's line is read on its own, so a fiber that moves on while the dump
//! is taken shows one of the states it passed through. A combinator's members (a race's
//! branches, a group's effects) are not listed: the fiber running the combinator shows
//! them as what it waits on.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::core::Family;
use super::id::FiberId;
use super::waiting::FiberStatus;

/// A snapshot of every live user fiber of a [`Runtime`](crate::Runtime): roots, forks,
/// daemons, `Runtime::fork`s; taken by [`Runtime::dump`](crate::Runtime::dump).
///
/// `Display` prints it as a tree, each fiber under the fiber that started it, like ZIO's
/// `Fiber.dumpAll`:
///
/// ```text
/// 3 live fiber(s)
/// #1 "main" 1.2s, waiting: join of fiber #2
/// └─ #2 "worker" in span `consume` 1.1s, waiting: take from queue @55d0c5a1e2f0 (empty)
///    └─ #3 1.1s, waiting: sleep until virtual time 30s
/// ```
#[derive(Clone, Debug, Default)]
pub struct FiberDump {
    fibers: Vec<FiberSnapshot>,
}

/// One fiber of a [`FiberDump`].
///
/// ```
/// use effect::prelude::*;
/// use effect::dump::FiberStatus;
/// use effect::{Context, Runtime};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let runtime = Runtime::new(Context::new());
/// let worker = runtime.fork_named("worker", never::<(), Never>());
/// tokio::task::yield_now().await;
/// let dump = runtime.dump();
/// let snapshot = dump.get(worker.id()).unwrap();
/// assert_eq!(snapshot.name.as_deref(), Some("worker"));
/// assert_eq!(snapshot.parent, None); // started from outside every fiber
/// assert!(matches!(snapshot.status, FiberStatus::Waiting(_)) && !snapshot.interrupted);
/// runtime.shutdown().await;
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FiberSnapshot {
    /// Its id.
    pub id: FiberId,
    /// Its name, if it was given one ([`fork_named`](crate::Effect::fork_named),
    /// [`named`](crate::Effect::named)).
    pub name: Option<Arc<str>>,
    /// The fiber that started it, if it was started by one (`None` for a root run, or a
    /// fiber started from outside every fiber). The parent may be a combinator's member (a
    /// fork made inside a race's branch), which dumps do not list.
    pub parent: Option<FiberId>,
    /// The name of the tracing span it started in (with the `tracing` feature).
    pub span: Option<&'static str>,
    /// How long it has been alive, in real time.
    pub age: Duration,
    /// What it is doing.
    pub status: FiberStatus,
    /// Whether it has been interrupted (it may still be running its finalizers).
    pub interrupted: bool,
}

impl FiberDump {
    /// The live user fibers of `family` now, oldest id first.
    pub(crate) fn of(family: &Family) -> FiberDump {
        let now = std::time::Instant::now();
        let mut fibers: Vec<FiberSnapshot> = family
            .registered()
            .into_iter()
            .filter(|fiber| !fiber.core.is_done())
            .map(|fiber| FiberSnapshot {
                id: fiber.core.id(),
                name: fiber.core.name(),
                parent: (fiber.parent != FiberId::NONE).then_some(fiber.parent),
                span: fiber.span,
                age: now.saturating_duration_since(fiber.started),
                status: fiber.core.status(),
                interrupted: fiber.core.is_interrupted(),
            })
            .collect();
        fibers.sort_by_key(|fiber| fiber.id);
        FiberDump { fibers }
    }

    /// The fibers, by id.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::{Context, Runtime};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let runtime = Runtime::new(Context::new());
    /// let worker = runtime.fork_named("worker", never::<(), Never>());
    /// tokio::task::yield_now().await; // it starts, and waits
    /// let dump = runtime.dump();
    /// assert_eq!(dump.fibers().len(), 1);
    /// assert_eq!(dump.fibers()[0].id, worker.id());
    /// runtime.shutdown().await;
    /// # }
    /// ```
    pub fn fibers(&self) -> &[FiberSnapshot] {
        &self.fibers
    }

    /// The number of fibers in the dump.
    ///
    /// ```
    /// use effect::{Context, Runtime};
    ///
    /// assert_eq!(Runtime::new(Context::new()).dump().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.fibers.len()
    }

    /// Whether no user fiber was alive.
    ///
    /// ```
    /// use effect::{Context, Runtime};
    ///
    /// assert!(Runtime::new(Context::new()).dump().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.fibers.is_empty()
    }

    /// The first fiber named `name`, if one is alive.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::dump::{FiberStatus, WaitingOn};
    /// use effect::{Context, Runtime, TestClock};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let clock = TestClock::new();
    /// let runtime = Runtime::new(Context::new().with(effect::Clock::from(clock.clone())));
    /// runtime.fork_named("ticker", sleep::<Never>(secs(30)));
    /// tokio::task::yield_now().await;
    /// let ticker = runtime.dump().named("ticker").cloned().unwrap();
    /// assert_eq!(
    ///     ticker.status,
    ///     FiberStatus::Waiting(WaitingOn::VirtualSleep { until: secs(30) })
    /// );
    /// runtime.shutdown().await;
    /// # }
    /// ```
    pub fn named(&self, name: &str) -> Option<&FiberSnapshot> {
        self.fibers
            .iter()
            .find(|fiber| fiber.name.as_deref() == Some(name))
    }

    /// The fiber with id `id`, if it is in the dump.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::{Context, Runtime};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let runtime = Runtime::new(Context::new());
    /// let worker = runtime.fork(never::<(), Never>());
    /// assert!(runtime.dump().get(worker.id()).is_some());
    /// runtime.shutdown().await;
    /// assert!(runtime.dump().get(worker.id()).is_none());
    /// # }
    /// ```
    pub fn get(&self, id: FiberId) -> Option<&FiberSnapshot> {
        self.fibers
            .binary_search_by_key(&id, |fiber| fiber.id)
            .ok()
            .map(|at| &self.fibers[at])
    }
}

impl fmt::Display for FiberSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.id)?;
        if let Some(name) = &self.name {
            write!(f, " {name:?}")?;
        }
        if let Some(span) = self.span {
            write!(f, " in span `{span}`")?;
        }
        write!(f, " {:.1?}, {}", self.age, self.status)?;
        if self.interrupted {
            f.write_str(" (interrupted)")?;
        }
        Ok(())
    }
}

/// How many levels of a dump's tree are indented; deeper fibers are printed at that
/// indentation, with their depth.
const MAX_INDENT: usize = 16;

impl fmt::Display for FiberDump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} live fiber(s)", self.fibers.len())?;
        let listed: BTreeSet<FiberId> = self.fibers.iter().map(|fiber| fiber.id).collect();
        let mut children: BTreeMap<FiberId, Vec<&FiberSnapshot>> = BTreeMap::new();
        let mut roots = Vec::new();
        for fiber in &self.fibers {
            match fiber.parent.filter(|parent| listed.contains(parent)) {
                Some(parent) => children.entry(parent).or_default().push(fiber),
                None => roots.push(fiber),
            }
        }
        // Depth first, with an explicit stack: a chain of a hundred thousand forks prints
        // without recursion, and its indentation stops growing past `MAX_INDENT` levels
        // (deeper lines say their depth instead), so the text stays linear in the fibers.
        let mut stack: Vec<(&FiberSnapshot, Arc<str>, bool, usize)> = roots
            .iter()
            .rev()
            .map(|fiber| (*fiber, Arc::from(""), true, 0))
            .collect();
        while let Some((fiber, prefix, last, depth)) = stack.pop() {
            let (branch, indent) = match (depth, last) {
                (0, _) => ("", ""),
                (_, true) => ("└─ ", "   "),
                (_, false) => ("├─ ", "│  "),
            };
            write!(f, "{prefix}{branch}")?;
            if depth > MAX_INDENT {
                write!(f, "[depth {depth}] ")?;
            }
            write!(f, "{fiber}")?;
            if let Some(parent) = fiber.parent.filter(|_| depth == 0) {
                write!(f, " (started by {parent})")?;
            }
            writeln!(f)?;
            if let Some(kids) = children.get(&fiber.id) {
                let below: Arc<str> = if depth >= MAX_INDENT {
                    prefix.clone()
                } else {
                    format!("{prefix}{indent}").into()
                };
                for (at, kid) in kids.iter().enumerate().rev() {
                    stack.push((kid, below.clone(), at + 1 == kids.len(), depth + 1));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dump::WaitingOn;

    fn fiber(id: u64, parent: Option<u64>, name: Option<&str>) -> FiberSnapshot {
        FiberSnapshot {
            id: FiberId(id),
            name: name.map(Arc::from),
            parent: parent.map(FiberId),
            span: None,
            age: Duration::from_millis(1500),
            status: FiberStatus::Waiting(WaitingOn::Join(FiberId(id + 1))),
            interrupted: false,
        }
    }

    #[test]
    fn a_dump_prints_each_fiber_under_its_parent() {
        let mut orphan = fiber(9, Some(100), None);
        orphan.status = FiberStatus::Ready;
        orphan.interrupted = true;
        let dump = FiberDump {
            fibers: vec![
                fiber(1, None, Some("main")),
                fiber(2, Some(1), Some("worker")),
                fiber(3, Some(2), None),
                fiber(4, Some(1), None),
                orphan,
            ],
        };
        assert_eq!(
            dump.to_string(),
            "5 live fiber(s)\n\
             #1 \"main\" 1.5s, waiting: join of fiber #2\n\
             ├─ #2 \"worker\" 1.5s, waiting: join of fiber #3\n\
             │  └─ #3 1.5s, waiting: join of fiber #4\n\
             └─ #4 1.5s, waiting: join of fiber #5\n\
             #9 1.5s, ready to run (interrupted) (started by #100)\n"
        );
    }

    #[test]
    fn a_deep_chain_prints_without_recursion() {
        let fibers: Vec<FiberSnapshot> = (1..=100_000)
            .map(|id| fiber(id, (id > 1).then(|| id - 1), None))
            .collect();
        let printed = FiberDump { fibers }.to_string();
        assert_eq!(printed.lines().count(), 100_001);
        let last = printed.lines().last().unwrap();
        assert!(last.contains("[depth 99999] #100000 "), "{last}");
        assert!(last.ends_with("join of fiber #100001"));
        // The indentation stopped growing: the text is linear in the fibers.
        assert!(printed.len() < 100_001 * 120, "{} bytes", printed.len());
    }
}
