//! The registry of a family, and a fiber's name: unit tests of `core`.

use super::*;

fn registered(family: &Family) -> usize {
    family.registry.len()
}

#[test]
fn the_registry_frees_a_slot_as_its_fiber_completes_and_reuses_it() {
    let family = Arc::new(Family::default());
    let cores: Vec<Arc<FiberCore>> = (0..100)
        .map(|_| FiberCore::new(Some(family.clone()), FiberKind::User, ()) as Arc<FiberCore>)
        .collect();
    cores
        .iter()
        .for_each(|core| family.register(core, FiberId::NONE, false));
    assert_eq!(registered(&family), 100);
    cores[..60].iter().for_each(|core| core.complete());
    assert_eq!(registered(&family), 40);
    // New fibers take the freed slots: the slab does not grow.
    let more: Vec<Arc<FiberCore>> = (0..60)
        .map(|_| FiberCore::new(Some(family.clone()), FiberKind::User, ()) as Arc<FiberCore>)
        .collect();
    more.iter()
        .for_each(|core| family.register(core, FiberId::NONE, false));
    assert_eq!(family.registry.capacity(), 100);
    cores[60..]
        .iter()
        .chain(&more)
        .for_each(|core| core.complete());
    assert_eq!(registered(&family), 0);
    assert_eq!(family.live(), 0);
}

#[test]
fn a_fiber_done_before_it_is_registered_holds_no_slot() {
    let family = Arc::new(Family::default());
    let core: Arc<FiberCore> = FiberCore::new(Some(family.clone()), FiberKind::User, ());
    core.complete();
    family.register(&core, FiberId::NONE, false);
    assert_eq!(registered(&family), 0);
}

#[test]
fn registering_and_completing_race_free_each_slot_once() {
    let family = Arc::new(Family::default());
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let family = family.clone();
            std::thread::spawn(move || {
                for _ in 0..2000 {
                    let core: Arc<FiberCore> =
                        FiberCore::new(Some(family.clone()), FiberKind::User, ());
                    let completer = {
                        let core = core.clone();
                        std::thread::spawn(move || core.complete())
                    };
                    family.register(&core, FiberId::NONE, false);
                    completer.join().unwrap();
                }
            })
        })
        .collect();
    workers.into_iter().for_each(|w| w.join().unwrap());
    assert_eq!(registered(&family), 0);
}

#[test]
fn shutdown_interrupts_registered_fibers_and_each_still_frees_its_slot() {
    let family = Arc::new(Family::default());
    let before: Arc<FiberCore> = FiberCore::new(Some(family.clone()), FiberKind::User, ());
    family.register(&before, FiberId::NONE, false);
    family.begin_shutdown();
    assert!(before.is_interrupted());
    let after: Arc<FiberCore> = FiberCore::new(Some(family.clone()), FiberKind::User, ());
    family.register(&after, FiberId::NONE, false);
    assert!(
        after.is_interrupted(),
        "registered during shutdown: interrupted at once"
    );
    before.complete();
    after.complete();
    assert_eq!(registered(&family), 0);
}

#[test]
fn a_name_is_kept_while_the_fiber_lives_and_removed_as_it_completes() {
    let core: Arc<FiberCore> = FiberCore::new(None, FiberKind::User, ());
    assert_eq!(core.name(), None);
    core.set_name("first".into());
    core.set_name("second".into());
    assert_eq!(core.name().as_deref(), Some("second"));
    core.complete();
    assert_eq!(core.name(), None);
    assert!(
        !lock(&NAMES).contains_key(&core.id().0),
        "no name is left behind"
    );
    // Named once done: nothing would remove it, so it is not kept.
    core.set_name("late".into());
    assert_eq!(core.name(), None);
    assert!(!lock(&NAMES).contains_key(&core.id().0));
}

#[test]
fn shutdown_leaves_supervised_fibers_to_their_parents_and_a_dump_lists_both() {
    let family = Arc::new(Family::default());
    let root: Arc<FiberCore> = FiberCore::new(Some(family.clone()), FiberKind::User, ());
    family.register(&root, FiberId::NONE, false);
    let child: Arc<FiberCore> = FiberCore::new(Some(family.clone()), FiberKind::User, ());
    family.register(&child, root.id(), true);
    let listed: Vec<(FiberId, FiberId)> = family
        .registered()
        .iter()
        .map(|fiber| (fiber.core.id(), fiber.parent))
        .collect();
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&(root.id(), FiberId::NONE)));
    assert!(listed.contains(&(child.id(), root.id())));
    family.begin_shutdown();
    assert!(root.is_interrupted());
    assert!(
        !child.is_interrupted(),
        "a supervised fork is its parent's to stop, as its region closes"
    );
    // Registered during shutdown: only an unsupervised one is interrupted at once.
    let late_child: Arc<FiberCore> = FiberCore::new(Some(family.clone()), FiberKind::User, ());
    family.register(&late_child, root.id(), true);
    assert!(!late_child.is_interrupted());
    [root, child, late_child]
        .iter()
        .for_each(|core| core.complete());
    assert_eq!(registered(&family), 0);
}
