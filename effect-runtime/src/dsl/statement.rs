//! `expr;` in an effect body: an expression statement drops its value, and an effect dropped
//! there is never run (an effect is a value describing work, not a call doing it). The body
//! compiler writes each such statement as
//! `StatementValue::discard(match expr { v => ((&v).__effect_kind(), v) })`: the kind of the
//! value is found by method lookup (by value for an effect, through a reference for anything
//! else), and only the kind of anything else is a [`StatementValue`]. The value is the
//! statement's as before, dropped at the same point, after its temporaries are.

use std::marker::PhantomData;

use crate::kernel::effect::Effect;

/// What an expression statement `expr;` of an effect body may drop: any value but an effect.
///
/// One limit: a call to a function of your own that never returns (`fn fatal() -> !`),
/// written as a statement with its `;`, has no type yet where the check runs, and is taken
/// for an effect. Write it without the `;`, as the tail of its block
/// (`if broken { fatal() }`), or as `let _ = fatal();`. `panic!`, `unreachable!`, `todo!`,
/// `unimplemented!` and `std::process::exit` are known to never return, and are left as
/// they are.
#[diagnostic::on_unimplemented(
    message = "this effect is never run: the statement drops it without binding it",
    label = "an effect, dropped unrun",
    note = "bind it with `?` to run it (`effect?;`), or drop it on purpose with `let _ = effect;`"
)]
/// ```compile_fail
/// use effect::prelude::*;
///
/// #[effect]
/// fn wait() -> Effect<(), String> {
///     sleep(ms(5)); // refused: the sleep is never run; write `sleep(ms(5))?;`
/// }
/// ```
///
/// ```
/// use effect::prelude::*;
///
/// #[effect]
/// fn wait(log: std::sync::Arc<std::sync::Mutex<Vec<u32>>>) -> Effect<u32, String> {
///     log.lock().unwrap().push(1); // plain statements are plain Rust
///     sleep(ms(5))?; // an effect is bound: it runs
///     let _ = sleep::<String>(ms(5)); // or dropped on purpose
///     log.lock().unwrap().len() as u32
/// }
/// let log = std::sync::Arc::default();
/// assert_eq!(effect::run_blocking(wait(log)), Ok(1));
/// ```
pub trait StatementValue: Sized {
    /// The statement's value, given with its kind.
    #[doc(hidden)]
    #[inline]
    fn discard<T>(kind_and_value: (PhantomData<Self>, T)) -> T {
        kind_and_value.1
    }
}

/// The kind of a statement's value that is not an effect.
pub struct NotAnEffect;

#[diagnostic::do_not_recommend]
impl StatementValue for NotAnEffect {}

/// See [`StatementValue`]: an effect's kind is its own type (found first: by value).
pub trait EffectStatement: Sized {
    #[doc(hidden)]
    #[inline]
    fn __effect_kind(&self) -> PhantomData<Self> {
        PhantomData
    }
}

impl<A, E> EffectStatement for Effect<A, E> {}

/// See [`StatementValue`]: any other value's kind is [`NotAnEffect`] (found through a
/// reference, after [`EffectStatement`]).
pub trait OtherStatement {
    #[doc(hidden)]
    #[inline]
    fn __effect_kind(&self) -> PhantomData<NotAnEffect> {
        PhantomData
    }
}

impl<T: ?Sized> OtherStatement for &T {}
