//! Integration with [`tracing`] (the `tracing` feature, on by default): `instrument`,
//! `with_span`, and the events reporting fibers that end badly. The contract is in the
//! `effect` crate's docs (section *Tracing*); what each piece keeps:
//!
//! - [`Effect::instrument`] / [`Effect::with_span`] push the fiber's span under the effect's
//!   work (`FiberCx::enter_span`), so the span is entered exactly while that work is polled
//!   and dropped as the effect ends, however it ends (see `fiber::span` for the entering).
//! - [`fiber_ended`] runs once per fiber, as its interpreter finishes (every finalizer ran,
//!   and the fiber is back in the span it started in): `ERROR` `fiber died` when its cause
//!   holds a defect no fiber reported yet (the defect's report is claimed, so a defect is
//!   reported by the first fiber it ends only), else `DEBUG` `fiber interrupted` when the fiber
//!   was interrupted; a success or a typed failure is not reported.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{OnceLock, RwLock};

use tracing::field::{display, FieldSet, Value};
use tracing::level_filters::{LevelFilter, STATIC_MAX_LEVEL};
use tracing::subscriber::Interest;
use tracing::{Level, Metadata, Span};
use tracing_core::callsite::Callsite;
use tracing_core::metadata::Kind;

use crate::kernel::cause::{Cause, Never};
use crate::kernel::context::Context;
use crate::kernel::effect::Effect;
use crate::kernel::fiber::core::FiberCore;
use crate::kernel::fiber::frame::TypedFailure;
use crate::kernel::fiber::id::FiberId;
use crate::kernel::fiber::prim::{Outcome, Prim};
use crate::kernel::fiber::span::FiberSpan;

/// The target of the runtime's own spans and events.
const TARGET: &str = "effect";

impl<A: Send + 'static, E: Send + 'static> Effect<A, E> {
    /// Runs this effect in `span`: the span is entered on every poll of the effect's work
    /// (the fibers it starts inherit it), exited whenever the fiber goes on with anything
    /// else, and this handle to it is dropped when the effect ends, however it ends (success,
    /// failure, defect, interruption), so the span closes then unless you keep a clone.
    ///
    /// If `span` declares a `fiber` field (`fiber = tracing::field::Empty`), the id of the
    /// fiber running the effect is recorded in it. A span is created where its macro runs, as
    /// a child of the span current there: to parent it at run time instead, use
    /// [`with_span`](Effect::with_span). A disabled span changes nothing.
    ///
    /// This inherent method is what `effect.instrument(span)` calls even with
    /// [`tracing::Instrument`] in scope (whose method still instruments a run's future,
    /// `effect.run(&ctx).instrument(span)`).
    ///
    /// ```
    /// use effect::{run_blocking, succeed, Effect};
    ///
    /// let span = tracing::info_span!("checkout", order = 42, fiber = tracing::field::Empty);
    /// let checkout: Effect<u32, String> = succeed(42)
    ///     .map(|order| {
    ///         tracing::info!("charging"); // inside `checkout{order=42 fiber=#..}`
    ///         order
    ///     })
    ///     .instrument(span);
    /// assert_eq!(run_blocking(checkout), Ok(42));
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
    pub fn instrument(self, span: Span) -> Effect<A, E> {
        self.in_span(move || span)
    }

    /// Runs this effect in a new `INFO` span named `name` (target `effect`, with the running
    /// fiber's id in its `fiber` field), created when the effect starts, as a child of the
    /// span current in the fiber then. Entered, exited and closed as with
    /// [`instrument`](Effect::instrument): closed as soon as the effect ends, however it ends.
    ///
    /// Each distinct name gets a callsite of its own, made once and kept for the life of the
    /// process (as the callsites of `tracing`'s macros are): name spans with literals.
    ///
    /// ```
    /// use effect::{run_blocking, sleep, ms, zip_par, Effect};
    ///
    /// fn load(table: &'static str) -> Effect<&'static str, String> {
    ///     sleep(ms(1)).as_value(table).with_span("load")
    /// }
    ///
    /// let page: Effect<_, String> = zip_par((load("users"), load("orders"))).with_span("page");
    /// assert_eq!(run_blocking(page), Ok(("users", "orders")));
    /// ```
    ///
    /// For another level, or fields of your own, use [`in_span`](Effect::in_span).
    #[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
    pub fn with_span(self, name: &'static str) -> Effect<A, E> {
        let inner = self.into_prim();
        Effect::from_prim(Prim::WithFiber(Box::new(move |fiber| {
            // Made here, inside the fiber's poll: the fiber's current span is its parent.
            let span = named_span(name, fiber.core.id());
            fiber.enter_span(FiberSpan::of(span));
            inner
        })))
    }

