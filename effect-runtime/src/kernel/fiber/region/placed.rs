//! Where an in-place member runs: polled here, by the region's fiber, while it waits; moved
//! to a task of its own once it is busy (a whole step budget spent without waiting), so busy
//! members run side by side on a multi-thread runtime.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};

use super::{lock, InPlace, Members, IN_PLACE_DEPTH};
use crate::kernel::cause::Exit;
use crate::kernel::fiber::core::FiberCore;
use crate::kernel::fiber::handoff::take_budget_spent;
use crate::kernel::fiber::run::Run;

/// Where an in-place member's run is: here, polled by the region's fiber, or moved to a task
/// of its own because it was busy (see [`Members::move_to_task`]), which leaves its exit here
/// and queues the member when it finishes.
pub(super) enum Placed<A, E> {
    Here(Run<A, E>),
    Moved(Arc<MovedRun<A, E>>),
}

/// What stays in the region of a member moved to a task: its fiber (to interrupt it) and,
/// once it finishes, its exit.
pub(super) struct MovedRun<A, E> {
    pub(super) core: Option<Arc<FiberCore>>,
    pub(super) exit: Mutex<Option<Exit<A, E>>>,
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

impl<A: Send + 'static, E: Send + 'static, const IN: usize> Members<A, E, IN> {
    /// Polls the in-place member in slot `index` (its run at `at`), or takes the exit of one
    /// moved to a task; the exit if it finished now. A member found busy moves to a task.
    pub(super) fn poll_in_place_member(
        &mut self,
        index: usize,
        at: usize,
        cx: &mut TaskContext<'_>,
    ) -> Option<Exit<A, E>> {
        let InPlace { run, own } = &mut self.in_place[at];
        let run = match run {
            Placed::Here(run) => run,
            Placed::Moved(moved) => return lock(&moved.exit).take(),
        };
        // The budget flag is cleared before the poll: set after it, this member's own run
        // spent its budget.
        take_budget_spent();
        let polled = match own {
            Some((wake, waker)) => {
                // Cleared before the poll: a wake during it queues the member again.
                wake.queued.store(false, Ordering::Release);
                poll_in_place(run, &mut TaskContext::from_waker(waker))
            }
            None => poll_in_place(run, cx),
        };
        match polled {
            Poll::Ready(exit) => Some(exit),
            Poll::Pending => {
                if take_budget_spent() {
                    self.move_to_task(index, at);
                }
                None
            }
        }
    }

    /// Moves the in-place member in slot `index` (its run at `at`) to a tokio task of its own,
    /// on a multi-thread runtime: it spent its whole budget without waiting, so it is busy
    /// with work of its own (CPU-bound), and on the region's task it would take turns with
    /// the other members instead of running beside them. A member that waits (I/O, timers,
    /// other fibers) stays in place, where it costs no task.
    ///
    /// The member keeps its slot, its fiber, its supervision: the region interrupts it
    /// through its core and closes only once it has finished, as before (I4). The task stores
    /// its exit here and queues the member, and the region's next poll takes it.
    #[cold]
    fn move_to_task(&mut self, index: usize, at: usize) {
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if !multi_thread {
            return;
        }
        let ready = self.ready_queue();
        let placed = &mut self.in_place[at].run;
        let Placed::Here(run) = placed else {
            return;
        };
        if !run.prepare_to_move() {
            return;
        }
        let moved = Arc::new(MovedRun {
            core: run.core().cloned(),
            exit: Mutex::new(None),
        });
        let Placed::Here(mut run) = std::mem::replace(placed, Placed::Moved(moved.clone())) else {
            unreachable!("the member was here a moment ago")
        };
        tokio::spawn(async move {
            let exit = (&mut run).await;
            *lock(&moved.exit) = Some(exit);
            ready.push(index);
        });
    }
}

/// Polls an in-place member, one level deeper on the native stack.
fn poll_in_place<A: Send + 'static, E: Send + 'static>(
    run: &mut Run<A, E>,
    cx: &mut TaskContext<'_>,
) -> Poll<Exit<A, E>> {
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            IN_PLACE_DEPTH.set(IN_PLACE_DEPTH.get() - 1);
        }
    }
    IN_PLACE_DEPTH.set(IN_PLACE_DEPTH.get() + 1);
    let _leave = Leave;
    Pin::new(run).poll(cx)
}
