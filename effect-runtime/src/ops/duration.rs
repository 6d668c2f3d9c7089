//! Duration shorthands: `ms(250)`, `secs(5)`.

use std::time::Duration;

/// `n` milliseconds.
///
/// ```
/// use std::time::Duration;
/// use effect::ms;
///
/// assert_eq!(ms(250), Duration::from_millis(250));
/// ```
pub const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `n` seconds.
///
/// ```
/// use std::time::Duration;
/// use effect::{ms, secs};
///
/// assert_eq!(secs(2), Duration::from_secs(2));
/// assert_eq!(secs(1) + ms(500), Duration::from_millis(1500));
/// ```
pub const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
