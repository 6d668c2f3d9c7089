//! The region's own tests: what it holds as members come and go.

use super::forks::{self, Forks};
use super::slots::Slot;
use super::wake::MemberWake;
use super::*;
use crate::kernel::cause::Never;
use crate::kernel::context::Context;
use crate::kernel::effect::{never, succeed, yield_now};
use crate::kernel::fiber::core::{FiberCore, FiberKind};
use std::task::Waker;

/// What a region holds: slots, room for in-place runs.
fn size<A, E, const IN: usize>(region: &Region<A, E, IN>) -> (usize, usize) {
    let members = lock(&region.members);
    (members.slots.len(), members.runs.room().0)
}

/// Whether the region's slots, and its runs, have moved out of its own allocation.
fn spilled<A, E, const IN: usize>(region: &Region<A, E, IN>) -> (bool, bool) {
    let members = lock(&region.members);
    (members.slots.spilled(), members.runs.room().1)
}

/// The waker a running in-place member was given.
fn waker_of<A, E>(region: &Region<A, E>, index: usize) -> *const MemberWake {
    let members = lock(&region.members);
    let Slot::InPlace(at) = members.slots[index] else {
        panic!("slot {index} holds no running in-place member");
    };
    members.runs.waker_of(at).expect("a waker of its own")
}

/// The region's next finished member, polled with a waker that does nothing.
fn finished<A: Send + 'static, E: Send + 'static, const IN: usize>(
    region: &Region<A, E, IN>,
) -> Option<(usize, Exit<A, E>)> {
    let mut cx = TaskContext::from_waker(Waker::noop());
    match region.poll_next(&mut cx) {
        Poll::Ready(finished) => finished,
        Poll::Pending => None,
    }
}

/// The region's next finished member, letting the runtime's other tasks run until one is.
async fn next_exit<A: Send + 'static, E: Send + 'static, const IN: usize>(
    region: &Region<A, E, IN>,
) -> (usize, Exit<A, E>) {
    loop {
        match finished(region) {
            Some(exit) => return exit,
            None => tokio::task::yield_now().await,
        }
    }
}

fn on_current_thread(test: impl std::future::Future<Output = ()>) {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
        .block_on(test);
}

#[test]
fn in_place_members_started_as_others_finish_reuse_their_room() {
    on_current_thread(async {
        let region: Region<u64, Never> = Region::default();
        let from = Inherited::root(Context::new());
        // A member that never finishes keeps its slot throughout.
        let stays = region.start(never(), Placement::InPlace, true, &from, &None);
        assert!(finished(&region).is_none());
        let mut wakers = Vec::new();
        for i in 0..1_000u64 {
            // Suspends once (a member that needs its waker), then finishes.
            let member = yield_now().flat_map(move |()| succeed(i));
            let index = region.start(member, Placement::InPlace, true, &from, &None);
            assert_ne!(index, stays, "a running member's slot is never given away");
            wakers.push(waker_of(&region, index));
            assert_eq!(next_exit(&region).await, (index, Ok(i)));
        }
        wakers.dedup();
        assert_eq!(wakers.len(), 1, "the slot's waker goes to its next member");
        assert_eq!(
            size(&region),
            (2, 2),
            "as large as the most members at once"
        );
        // Members running side by side each get a slot of their own.
        let a = region.start(never(), Placement::InPlace, true, &from, &None);
        let b = region.start(never(), Placement::InPlace, true, &from, &None);
        assert!(stays != a && a != b && stays != b);
        assert_eq!(size(&region), (3, 3));
        region.interrupt_members();
        let mut interrupted = Vec::new();
        while interrupted.len() < 3 {
            let (index, exit) = next_exit(&region).await;
            assert!(exit.is_err_and(|cause| cause.is_interrupted_only()));
            interrupted.push(index);
        }
        interrupted.sort();
        assert_eq!(interrupted, vec![0, 1, 2]);
        assert!(finished(&region).is_none(), "no member runs any more");
    });
}

