//! Where an in-place member runs: polled here, by the region's fiber, while it waits; moved
//! to a task of its own once it is busy (a whole step budget spent without waiting), so busy
//! members run side by side on a multi-thread runtime.

use std::sync::{Arc, Mutex};

use super::lock;
use super::wake::Ready;
use crate::kernel::cause::Exit;
use crate::kernel::fiber::core::FiberCore;
use crate::kernel::fiber::run::Run;

/// Where an in-place member's run is: here, polled by the region's fiber, or moved to a task
/// of its own because it was busy (see [`Placed::move_to_task`]), which leaves its exit here
/// and queues the member when it finishes.
pub(super) enum Placed<A, E> {
    Here(Run<A, E>),
    Moved(Arc<MovedRun<A, E>>),
}

/// What stays in the region of a member moved to a task: its fiber (to interrupt it) and,
/// once it finishes, its exit.
pub(super) struct MovedRun<A, E> {
    core: Option<Arc<FiberCore>>,
    exit: Mutex<Option<Exit<A, E>>>,
}

impl<A, E> MovedRun<A, E> {
    /// The exit of the moved member, once its task stored it (taken once).
    pub(super) fn take_exit(&self) -> Option<Exit<A, E>> {
        lock(&self.exit).take()
    }
}

impl<A, E> Placed<A, E> {
    /// Asks the member's fiber to stop: quietly when the region's fiber polls it next itself
    /// (see [`FiberCore::interrupt_quietly`]), with a wake-up when a task of its own does.
    pub(super) fn interrupt(&self) {
        match self {
            Placed::Here(run) => run.interrupt_quietly(),
            Placed::Moved(moved) => moved.core.iter().for_each(|core| core.interrupt()),
        }
    }
}

impl<A: Send + 'static, E: Send + 'static> Placed<A, E> {
    /// Moves the member of slot `index`, still here, to a tokio task of its own, on a
    /// multi-thread runtime: it spent its whole budget without waiting, so it is busy with
    /// work of its own (CPU-bound), and on the region's task it would take turns with the
    /// other members instead of running beside them. A member that waits (I/O, timers, other
    /// fibers) stays in place, where it costs no task.
    ///
    /// The member keeps its slot, its fiber, its supervision: the region interrupts it
    /// through its core and closes only once it has finished, as before (I4). The task stores
    /// its exit here and queues the member on `ready`, and the region's next poll takes it.
    #[cold]
    pub(super) fn move_to_task(&mut self, index: usize, ready: &mut Ready) {
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if !multi_thread {
            return;
        }
        let Placed::Here(run) = self else {
            return;
        };
        if !run.prepare_to_move() {
            return;
        }
        let moved = Arc::new(MovedRun {
            core: run.core().cloned(),
            exit: Mutex::new(None),
        });
        let Placed::Here(mut run) = std::mem::replace(self, Placed::Moved(moved.clone())) else {
            unreachable!("the member was here a moment ago")
        };
        let ready = ready.queue();
        tokio::spawn(async move {
            let exit = (&mut run).await;
            *lock(&moved.exit) = Some(exit);
            ready.push(index);
        });
    }
}
