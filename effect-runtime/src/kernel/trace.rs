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
use crate::kernel::effect::Effect;
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
        let inner = self.into_prim();
        Effect::from_prim(Prim::WithFiber(Box::new(move |fiber| {
            // A no-op unless the span declared the field.
            span.record("fiber", display(fiber.core.id()));
            fiber.enter_span(FiberSpan::of(span));
            inner
        })))
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

/// Reports the end of fiber `fiber` (see the module docs): called once per fiber, as its
/// interpreter finishes, in the span the fiber started in.
#[inline]
pub(crate) fn fiber_ended(fiber: FiberId, outcome: &mut Outcome) {
    // `ERROR` is the least verbose level: when no subscriber wants it (no subscriber at all,
    // typically), nothing here is wanted, and this is all a fiber's end costs.
    if Level::ERROR > STATIC_MAX_LEVEL || Level::ERROR > LevelFilter::current() {
        return;
    }
    report_end(fiber, outcome);
}

#[cold]
#[inline(never)]
fn report_end(fiber: FiberId, outcome: &mut Outcome) {
    if !tracing::enabled!(target: TARGET, Level::ERROR) {
        return;
    }
    let (cause, interrupted) = match outcome {
        Outcome::Interrupted(cause) => (widen_never(cause), true),
        Outcome::Completed(frame) => match frame.as_mut().exit_slot().failure_shape() {
            Some(cause) => (cause, false),
            None => return,
        },
    };
    report(fiber, &cause, interrupted);
}

/// Reports a root run that ended without a fiber, its effect a plain failure or defect
/// (`Runtime::run(die(..))`): its defects are reported as a fiber's would be, under
/// `FiberId::NONE` (no fiber ran).
#[cold]
#[inline(never)]
pub(crate) fn root_ended_at_once<E>(cause: &Cause<E>) {
    if !cause.is_die() || !tracing::enabled!(target: TARGET, Level::ERROR) {
        return;
    }
    report(FiberId::NONE, &TypedFailure::shape_of(cause), false);
}

fn report(fiber: FiberId, cause: &Cause<TypedFailure>, interrupted: bool) {
    if claim_new_defects(cause) {
        tracing::error!(target: TARGET, fiber = %fiber, cause = %cause, "fiber died");
    } else if interrupted {
        tracing::debug!(target: TARGET, fiber = %fiber, cause = %cause, "fiber interrupted");
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
