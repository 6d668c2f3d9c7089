//! How a [`Cause`] reads: a leaf on one line, a composed cause as a tree (its `Display`),
//! and as a `std::error::Error` whose source is its first failure's.

use std::fmt;

use super::Cause;
use crate::kernel::fiber::id::FiberId;

impl<E: fmt::Display> Cause<E> {
    fn render(&self, f: &mut fmt::Formatter<'_>, prefix: &str) -> fmt::Result {
        let (label, a, b) = match self {
            Cause::Fail(e) => return write!(f, "{e}"),
            Cause::Die(d) => return write!(f, "defect: {d}"),
            Cause::Interrupt(by) if *by == FiberId::NONE => return f.write_str("interrupted"),
            Cause::Interrupt(by) => return write!(f, "interrupted by fiber {by}"),
            Cause::Then(a, b) => ("sequential causes:", a, b),
            Cause::Both(a, b) => ("parallel causes:", a, b),
        };
        f.write_str(label)?;
        write!(f, "\n{prefix}├─ ")?;
        a.render(f, &format!("{prefix}│  "))?;
        write!(f, "\n{prefix}└─ ")?;
        b.render(f, &format!("{prefix}   "))
    }
}

impl<E: fmt::Display> fmt::Display for Cause<E> {
    /// A leaf renders on one line (`timeout`, `defect: boom`, `interrupted`); a composed
    /// cause renders as a tree, one leaf per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.render(f, "")
    }
}

/// A cause is an error when its typed failure is one, so `?` turns an effect's
/// `Result<A, Cause<E>>` into `anyhow::Error` or `Box<dyn Error + Send + Sync>` in one step.
///
/// It follows the std convention that `Display` shows one level and [`source`] the next:
/// a cause of one failure is *transparent* (it displays as the failure, and its source is the
/// failure's own source), so an error chain shows each message once. A composed cause
/// displays its whole tree, and its source is the source of its first failure.
///
/// A `Cause<String>` (or of any `E` that is not an `Error`) is not an error; it converts with
/// its rendering, e.g. `.map_err(|cause| anyhow::anyhow!("{cause}"))`, or into a
/// `Box<dyn Error + Send + Sync>` with `cause.to_string().into()`.
///
/// ```
/// use std::error::Error;
/// use std::io;
/// use effect::Cause;
///
/// let cause: Cause<io::Error> = Cause::fail(io::Error::other("disk full"));
/// assert_eq!(cause.to_string(), "disk full");
/// assert!(cause.source().is_none()); // not "disk full" a second time
/// let boxed: Box<dyn Error + Send + Sync> = cause.into();
/// assert_eq!(boxed.to_string(), "disk full");
/// ```
///
/// [`source`]: std::error::Error::source
impl<E> std::error::Error for Cause<E>
where
    E: std::error::Error + 'static,
{
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.failure().and_then(|e| e.source())
    }
}