#[test]
fn task_members_never_reuse_a_slot() {
    on_current_thread(async {
        let region: Region<u64, Never> = Region::default();
        let from = Inherited::root(Context::new());
        for i in 0..10u64 {
            let index = region.start(succeed(i), Placement::Task, true, &from, &None);
            assert_eq!(
                index, i as usize,
                "a task member's index is its start order"
            );
            assert_eq!(next_exit(&region).await, (index, Ok(i)));
        }
        assert_eq!(size(&region), (10, 0));
    });
}

#[test]
fn a_race_of_two_keeps_its_members_inline_and_a_third_moves_them_all() {
    on_current_thread(async {
        // A race's region: room for two runs of its own, reserved for two members.
        let region: Region<u64, Never, 2> = Region::with_capacity(2);
        let from = Inherited::root(Context::new());
        let turns = |n: u64| {
            (0..n).fold(succeed::<u64, Never>(n), |effect, _| {
                effect.flat_map(|n| yield_now().flat_map(move |()| succeed(n)))
            })
        };
        // Started and polled once each: both suspended, in the region's own room.
        let slow = region.start(turns(50), Placement::InPlace, false, &from, &None);
        let slower = region.start(turns(80), Placement::InPlace, false, &from, &None);
        assert!(finished(&region).is_none());
        assert_eq!(spilled(&region), (false, false));
        // A third moves the slots and the two suspended runs to the heap, mid-flight.
        let quick = region.start(turns(10), Placement::InPlace, false, &from, &None);
        assert_eq!(spilled(&region), (true, true));
        let mut order = Vec::new();
        while order.len() < 3 {
            order.push(next_exit(&region).await);
        }
        assert_eq!(
            order,
            vec![(quick, Ok(10)), (slow, Ok(50)), (slower, Ok(80))]
        );
        assert!(finished(&region).is_none(), "no member runs any more");
    });
}

#[test]
fn a_fiber_with_many_live_forks_sweeps_its_finished_ones_rarely() {
    use crate::kernel::fiber::prim::ForkOwner;
    let forks = Forks::default();
    let core = || -> Arc<FiberCore> { FiberCore::new(None, FiberKind::User, ()) };
    let live: Vec<Arc<FiberCore>> = (0..1000).map(|_| core()).collect();
    live.iter().for_each(|fiber| forks.adopt(fiber.clone()));
    let before = forks::SWEEPS.with(|s| s.get());
    for _ in 0..100_000 {
        let short = core();
        short.complete();
        forks.adopt(short);
    }
    let sweeps = forks::SWEEPS.with(|s| s.get()) - before;
    // A sweep comes after at least as many adoptions as there are live forks: about 100
    // here (a sweep every 24 adoptions, 4,000 of them, before).
    assert!(
        sweeps <= 200,
        "{sweeps} sweeps for 100,000 forks beside 1,000 live ones"
    );
    let (slots, _) = size(&forks);
    assert!(
        slots <= 4 * 1000 + 64,
        "the finished forks are forgotten: {slots} slots"
    );
    live.iter().for_each(|fiber| fiber.complete());
}

#[test]
fn an_owner_starting_a_member_per_value_reuses_the_slots_of_finished_ones() {
    on_current_thread(async {
        let region: Region<(), Never> = Region::default();
        let (from, family) = (Inherited::root(Context::new()), None);
        let mut free = Vec::new();
        for _ in 0..1000 {
            if free.is_empty() {
                region.take_finished(&mut free);
            }
            region.start_task(succeed(()), free.pop(), &from, &family);
            // The member runs (and finishes) when this task yields.
            tokio::task::yield_now().await;
        }
        let (slots, _) = size(&region);
        assert!(
            slots <= 4,
            "1,000 members, one at a time, took {slots} slots"
        );
        // A member still running keeps its slot, and the close waits for it.
        region.start_task(never(), None, &from, &family);
        let owner: Arc<dyn Owner> = Arc::new(region);
        assert!(!owner.is_closed());
        owner.interrupt_members();
        let mut cx = TaskContext::from_waker(Waker::noop());
        loop {
            match owner.poll_closed(&mut cx) {
                Poll::Ready(defects) => break assert!(defects.is_none()),
                Poll::Pending => tokio::task::yield_now().await,
            }
        }
    });
}
