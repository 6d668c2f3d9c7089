//! [`Supervisor`]: long-running child services kept alive by a restart strategy, in the
//! manner of Erlang/OTP's supervisors. The loop that runs one is in `run.rs`.
//!
//! ```
//! use effect::prelude::*;
//! use effect::supervisor::{Child, Restart, Strategy, Supervisor};
//!
//! // Two workers restarted together, with backoff; a one-off job never restarted.
//! let service = Supervisor::new("service")
//!     .strategy(Strategy::OneForAll)
//!     .intensity(5, secs(60))
//!     .backoff(Schedule::exponential(ms(100)))
//!     .child(Child::new("consumer", || never::<(), String>()))
//!     .child(Child::new("publisher", || never::<(), String>()))
//!     .child(Child::new("warm_cache", || succeed::<(), String>(())).restart(Restart::Temporary));
//! let running: Effect<(), String> = effect_block! {
//!     let tree = service.run().fork()?;
//!     let _stopped = tree.interrupt::<String>()?; // stops the workers, the last started first
//! };
//! assert_eq!(effect::run_blocking(running), Ok(()));
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::kernel::cause::Cause;
use crate::kernel::effect::Effect;
use crate::ops::duration::secs;
use crate::ops::schedule::Schedule;

mod run;

/// Which children a supervisor restarts when one of them ends and must be restarted (OTP's
/// restart strategies).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// That child alone.
    OneForOne,
    /// Every child: the others are stopped (in reverse start order), then all are started
    /// again in order. For children that depend on each other as a whole.
    OneForAll,
    /// That child and those started after it: they are stopped (in reverse start order),
    /// then started again in order. For children that depend on those before them.
    RestForOne,
}

/// When a child is restarted once it ends (OTP's restart types).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    /// Always, whether it failed or succeeded: a service that must be running.
    Permanent,
    /// Only when it ended with a failure or a defect: a job that may finish.
    Transient,
    /// Never: a child that is started once. Stopped by a sibling's restart
    /// ([`Strategy::OneForAll`], [`Strategy::RestForOne`]), it is not started again either.
    Temporary,
}

/// One child of a [`Supervisor`]: a name, how to start it (again), when it is restarted, and
/// how long it gets to stop.
///
/// ```
/// use effect::prelude::*;
/// use effect::supervisor::{Child, Restart};
///
/// let consumer = Child::new("consumer", || sleep::<String>(secs(60)))
///     .restart(Restart::Transient)
///     .shutdown_timeout(secs(2));
/// assert_eq!(consumer.name(), "consumer");
/// ```
#[derive(Clone)]
pub struct Child {
    name: Arc<str>,
    make: Arc<dyn Fn() -> Effect<(), String> + Send + Sync>,
    restart: Restart,
    shutdown: Duration,
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("name", &self.name)
            .field("restart", &self.restart)
            .field("shutdown", &self.shutdown)
            .finish_non_exhaustive()
    }
}

impl Child {
    /// A child named `name`, started with the effect `make` builds (each start, the first and
    /// every restart, runs a fresh one): [`Restart::Permanent`], with 5 seconds to stop.
    /// Its typed failures are kept by their `Display` text.
    pub fn new<E, F>(name: impl Into<Arc<str>>, make: F) -> Self
    where
        E: fmt::Display + Send + 'static,
        F: Fn() -> Effect<(), E> + Send + Sync + 'static,
    {
        Child {
            name: name.into(),
            make: Arc::new(move || make().map_err(|error| error.to_string())),
            restart: Restart::Permanent,
            shutdown: secs(5),
        }
    }

    /// When the child is restarted (see [`Restart`]).
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// How long the child gets to stop when its supervisor stops it (its finalizers run in
    /// that time). Past it, the supervisor goes on stopping the next child; the late one is
    /// still awaited before the supervisor's fiber ends (nothing outlives it).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown = timeout;
        self
    }

    /// The child's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// How a supervisor gave up: more restarts than its intensity allows within its period (or
/// a restart schedule that stopped). It has stopped every child; its own supervisor, if it
/// has one, sees this as the failure of a child.
#[derive(Clone, Debug, PartialEq)]
pub struct SupervisorError {
    /// The supervisor's name.
    pub supervisor: String,
    /// The ends that called for the restarts counted in the period, the last one (which
    /// crossed the limit) last: each child's name, and how it ended (`Ok` for a permanent
    /// child that finished).
    pub ends: Vec<(String, Result<(), Cause<String>>)>,
}

