//! [`Runtime`]: runs and forks effects from outside any effect, and counts their fibers.

use std::sync::Arc;

use crate::context::Context;
use crate::effect::Effect;
use crate::fiber::core::Family;
use crate::fiber::handle::{spawn_fiber, Fiber};
use crate::fiber::run::Run;

/// A handle for running and forking effects from plain async code (tests, `main`), with a
/// context and a count of the fibers it started.
///
/// ```
/// use effect_runtime::{succeed, Context, Effect, Runtime};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let runtime = Runtime::new(Context::new());
/// let fiber = runtime.fork(succeed::<u32, ()>(21).map(|n| n * 2));
/// assert_eq!(runtime.run(fiber.join()).await, Ok(42));
/// assert_eq!(runtime.live_fibers(), 0);
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Runtime {
    ctx: Context,
    family: Arc<Family>,
}

impl Runtime {
    /// A runtime whose effects see the services of `ctx`.
    pub fn new(ctx: Context) -> Self {
        Runtime {
            ctx,
            family: Arc::default(),
        }
    }

    /// The context effects run with.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// Runs `effect` as a root fiber of this runtime; see [`Effect::run`].
    pub fn run<A: Send + 'static, E: Send + 'static>(&self, effect: Effect<A, E>) -> Run<A, E> {
        Run::new(effect, &self.ctx, Some(self.family.clone()))
    }

    /// Starts `effect` on a new fiber of this runtime (no parent supervises it).
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn fork<A: Send + 'static, E: Send + 'static>(&self, effect: Effect<A, E>) -> Fiber<A, E> {
        spawn_fiber(effect, self.ctx.clone(), Some(self.family.clone()), None)
    }

    /// The fibers started through this runtime (roots, forks, and everything they forked)
    /// that are still alive. Zero after every run means nothing leaked.
    pub fn live_fibers(&self) -> usize {
        self.family.live()
    }
}
