//! The programs: what a random effect program is made of, and how one prints (`generate.rs` draws
//! them from a seed).

use std::fmt;

/// How a finalizer (an `ensuring` finalizer, or a resource's release) ends once it has run
/// for its delay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinKind {
    Ok,
    /// Dies with `die(..)`.
    Die,
    /// Fails with a typed error, turned into a defect by `or_die`.
    OrDie,
    /// Panics.
    Panic,
    /// Panics while the finalizer is being built (it runs nothing, and has no delay).
    PanicOnBuild,
}

/// A finalizer: it logs its start, sleeps `delay` (uninterruptibly, as every finalizer runs),
/// logs its end, and ends as `kind` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fin {
    pub delay: u64,
    pub kind: FinKind,
}

impl Fin {
    pub const PLAIN: Fin = Fin {
        delay: 0,
        kind: FinKind::Ok,
    };

    /// Whether the finalizer adds a defect to the cause.
    pub fn dies(&self) -> bool {
        self.kind != FinKind::Ok
    }

    /// Whether the finalizer logs its end (all but one that panics while being built).
    pub fn logs_end(&self) -> bool {
        self.kind != FinKind::PanicOnBuild
    }
}

impl fmt::Display for Fin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            FinKind::Ok => "",
            FinKind::Die => " die",
            FinKind::OrDie => " or_die",
            FinKind::Panic => " panic",
            FinKind::PanicOnBuild => " panic_on_build",
        };
        write!(f, "{}ms{kind}", self.delay)
    }
}

/// A retry/repeat schedule; every form is bounded, so a program always ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sched {
    /// `recurs(n)`.
    Recurs(u64),
    /// `spaced(d) & recurs(n)`.
    Spaced(u64, u64),
    /// `exponential(base) & recurs(n)`.
    Exponential(u64, u64),
    /// `fibonacci(base) & recurs(n)`.
    Fibonacci(u64, u64),
    /// `recurs(a).and_then(spaced(d) & recurs(n))`.
    AndThen(u64, u64, u64),
    /// `(spaced(d1) & recurs(n1)) | (spaced(d2) & recurs(n2))`.
    Either(u64, u64, u64, u64),
    /// `(spaced(d) & recurs(n)).up_to(limit)`.
    UpTo(u64, u64, u64),
}

impl Sched {
    /// The delays the schedule allows, one per recurrence, as the design describes them
    /// (computed here independently of the library's `Schedule`).
    pub fn delays(&self) -> Vec<u64> {
        match *self {
            Sched::Recurs(n) => vec![0; n as usize],
            Sched::Spaced(d, n) => vec![d; n as usize],
            Sched::Exponential(b, n) => (0..n).map(|k| b << k).collect(),
            Sched::Fibonacci(b, n) => {
                let (mut current, mut next) = (b, b);
                (0..n)
                    .map(|_| {
                        let delay = current;
                        (current, next) = (next, current + next);
                        delay
                    })
                    .collect()
            }
            Sched::AndThen(a, d, n) => {
                let mut delays = vec![0; a as usize];
                delays.extend(vec![d; n as usize]);
                delays
            }
            // Both run while both continue (the shorter delay), then the one left alone.
            Sched::Either(d1, n1, d2, n2) => (0..n1.max(n2))
                .map(|k| match (k < n1, k < n2) {
                    (true, true) => d1.min(d2),
                    (true, false) => d1,
                    _ => d2,
                })
                .collect(),
            // Stops before the total delay would pass the limit.
            Sched::UpTo(d, limit, n) => {
                let mut total = 0;
                (0..n)
                    .map_while(|_| {
                        total += d;
                        (total <= limit).then_some(d)
                    })
                    .collect()
            }
        }
    }
}

impl fmt::Display for Sched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sched::Recurs(n) => write!(f, "recurs({n})"),
            Sched::Spaced(d, n) => write!(f, "spaced({d}ms)&recurs({n})"),
            Sched::Exponential(b, n) => write!(f, "exponential({b}ms)&recurs({n})"),
            Sched::Fibonacci(b, n) => write!(f, "fibonacci({b}ms)&recurs({n})"),
            Sched::AndThen(a, d, n) => write!(f, "recurs({a}).and_then(spaced({d}ms)&recurs({n}))"),
            Sched::Either(d1, n1, d2, n2) => write!(
                f,
                "(spaced({d1}ms)&recurs({n1}))|(spaced({d2}ms)&recurs({n2}))"
            ),
            Sched::UpTo(d, limit, n) => write!(f, "(spaced({d}ms)&recurs({n})).up_to({limit}ms)"),
        }
    }
}

