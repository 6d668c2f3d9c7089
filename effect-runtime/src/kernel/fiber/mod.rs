//! The fiber kernel: fibers, the interpreter that runs each one, and the regions that own
//! their children. Everything else in the library (operators, streams, services) is built on
//! the instruction set below and never reaches past it.
//!
//! # Map
//!
//! Each file imports only files listed before it (read top-down, it is a layering):
//!
//! | file | holds |
//! |---|---|
//! | `id`, `live`, `waiting` | [`FiberId`](id::FiberId): who a fiber is; how many are alive in the process; what a fiber is doing (the primitive it suspends on says what it waits on) |
//! | `stack`, `locals`, `span`, `perturb` | the interpreter's stack type, fiber-locals, a fiber's tracing span, random yields for tests (`EFFECT_PERTURB`) |
//! | `registry` | a runtime's user fibers, in sharded slabs: what dumps list, and shutdown interrupts |
//! | `core` | [`FiberCore`](core::FiberCore), a fiber's shared state (interruption, completion, who waits, what it is doing); [`Family`](core::Family), the fibers of one `Runtime` and its registry of user fibers (for dumps, and for shutdown the unsupervised ones) |
//! | `dump` | [`FiberDump`](dump::FiberDump): a snapshot of a family's user fibers, printed as a tree |
//! | `frame` | type-erased async bodies and their outcomes |
//! | `prim` | the instruction set: [`Prim`](prim::Prim), finalizers, the close protocol of a region ([`Owner`](prim::Owner), [`ForkOwner`](prim::ForkOwner)), a timeout's [`Deadline`](prim::Deadline), a continuation ([`Then`](prim::Then): `map`, `flat_map`, the handlers; typed in `kernel/then.rs`), what a request sees of its fiber ([`FiberCx`](prim::FiberCx)) |
//! | `handoff` | the hand-off between an interpreter and the body it polls; the step budget |
//! | `tracking` | how a fiber reports to a test clock, so that `advance` waits for every fiber on it |
//! | `interpreter/` | runs one fiber: the loop (`mod`); the stack entries (`entry/`), each kind in a file of its own saying what it does on a value, on unwinding, and if dropped (`finalizer`, `restore`, `region`, `then`; a timeout's in `deadlines`) |
//! | `run` | [`Driver`](run::Driver) (the fiber's owner: a task, a `Run` future, or a region's in-place slot) and [`Run`](run::Run), an effect run as a root |
//! | `handle` | [`Fiber`](handle::Fiber) handles, `spawn_fiber`, `fork` |
//! | `region/` | [`Region`](region::Region): the members of a race or a group, the forks of a fiber, a stream's workers. Its parts: `slots.rs` (which member is where), `in_place.rs` + `placed.rs` (the in-place executor; a busy member moves to a task), `close.rs` (the close protocol), `forks.rs` (a fiber's forks: adoption), `workers.rs` (a region with no body), `wake.rs` (how members report) |
//! | `bind` | `effect.await` inside a body |
//! | `kept` | fibers an owner outside the kernel keeps and stops as it closes (a cache's lookups): a forks region |
//!
//! # A fiber's life
//!
//! 1. **Made.** [`FiberCore::new`](core::FiberCore::new) counts it alive (in the process and
//!    in its `Runtime`'s family). Its owner is fixed now: a tokio task (`spawn_fiber`: a
//!    fork, a group member), a [`Run`](run::Run) future (a root), or a region's in-place slot
//!    (a race branch), each holding the fiber's [`Driver`](run::Driver) and so its
//!    interpreter. Only an in-place member changes hands, once, when it is found busy: its
//!    run moves to a task of its own, and it stays its region's member. Everyone else holds the
//!    `Arc<FiberCore>` and can only signal it (interrupt) or observe it (wait for its end).
//!    A fiber no parent supervises (a root, a `Runtime::fork`, a daemon) is registered with
//!    its family, for shutdown to interrupt ([I6]); every other one is a member of exactly
//!    one region ([I4]).
//! 2. **Running.** Its owner polls the interpreter, which runs entries off the top of its
//!    stack ([I1]); bodies bind effects through the hand-off ([I8]), spending the step
//!    budget ([I10]).
//! 3. **Interrupted** (maybe). [`FiberCore::interrupt`](core::FiberCore::interrupt) marks it
//!    and wakes its task; the interpreter acts on it where the fiber is interruptible ([I7]),
//!    unwinding its stack: every finalizer runs ([I2]), uninterruptibly ([I3]); every region
//!    closes, interrupting and awaiting its members ([I4]).
//! 4. **Ended.** The stack is empty ([I5]); the owner stores the exit and calls
//!    [`FiberCore::complete`](core::FiberCore::complete), once: no longer alive, then done,
//!    then everyone waiting is woken and its registry slot freed ([I6]). A driver dropped
//!    before this (its `Run` dropped, its task dropped by a runtime shutting down) interrupts
//!    the fiber and finishes what it owes on a task, or in place without a runtime, and then
//!    completes it.
//!
//! # Invariants
//!
//! Each is named where it is kept, and checked there with a `debug_assert!` where a check is
//! cheap (the test suites run in debug, so every test checks them).
//!
//! - **I1** Only the top entry of a fiber's stack is polled; everything below waits for a
//!   value from above. Nesting lives in the heap stack, never on the native stack.
//!   (`Interpreter::run_bodies`)
//! - **I2** Every finalizer on the stack runs exactly once: its entry is popped before it
//!   starts, and every way out of the loop (a value, a failure, unwinding) passes every
//!   entry. (`interpreter/entry/finalizer.rs`)
//! - **I3** A finalizer, and the close of a region, runs uninterruptibly to its end; the
//!   interruptibility from before is put back after. (`Interpreter::run_finalizer`, checked
//!   as a running finalizer's entry is popped)
//! - **I4** No child outlives its region: a region's entry is popped only through its close,
//!   which interrupts every member still running and waits for each.
//!   (`interpreter/entry/region.rs`, `Owner::close`, checked as the close ends)
//! - **I5** A fiber ends with its stack empty, no deadline counted, nothing left to start.
//!   (`Interpreter::finished`)
//! - **I6** A fiber completes once, and is counted dead before anyone can see it done; a
//!   registry slot holds exactly the fiber whose `registry_slot` names it, and is freed by
//!   whoever takes that number out of the fiber, both under the fiber's state lock.
//!   (`FiberCore::complete`,
//!   `Family::register`)
//! - **I7** Interruption (the fiber's own, or an expired deadline's) is acted on only where
//!   the fiber is interruptible, at suspension points. (`Interpreter::pending_interruption`)
//! - **I8** The hand-off pointer is set only inside `HandOff::offer`, on its thread, and put
//!   back however the poll ends. (`handoff::with_current`)
//! - **I9** The deadline count in `Interpreter::deadlines` is the number of deadline entries on
//!   the stack. (`enter_deadline`, `leave_deadline`)
//! - **I10** Every step spends the poll's budget, a bind of a ready value and a continuation
//!   on one included: any loop returns to the scheduler now and then, and so can be
//!   interrupted. (`handoff::spend_budget`, `Interpreter::then_started`)
//! - **I11** In-place members nest on the native stack at most
//!   [`MAX_IN_PLACE_DEPTH`](region::MAX_IN_PLACE_DEPTH) deep; deeper regions put their members
//!   on tasks. (`Region::start`)
//!
//! [I1]: #invariants
//! [I2]: #invariants
//! [I3]: #invariants
//! [I4]: #invariants
//! [I5]: #invariants
//! [I6]: #invariants
//! [I7]: #invariants
//! [I8]: #invariants
//! [I10]: #invariants

pub(crate) mod bind;
pub(crate) mod core;
pub(crate) mod dump;
pub(crate) mod frame;
pub(crate) mod handle;
pub(crate) mod handoff;
pub(crate) mod id;
pub(crate) mod interpreter;
pub(crate) mod kept;
pub(crate) mod live;
pub(crate) mod locals;
#[cfg(feature = "metrics")]
pub(crate) mod metered;
pub(crate) mod perturb;
pub(crate) mod prim;
pub(crate) mod region;
pub(crate) mod registry;
pub(crate) mod run;
#[cfg(feature = "tracing")]
pub(crate) mod span;
pub(crate) mod stack;
pub(crate) mod tracking;
pub(crate) mod waiting;