    /// Runs this effect in the span `make` returns, made when the effect starts (each time
    /// it starts), inside the fiber running it: the span's parent is the span current in
    /// the fiber then, as with [`with_span`](Effect::with_span), and its level and fields
    /// are whatever `make`'s macro says. Entered, exited and closed as with
    /// [`instrument`](Effect::instrument) (closed as soon as the effect ends, however it
    /// ends), and a `fiber` field, if the span declares one, records the fiber's id.
    ///
    /// ```
    /// use effect::{run_blocking, sleep, ms, Effect};
    ///
    /// fn load(table: &'static str) -> Effect<&'static str, String> {
    ///     sleep(ms(1)).as_value(table).in_span(move || {
    ///         tracing::debug_span!("load", table, fiber = tracing::field::Empty)
    ///     })
    /// }
    /// assert_eq!(run_blocking(load("users")), Ok("users"));
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
    pub fn in_span(self, make: impl FnOnce() -> Span + Send + 'static) -> Effect<A, E> {
        let inner = self.into_prim();
        Effect::from_prim(Prim::WithFiber(Box::new(move |fiber| {
            // Made here, inside the fiber's poll, where its current span is entered.
            let span = make();
            // A no-op unless the span declared the field.
            span.record("fiber", display(fiber.core.id()));
            fiber.enter_span(FiberSpan::of(span));
            inner
        })))
    }

    /// This effect in a `fiber` span (`INFO`, target `effect`) carrying the name given to the
    /// fiber running it (`name`) and its id (`fiber`): a named fiber's work, and every span
    /// and event in it, show under its name.
    pub(crate) fn in_fiber_span(self, name: &std::sync::Arc<str>) -> Effect<A, E> {
        let name = name.clone();
        self.in_span(move || {
            tracing::info_span!(target: TARGET, "fiber", name = %name, fiber = tracing::field::Empty)
        })
    }
}

/// A new `INFO` span named `name`, with `fiber` recorded; disabled when nobody wants it (as
/// the `span!` macro decides, through a callsite for the name).
fn named_span(name: &'static str, fiber: FiberId) -> Span {
    if Level::INFO > STATIC_MAX_LEVEL || Level::INFO > LevelFilter::current() {
        return Span::none();
    }
    let callsite = NamedCallsite::get(name);
    let meta = callsite.metadata();
    let interest = callsite.interest();
    let enabled = interest.is_always()
        || (!interest.is_never() && tracing::dispatcher::get_default(|d| d.enabled(meta)));
    if !enabled {
        return Span::none();
    }
    let fields = meta.fields();
    let Some(field) = fields.field("fiber") else {
        unreachable!("a named span's callsite declares `fiber`")
    };
    let id = display(fiber);
    Span::new(
        meta,
        &fields.value_set(&[(&field, Some(&id as &dyn Value))]),
    )
}

/// The callsite of the spans [`with_span`](Effect::with_span) makes with one name: what the
/// `span!` macro puts in a `static`, made at run time for a name known only then.
struct NamedCallsite {
    /// The interest the subscribers registered (`INTEREST_*`).
    interest: AtomicU8,
    /// Set once, right after the callsite is allocated (the metadata names its callsite).
    meta: OnceLock<Metadata<'static>>,
}

const INTEREST_NEVER: u8 = 0;
const INTEREST_SOMETIMES: u8 = 1;
const INTEREST_ALWAYS: u8 = 2;