/// A producer and a consumer on a bounded queue of their own: the producer sleeps `produce`
/// then offers each of the items 1..=items; the consumer takes each, then sleeps `consume`.
/// The value is the sum of the items taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pipe {
    pub id: i64,
    pub capacity: usize,
    pub items: u32,
    pub produce: u64,
    pub consume: u64,
}

/// An `effect::Pool` of items numbered in the order they are made, built with `min..=max`
/// items in a scope of its own: an acquisition sleeps `acquire` ms (acquisition number j,
/// counted from 0 over all of them, fails if `j >= min` and bit `j - min` of `fails` is set),
/// and a release sleeps `release` ms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolSpec {
    pub id: i64,
    pub min: usize,
    pub max: usize,
    pub acquire: u64,
    pub release: u64,
    pub fails: u8,
}

impl PoolSpec {
    /// Whether acquisition number `j` fails.
    pub fn fails(&self, j: usize) -> bool {
        j >= self.min && j - self.min < 8 && self.fails >> (j - self.min) & 1 == 1
    }
}

/// A holder of a `Prog::ItemPool`: it gets an item (giving up after `patience` ms if given:
/// the value is then -1; a failed acquisition gives -2), runs `prog` with the item checked
/// out, and invalidates the item as `invalidate` says (if `prog` succeeded).
#[derive(Clone, Debug)]
pub struct Checkout {
    pub patience: Option<u64>,
    pub invalidate: Invalidate,
    pub prog: Prog,
}

/// When a holder invalidates the item it had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalidate {
    Never,
    /// Before giving it back: it is released as it comes back.
    Holding,
    /// Once it gave it back: released at once if idle, when it comes back if another holder
    /// has it, not at all if it is gone.
    Returned,
}

/// The rule of an `effect::RateLimiter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// `token_bucket(capacity, refill, refill * interval ms)`: a token every `interval` ms.
    Bucket {
        capacity: u64,
        refill: u64,
        interval: u64,
    },
    /// `fixed_window(limit, window ms)`.
    Window { limit: u64, window: u64 },
}

impl Limit {
    /// The most one acquisition may take.
    pub fn capacity(&self) -> u64 {
        match *self {
            Limit::Bucket { capacity, .. } => capacity,
            Limit::Window { limit, .. } => limit,
        }
    }
}

/// A caller of a `Prog::Limited`: it acquires `cost` (giving up after `patience` ms if given:
/// the value is then -1), then runs `prog`.
#[derive(Clone, Debug)]
pub struct Ask {
    pub cost: u64,
    pub patience: Option<u64>,
    pub prog: Prog,
}

#[derive(Clone, Debug)]
pub enum Prog {
    /// Succeeds with the value after the delay (ms).
    Value(u64, i64),
    /// Fails with the error after the delay.
    Fail(u64, i64),
    /// Dies after the delay.
    Die(u64),
    /// Panics after the delay.
    Panic(u64),
    /// Runs the first, then (if it succeeded) the second.
    Seq(Box<Prog>, Box<Prog>),
    ZipPar(Vec<Prog>),
    Race(Vec<Prog>),
    RaceFirst(Vec<Prog>),
    /// `timeout(ms)`; `None` becomes the value -1.
    Timeout(u64, Box<Prog>),
    /// Recovers a typed failure with the handler.
    CatchAll(Box<Prog>, Box<Prog>),
    /// A resource (acquired at once, released by the finalizer when its scope closes) around
    /// the program.
    Resource(i64, Fin, Box<Prog>),
    /// `ensuring(finalizer)`: the finalizer logs under the id when the program ends, however
    /// it ends.
    Ensuring(Box<Prog>, i64, Fin),
    Uninterruptible(Box<Prog>),
    ForkJoin(Box<Prog>),
    /// Forks the program, sleeps, interrupts it; the value is 0.
    ForkInterrupt(Box<Prog>, u64),
    /// `for_each_par` over the programs with the given parallelism; the value is the sum.
    ForEachPar(Vec<Prog>, usize),
    /// `fork_daemon`; joined if the flag says so, otherwise the value is 0 at once and the
    /// daemon goes on alone.
    Daemon(Box<Prog>, bool),
    /// `retry(make, schedule)`: attempt k runs the k-th program (logged under the id); there
    /// is one program per attempt the schedule can allow.
    Retry(i64, Sched, Vec<Prog>),
    /// `repeat(make, schedule)`, attempts as for `Retry`.
    Repeat(i64, Sched, Vec<Prog>),
    /// `zip_par` of the programs, each under `with_permit` of one semaphore with the given
    /// permits; program k asks for its permit k ms after the start.
    Pool(usize, Vec<Prog>),
    Pipe(Pipe),
    /// `zip_par` of the holders of one `effect::Pool`, made for them in a scope of its own
    /// (closed, releasing every item, when they are done); holder k asks for its item k ms
    /// after the pool is made. The value is the sum.
    ItemPool(PoolSpec, Vec<Checkout>),
    /// `zip_par` of the callers of one `effect::RateLimiter`; caller k asks k ms after the
    /// start. The value is the sum.
    Limited(i64, Limit, Vec<Ask>),
}