impl fmt::Display for SupervisorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "supervisor {} gave up after {} restarts",
            self.supervisor,
            self.ends.len().saturating_sub(1)
        )?;
        for (child, end) in &self.ends {
            match end {
                Ok(()) => write!(f, "; {child} finished")?,
                Err(cause) => write!(f, "; {child}: {}", one_line(cause))?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for SupervisorError {}

fn one_line(cause: &Cause<String>) -> String {
    cause
        .to_string()
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Long-running child services kept alive by a restart strategy, with Erlang/OTP's
/// semantics: neither ZIO nor Effect-TS ships one.
///
/// - [`run`](Supervisor::run) starts the children in order, each on a fiber of its own, and
///   watches them. A child that ends is restarted as its [`Restart`] says, together with the
///   siblings its [`Strategy`] names (stopped first, in reverse start order, each within its
///   [shutdown timeout](Child::shutdown_timeout), then started again in order).
/// - Each restart waits the delay of the child's [backoff](Supervisor::backoff) schedule (a
///   run of it per child), on the context's clock: on a
///   [`TestClock`](crate::TestClock), every restart happens at an exact virtual instant.
/// - At most [`intensity`](Supervisor::intensity) restarts in any period: one more, or a
///   backoff schedule that stops, and the supervisor gives up: it stops every child (in
///   reverse start order) and fails with [`SupervisorError`], which escalates to its own
///   supervisor when it is one's child ([`into_child`](Supervisor::into_child)).
/// - It succeeds once no child is left to run (every one ended and is not to be restarted).
/// - Interrupted (shut down), it stops its children in reverse start order, each within its
///   shutdown timeout and with its finalizers, before its effect ends.
/// - Every restart is a `tracing` event (`INFO`, `child restarted`, with the supervisor,
///   the child, the restart's number and how the child ended; a give-up is `WARN`) and, with
///   the `metrics` feature, counts in `effect_supervisor_restarts_total{supervisor, child}`.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// use effect::prelude::*;
/// use effect::supervisor::{Child, Strategy, Supervisor};
///
/// #[effect::test]
/// fn a_crashing_worker_is_restarted_with_backoff(clock: TestClock) -> Effect<(), String> {
///     let starts = Arc::new(AtomicU32::new(0));
///     let counted = starts.clone();
///     let worker = Child::new("worker", move || {
///         counted.fetch_add(1, Ordering::SeqCst);
///         sleep::<String>(secs(1)).flat_map(|()| die::<(), String>("crashed"))
///     });
///     let supervisor = Supervisor::new("app")
///         .strategy(Strategy::OneForOne)
///         .intensity(5, secs(60))
///         .backoff(Schedule::exponential(ms(100)))
///         .child(worker);
///     let running = supervisor.run().fork()?;
///     clock.advance(secs(1)).await; // crashes at 1 s, restarted at 1.1 s
///     clock.advance(ms(100)).await;
///     assert_eq!(starts.load(Ordering::SeqCst), 2);
///     running.interrupt::<String>()?; // stops the worker, then itself
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Supervisor {
    name: Arc<str>,
    strategy: Strategy,
    max_restarts: usize,
    period: Duration,
    backoff: Option<Schedule<()>>,
    children: Vec<Child>,
}

impl Supervisor {
    /// A supervisor named `name`, with no children yet: [`Strategy::OneForOne`], at most 3
    /// restarts in 5 seconds, restarting at once.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Supervisor {
            name: name.into(),
            strategy: Strategy::OneForOne,
            max_restarts: 3,
            period: secs(5),
            backoff: None,
            children: Vec::new(),
        }
    }

    /// Which children are restarted together (see [`Strategy`]).
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// At most `max_restarts` restarts within any `period` (of the context's clock); one
    /// more and the supervisor gives up. `0` gives up at the first end that calls for a
    /// restart.
    pub fn intensity(mut self, max_restarts: usize, period: Duration) -> Self {
        self.max_restarts = max_restarts;
        self.period = period;
        self
    }

    /// Waits the delays of `schedule` before restarting a child: a run of it per child, its
    /// `n`-th delay before that child's `n`-th restart. A schedule that stops makes the
    /// supervisor give up at that child's next restart.
    pub fn backoff(mut self, schedule: Schedule<()>) -> Self {
        self.backoff = Some(schedule);
        self
    }

    /// Adds a child, started after those added before it.
    ///
    /// # Panics
    /// When a child of that name is already there: names tell children apart in events,
    /// metrics and errors.
    pub fn child(mut self, child: Child) -> Self {
        assert!(
            self.children.iter().all(|c| c.name != child.name),
            "Supervisor {}: two children named {}; give each a name of its own",
            self.name,
            child.name
        );
        self.children.push(child);
        self
    }

    /// The supervisor as a child of another: [`Restart::Permanent`], its
    /// [`run`](Supervisor::run) started again whenever it gives up (the parent's intensity
    /// then decides whether that escalates further), and an hour to stop (the children's own
    /// timeouts bound it).
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::supervisor::{Child, Supervisor};
    ///
    /// let workers = Supervisor::new("workers").child(Child::new("a", || never::<(), String>()));
    /// let root = Supervisor::new("root").child(workers.into_child());
    /// # let _ = root;
    /// ```
    pub fn into_child(self) -> Child {
        let name = self.name.clone();
        Child::new(name, move || self.clone().run()).shutdown_timeout(secs(3600))
    }

    /// Runs the supervisor: see [`Supervisor`].
    ///
    /// # Errors
    /// [`SupervisorError`] when it gives up.
    pub fn run(self) -> Effect<(), SupervisorError> {
        run::supervise(self)
    }
}