/// The callsites made so far, by name. They live as long as the process, as static ones do.
static NAMED_CALLSITES: OnceLock<RwLock<HashMap<&'static str, &'static NamedCallsite>>> =
    OnceLock::new();

impl NamedCallsite {
    /// The callsite for `name`, made and registered with `tracing` the first time.
    fn get(name: &'static str) -> &'static NamedCallsite {
        let callsites = NAMED_CALLSITES.get_or_init(Default::default);
        let known = callsites
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
            .get(name)
            .copied();
        if let Some(callsite) = known {
            return callsite;
        }
        let mut callsites = callsites
            .write()
            .unwrap_or_else(|poison| poison.into_inner());
        callsites.entry(name).or_insert_with(|| {
            let callsite: &'static NamedCallsite = Box::leak(Box::new(NamedCallsite {
                interest: AtomicU8::new(INTEREST_SOMETIMES),
                meta: OnceLock::new(),
            }));
            let fields = FieldSet::new(&["fiber"], tracing_core::identify_callsite!(callsite));
            let meta = Metadata::new(
                name,
                TARGET,
                Level::INFO,
                None,
                None,
                None,
                fields,
                Kind::SPAN,
            );
            // Set before the callsite is registered: registration reads the metadata.
            let _ = callsite.meta.set(meta);
            tracing_core::callsite::register(callsite);
            callsite
        })
    }

    fn interest(&self) -> Interest {
        match self.interest.load(Ordering::Relaxed) {
            INTEREST_NEVER => Interest::never(),
            INTEREST_ALWAYS => Interest::always(),
            _ => Interest::sometimes(),
        }
    }
}

impl Callsite for NamedCallsite {
    fn set_interest(&self, interest: Interest) {
        let interest = if interest.is_never() {
            INTEREST_NEVER
        } else if interest.is_always() {
            INTEREST_ALWAYS
        } else {
            INTEREST_SOMETIMES
        };
        self.interest.store(interest, Ordering::Relaxed);
    }

    fn metadata(&self) -> &Metadata<'_> {
        self.meta
            .get()
            .expect("effect runtime: a named span's metadata is set before it is registered")
    }
}

/// How the runtime reports fibers that end badly (the `tracing` feature): the level of each
/// kind of event, or `None` for none. The default is the crate docs' table (section
/// *Tracing*): a defect at `ERROR`, an interruption at `DEBUG`, a typed failure not at all.
/// Put one in a context (a `Runtime`'s, or any effect's with `provide`) and the fibers
/// started with that context report as it says.
///
/// ```
/// use effect::prelude::*;
/// use effect::{Context, FiberEvents, Runtime};
/// use tracing::Level;
///
/// // A service that treats every typed failure of a fiber as worth a warning, and a
/// // defect as an error, and does not want interruptions at all.
/// let events = FiberEvents {
///     defect: Some(Level::ERROR),
///     interruption: None,
///     failure: Some(Level::WARN),
/// };
/// let runtime = Runtime::new(Context::new().with(events));
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let failing = runtime.fork(fail::<(), &str>("quota exceeded")); // a `WARN` `fiber failed`
/// assert!(runtime.run(failing.join()).await.is_err());
/// # });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FiberEvents {
    /// A fiber ended with a defect no fiber reported yet (`fiber died`): `ERROR` by default.
    pub defect: Option<Level>,
    /// A fiber was interrupted, without a new defect (`fiber interrupted`): `DEBUG` by
    /// default.
    pub interruption: Option<Level>,
    /// A fiber ended with a typed failure and nothing worse (`fiber failed`): none by default.
    /// Unlike a defect, a typed failure is reported by every fiber it ends (a fiber that
    /// joins a failed one and fails with its failure reports it again).
    pub failure: Option<Level>,
}

impl Default for FiberEvents {
    fn default() -> Self {
        FiberEvents {
            defect: Some(Level::ERROR),
            interruption: Some(Level::DEBUG),
            failure: None,
        }
    }
}