impl Prog {
    /// The direct children, in order.
    pub fn children(&self) -> Vec<&Prog> {
        match self {
            Prog::Value(..) | Prog::Fail(..) | Prog::Die(_) | Prog::Panic(_) | Prog::Pipe(_) => {
                vec![]
            }
            Prog::Seq(a, b) | Prog::CatchAll(a, b) => vec![a, b],
            Prog::Timeout(_, p)
            | Prog::Resource(_, _, p)
            | Prog::Ensuring(p, ..)
            | Prog::Uninterruptible(p)
            | Prog::ForkJoin(p)
            | Prog::ForkInterrupt(p, _)
            | Prog::Daemon(p, _) => vec![p],
            Prog::ZipPar(ps)
            | Prog::Race(ps)
            | Prog::RaceFirst(ps)
            | Prog::ForEachPar(ps, _)
            | Prog::Retry(_, _, ps)
            | Prog::Repeat(_, _, ps)
            | Prog::Pool(_, ps) => ps.iter().collect(),
            Prog::ItemPool(_, holders) => holders.iter().map(|h| &h.prog).collect(),
            Prog::Limited(_, _, asks) => asks.iter().map(|a| &a.prog).collect(),
        }
    }

    /// This node with its children replaced (as many as it has).
    pub fn with_children(&self, mut new: Vec<Prog>) -> Prog {
        let mut next = || Box::new(new.remove(0));
        match self {
            Prog::Value(..) | Prog::Fail(..) | Prog::Die(_) | Prog::Panic(_) | Prog::Pipe(_) => {
                self.clone()
            }
            Prog::Seq(..) => Prog::Seq(next(), next()),
            Prog::CatchAll(..) => Prog::CatchAll(next(), next()),
            Prog::Timeout(d, _) => Prog::Timeout(*d, next()),
            Prog::Resource(id, fin, _) => Prog::Resource(*id, *fin, next()),
            Prog::Ensuring(_, id, fin) => Prog::Ensuring(next(), *id, *fin),
            Prog::Uninterruptible(_) => Prog::Uninterruptible(next()),
            Prog::ForkJoin(_) => Prog::ForkJoin(next()),
            Prog::ForkInterrupt(_, d) => Prog::ForkInterrupt(next(), *d),
            Prog::Daemon(_, join) => Prog::Daemon(next(), *join),
            Prog::ZipPar(_) => Prog::ZipPar(new),
            Prog::Race(_) => Prog::Race(new),
            Prog::RaceFirst(_) => Prog::RaceFirst(new),
            Prog::ForEachPar(_, n) => Prog::ForEachPar(new, *n),
            Prog::Retry(id, s, _) => Prog::Retry(*id, *s, new),
            Prog::Repeat(id, s, _) => Prog::Repeat(*id, *s, new),
            Prog::Pool(n, _) => Prog::Pool(*n, new),
            // The same holders (or callers), each with its program replaced.
            Prog::ItemPool(spec, holders) => {
                assert_eq!(holders.len(), new.len(), "one program per holder");
                let holders = holders.iter().zip(new);
                Prog::ItemPool(
                    *spec,
                    holders
                        .map(|(h, prog)| Checkout { prog, ..h.clone() })
                        .collect(),
                )
            }
            Prog::Limited(id, limit, asks) => {
                assert_eq!(asks.len(), new.len(), "one program per caller");
                let asks = asks.iter().zip(new);
                Prog::Limited(
                    *id,
                    *limit,
                    asks.map(|(a, prog)| Ask { prog, ..a.clone() }).collect(),
                )
            }
        }
    }

    /// Every finalizer in the program, by id.
    pub fn finalizers(&self, out: &mut Vec<(i64, Fin)>) {
        match self {
            Prog::Resource(id, fin, _) | Prog::Ensuring(_, id, fin) => out.push((*id, *fin)),
            _ => {}
        }
        for child in self.children() {
            child.finalizers(out);
        }
    }

    /// Whether the program or any part of it is as `is` says.
    pub fn any(&self, is: &dyn Fn(&Prog) -> bool) -> bool {
        is(self) || self.children().into_iter().any(|child| child.any(is))
    }

