//! A region with no body, whose owner starts task members as it goes and closes it when it
//! is done with them (a stream's workers, owned by the scope the stream was opened in). Its
//! finished members' slots are taken back as more start, so an owner starting a member per
//! value (a stream's `map_par` over millions of values) holds about as many as are running.

use std::sync::Arc;
use std::task::Context as TaskContext;

use super::{lock, Region};
use crate::kernel::effect::Effect;
use crate::kernel::fiber::core::Family;
use crate::kernel::fiber::locals::Inherited;

impl<A: Send + 'static, E: Send + 'static> Region<A, E> {
    /// Takes the exits of the task members that finished since the last call (their exits
    /// are of no use to the owner, which reads what its members produce elsewhere) and puts
    /// their slots in `free`, to start the next members in.
    pub(crate) fn take_finished(&self, free: &mut Vec<usize>) {
        let mut members = lock(&self.members);
        let Some(ready) = members.ready.get().cloned() else {
            return;
        };
        let mut cx = TaskContext::from_waker(std::task::Waker::noop());
        for index in ready.take_all() {
            // A slot named twice (a late report of a member whose slot was taken again) has a
            // running member in it: polling it takes nothing.
            // A worker's exit is read by nobody, as a fiber's is when nobody joins it: what
            // a worker produces, its failures included, goes through its channel.
            if members.poll_member(index, &mut cx).is_some() {
                free.push(index);
            }
        }
    }

    /// Starts `effect` as a task member, in the finished slot `free` if one is given (see
    /// [`take_finished`](Self::take_finished)), else in a new one.
    pub(crate) fn start_task(
        &self,
        effect: Effect<A, E>,
        free: Option<usize>,
        from: &Inherited,
        family: &Option<Arc<Family>>,
    ) {
        self.start_on_task(effect, free, from, family);
    }
}