/// Reports the end of fiber `fiber` (see the module docs), as `ctx`'s [`FiberEvents`] say:
/// called once per fiber, as its interpreter finishes, in the span the fiber started in.
#[inline]
pub(crate) fn fiber_ended(fiber: &FiberCore, outcome: &mut Outcome, ctx: &Context) {
    // `ERROR` is the least verbose level: when no subscriber wants it (no subscriber at all,
    // typically), nothing here is wanted, and this is all a fiber's end costs.
    if Level::ERROR > STATIC_MAX_LEVEL || Level::ERROR > LevelFilter::current() {
        return;
    }
    report_end(fiber, outcome, ctx);
}

#[cold]
#[inline(never)]
fn report_end(fiber: &FiberCore, outcome: &mut Outcome, ctx: &Context) {
    let (cause, interrupted) = match outcome {
        Outcome::Interrupted(cause) => (widen_never(cause), true),
        Outcome::Completed(frame) => match frame.as_mut().exit_slot().failure_shape() {
            Some(cause) => (cause, false),
            None => return,
        },
    };
    let name = fiber.name();
    report(
        fiber.id(),
        name.as_deref(),
        &cause,
        interrupted,
        &events_of(ctx),
    );
}

fn events_of(ctx: &Context) -> FiberEvents {
    ctx.try_get::<FiberEvents>().copied().unwrap_or_default()
}

/// Reports a root run that ended without a fiber, its effect a plain failure or defect
/// (`Runtime::run(die(..))`): reported as a fiber's end would be, under `FiberId::NONE`
/// (no fiber ran).
#[cold]
#[inline(never)]
pub(crate) fn root_ended_at_once<E>(cause: &Cause<E>, ctx: &Context) {
    if Level::ERROR > LevelFilter::current() {
        return;
    }
    report(
        FiberId::NONE,
        None,
        &TypedFailure::shape_of(cause),
        false,
        &events_of(ctx),
    );
}

fn report(
    fiber: FiberId,
    name: Option<&str>,
    cause: &Cause<TypedFailure>,
    interrupted: bool,
    events: &FiberEvents,
) {
    let fiber = Reported { fiber, name };
    // A defect is claimed only where it is reported: a fiber whose context turned defect
    // events off leaves the report to the next fiber the defect ends.
    if cause.is_die() && events.defect.is_some() && claim_new_defects(cause) {
        emit(events.defect, "fiber died", fiber, cause);
    } else if interrupted {
        emit(events.interruption, "fiber interrupted", fiber, cause);
    } else if !cause.is_die() {
        emit(events.failure, "fiber failed", fiber, cause);
    }
}

/// The fiber an event reports: its id, and its name if it has one.
#[derive(Clone, Copy)]
struct Reported<'a> {
    fiber: FiberId,
    name: Option<&'a str>,
}

/// An event of target `effect` at `level` (none for `None`): `tracing`'s macros take a
/// level known where they are written, hence one per level.
fn emit(
    level: Option<Level>,
    message: &'static str,
    fiber: Reported<'_>,
    cause: &Cause<TypedFailure>,
) {
    let Reported { fiber, name } = fiber;
    macro_rules! at {
        ($level:expr) => {
            tracing::event!(
                target: TARGET,
                $level,
                fiber = %fiber,
                name,
                cause = %cause,
                "{}",
                message
            )
        };
    }
    match level {
        None => {}
        Some(Level::ERROR) => at!(Level::ERROR),
        Some(Level::WARN) => at!(Level::WARN),
        Some(Level::INFO) => at!(Level::INFO),
        Some(Level::DEBUG) => at!(Level::DEBUG),
        Some(_) => at!(Level::TRACE),
    }
}

fn widen_never(cause: &Cause<Never>) -> Cause<TypedFailure> {
    cause.clone().map(|never| match never {})
}

/// Claims the report of every defect of `cause` (each is reported by one fiber only); whether
/// any was not reported yet.
fn claim_new_defects(cause: &Cause<TypedFailure>) -> bool {
    cause
        .defects()
        .into_iter()
        .fold(false, |any, defect| defect.claim_report() | any)
}