    /// The depth, and the most children of one node.
    pub fn extent(&self) -> (usize, usize) {
        let children = self.children();
        let width = children.len();
        children
            .into_iter()
            .map(Prog::extent)
            .fold((1, width), |(d, w), (cd, cw)| (d.max(cd + 1), w.max(cw)))
    }
}

impl fmt::Display for Prog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, name: &str, items: &[Prog]| {
            write!(f, "{name}(")?;
            for (i, p) in items.iter().enumerate() {
                if i > 0 {
                    write!(f, ", ")?;
                }
                write!(f, "{p}")?;
            }
            write!(f, ")")
        };
        match self {
            Prog::Value(d, v) => write!(f, "value({d}ms, {v})"),
            Prog::Fail(d, e) => write!(f, "fail({d}ms, {e})"),
            Prog::Die(d) => write!(f, "die({d}ms)"),
            Prog::Panic(d) => write!(f, "panic({d}ms)"),
            Prog::Seq(a, b) => write!(f, "seq({a}, {b})"),
            Prog::ZipPar(ps) => list(f, "zip_par", ps),
            Prog::Race(ps) => list(f, "race", ps),
            Prog::RaceFirst(ps) => list(f, "race_first", ps),
            Prog::Timeout(d, p) => write!(f, "timeout({d}ms, {p})"),
            Prog::CatchAll(p, h) => write!(f, "catch_all({p}, {h})"),
            Prog::Resource(id, Fin::PLAIN, p) => write!(f, "resource({id}, {p})"),
            Prog::Resource(id, fin, p) => write!(f, "resource({id} release {fin}, {p})"),
            Prog::Ensuring(p, id, Fin::PLAIN) => write!(f, "ensuring({p}, {id})"),
            Prog::Ensuring(p, id, fin) => write!(f, "ensuring({p}, {id} {fin})"),
            Prog::Uninterruptible(p) => write!(f, "uninterruptible({p})"),
            Prog::ForkJoin(p) => write!(f, "fork_join({p})"),
            Prog::ForkInterrupt(p, d) => write!(f, "fork_interrupt({p}, {d}ms)"),
            Prog::ForEachPar(ps, n) => list(f, &format!("for_each_par[{n}]"), ps),
            Prog::Daemon(p, true) => write!(f, "daemon_join({p})"),
            Prog::Daemon(p, false) => write!(f, "daemon({p})"),
            Prog::Retry(id, s, ps) => list(f, &format!("retry#{id}[{s}]"), ps),
            Prog::Repeat(id, s, ps) => list(f, &format!("repeat#{id}[{s}]"), ps),
            Prog::Pool(n, ps) => list(f, &format!("pool[{n}]"), ps),
            Prog::Pipe(p) => write!(
                f,
                "pipe#{}(cap {}, {} items, produce {}ms, consume {}ms)",
                p.id, p.capacity, p.items, p.produce, p.consume
            ),
            Prog::ItemPool(spec, holders) => {
                write!(f, "item_pool{spec}(")?;
                for (i, h) in holders.iter().enumerate() {
                    let sep = if i > 0 { ", " } else { "" };
                    write!(f, "{sep}get{}", patience(h.patience))?;
                    let invalidate = match h.invalidate {
                        Invalidate::Never => "",
                        Invalidate::Holding => " invalidate",
                        Invalidate::Returned => " invalidate_after",
                    };
                    write!(f, "{invalidate}({})", h.prog)?;
                }
                write!(f, ")")
            }
            Prog::Limited(id, limit, asks) => {
                write!(f, "limited#{id}[{limit}](")?;
                for (i, a) in asks.iter().enumerate() {
                    let sep = if i > 0 { ", " } else { "" };
                    write!(
                        f,
                        "{sep}take {}{}({})",
                        a.cost,
                        patience(a.patience),
                        a.prog
                    )?;
                }
                write!(f, ")")
            }
        }
    }
}

fn patience(patience: Option<u64>) -> String {
    patience.map_or(String::new(), |p| format!(" within {p}ms"))
}

impl fmt::Display for PoolSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let PoolSpec {
            id,
            min,
            max,
            acquire,
            release,
            fails,
        } = self;
        write!(
            f,
            "#{id}[{min}..={max}, acquire {acquire}ms, release {release}ms"
        )?;
        if *fails != 0 {
            write!(f, ", fails {fails:#b}")?;
        }
        write!(f, "]")
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Bucket {
                capacity,
                refill,
                interval,
            } => write!(
                f,
                "token_bucket({capacity}, {refill} per {}ms)",
                refill * interval
            ),
            Limit::Window { limit, window } => write!(f, "fixed_window({limit} per {window}ms)"),
        }
    }
}
