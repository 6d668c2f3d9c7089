//! [`Defect`]: an unexpected error (a panic, or an explicit `die`), with where it happened.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// An unexpected error: a panic caught by the runtime, or an explicit [`die`](crate::die).
///
/// Defects are never recovered by typed handlers such as `catch_all`; they travel in the
/// [`Cause`](crate::Cause) to whoever runs the effect. A defect keeps where it happened when
/// that is known: the panic's `file:line:column`, or the call of [`die`](crate::die).
///
/// ```
/// use effect::{run_blocking, sync, Effect};
///
/// let boom: Effect<(), String> = sync(|| panic!("boom"));
/// let cause = run_blocking(boom).unwrap_err();
/// let defect = cause.defects()[0];
/// assert_eq!(defect.message(), "boom");
/// assert!(defect.location().unwrap().starts_with(file!()));
/// ```
///
/// Two defects are equal when their messages and locations are.
#[derive(Clone)]
pub struct Defect {
    /// One pointer, so that every `Cause`, and every `Exit` and frame holding one, stays
    /// small. Shared by the clones of one defect (a cause passed from a child to its parent
    /// clones it): they are one defect, reported once.
    inner: Arc<DefectInner>,
}

struct DefectInner {
    message: Box<str>,
    location: Option<Arc<str>>,
    /// Set by the first fiber that reports this defect as it ends (the `tracing` feature), so
    /// that the fibers failing with it afterwards do not report it again.
    #[cfg(feature = "tracing")]
    reported: std::sync::atomic::AtomicBool,
}

impl PartialEq for Defect {
    fn eq(&self, other: &Defect) -> bool {
        self.message() == other.message() && self.location() == other.location()
    }
}

impl Eq for Defect {}

impl Defect {
    /// A defect with the given message, and no location.
    ///
    /// ```
    /// use effect::Defect;
    ///
    /// let defect = Defect::new("invariant broken");
    /// assert_eq!(defect.message(), "invariant broken");
    /// assert_eq!(defect.location(), None);
    /// ```
    pub fn new(message: impl Into<String>) -> Self {
        Defect::located(message.into(), None)
    }

    fn located(message: String, location: Option<Arc<str>>) -> Self {
        Defect {
            inner: Arc::new(DefectInner {
                message: message.into_boxed_str(),
                location,
                #[cfg(feature = "tracing")]
                reported: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// Claims the report of this defect: `true` for the first caller only, among all its
    /// clones.
    #[cfg(feature = "tracing")]
    pub(crate) fn claim_report(&self) -> bool {
        !self
            .inner
            .reported
            .swap(true, std::sync::atomic::Ordering::AcqRel)
    }

    /// A defect with the given message, located at the caller of this function (or of the
    /// `#[track_caller]` function calling it, such as [`die`](crate::die)).
    ///
    /// ```
    /// use effect::Defect;
    ///
    /// let (defect, line) = (Defect::here("unreachable state"), line!());
    /// assert!(defect.location().unwrap().starts_with(&format!("{}:{line}:", file!())));
    /// ```
    #[track_caller]
    pub fn here(message: impl Into<String>) -> Self {
        let location = std::panic::Location::caller();
        Defect::located(message.into(), Some(location.to_string().into()))
    }

    /// Turns a panic payload (from `catch_unwind`) into a defect carrying the panic message,
    /// and the panic's location when the runtime's panic hook saw it (see
    /// [`location`](Defect::location)).
    ///
    /// ```
    /// use effect::Defect;
    ///
    /// let payload = std::panic::catch_unwind(|| panic!("at {}", 42)).unwrap_err();
    /// assert_eq!(Defect::from_panic(payload).message(), "at 42");
    /// ```
    pub fn from_panic(payload: Box<dyn Any + Send>) -> Self {
        let message = if let Some(s) = payload.downcast_ref::<&'static str>() {
            (*s).to_string()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "panic with a non-string payload".to_string()
        };
        Defect::located(message, crate::kernel::panic_location::take())
    }

    /// The defect's message (for a panic: the panic message).
    ///
    /// ```
    /// use effect::Cause;
    ///
    /// let cause: Cause<()> = Cause::die("out of memory");
    /// assert_eq!(cause.defects()[0].message(), "out of memory");
    /// ```
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// Where the defect happened, as `file:line:column`: the panic's location for a panic
    /// caught while running an effect, the caller's for [`die`](crate::die) and
    /// [`Defect::here`]; `None` for [`Defect::new`].
    ///
    /// A panic's location is recorded by a panic hook the runtime installs, chained to the
    /// hook that was there before (which still runs, so panics are still printed). A hook
    /// set later with `std::panic::set_hook` replaces it; defects then have no location.
    ///
    /// ```
    /// use effect::{die, run_blocking, Effect};
    ///
    /// let (failed, line): (Effect<(), String>, _) = (die("unreachable"), line!());
    /// let cause = run_blocking(failed).unwrap_err();
    /// let location = cause.defects()[0].location().unwrap();
    /// assert!(location.starts_with(&format!("{}:{line}:", file!())));
    /// ```
    pub fn location(&self) -> Option<&str> {
        self.inner.location.as_deref()
    }
}

impl fmt::Debug for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location() {
            Some(location) => write!(f, "Defect({:?} at {location})", self.message()),
            None => write!(f, "Defect({:?})", self.message()),
        }
    }
}

impl fmt::Display for Defect {
    /// The message, then the location when there is one: `boom (at src/main.rs:3:5)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())?;
        if let Some(location) = self.location() {
            write!(f, " (at {location})")?;
        }
        Ok(())
    }
}
