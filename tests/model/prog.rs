//! The programs: what a random effect program is made of, how one prints, and how one is
//! drawn from a seed.

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
        }
    }
}

/// A seeded xorshift generator: the same seed gives the same programs.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Delays from a wide range, so that two events rarely share a virtual instant.
    pub fn delay(&mut self) -> u64 {
        1 + self.below(5_000)
    }
    /// `true` with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The sizes of programs drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Depth 4, two or three children per list: the bulk of the cases.
    Normal,
    /// Depth 8 to 10, kept to a few dozen nodes.
    Deep,
    /// A list node with 50 to 80 small children.
    Wide,
}

/// Draws programs; ids (resources, finalizers, schedules, pipes) are unique in a program.
pub struct Gen<'a> {
    pub rng: &'a mut Rng,
    ids: i64,
    /// Nodes still allowed (keeps deep programs from growing wide too).
    budget: i64,
    shape: Shape,
}

impl<'a> Gen<'a> {
    /// A program of the given shape. (Wide races run under `EFFECT_PERTURB` too: a wake-up
    /// of one branch polls that branch only, so random yields in fifty branches no longer
    /// keep a `TestClock` from going idle.)
    pub fn program(rng: &'a mut Rng, shape: Shape) -> Prog {
        let mut gen = Gen {
            rng,
            ids: 0,
            budget: if shape == Shape::Deep { 40 } else { i64::MAX },
            shape,
        };
        if shape == Shape::Wide {
            return gen.wide(true);
        }
        match shape {
            Shape::Normal => gen.node(4),
            Shape::Deep => {
                let depth = 8 + gen.rng.below(3) as u32;
                gen.node(depth)
            }
            Shape::Wide => unreachable!("drawn above"),
        }
    }

    fn id(&mut self) -> i64 {
        self.ids += 1;
        self.ids
    }

    fn wide(&mut self, races: bool) -> Prog {
        let children: Vec<Prog> = (0..50 + self.rng.below(31))
            .map(|_| {
                let depth = self.rng.below(3) as u32;
                self.node(depth)
            })
            .collect();
        let kind = match self.rng.below(5) {
            1 | 2 if !races => 0,
            kind => kind,
        };
        let wide = match kind {
            0 => Prog::ZipPar(children),
            1 => Prog::Race(children),
            2 => Prog::RaceFirst(children),
            3 => Prog::ForEachPar(children, 1 + self.rng.below(8) as usize),
            _ => Prog::Pool(1 + self.rng.below(8) as usize, children),
        };
        match self.rng.below(3) {
            0 => {
                let id = self.id();
                Prog::Ensuring(Box::new(wide), id, self.fin())
            }
            1 => Prog::Timeout(self.rng.delay() * 2, Box::new(wide)),
            _ => wide,
        }
    }

    fn leaf(&mut self) -> Prog {
        match self.rng.below(20) {
            0..=8 => Prog::Value(self.rng.delay(), self.rng.below(100) as i64),
            9..=14 => Prog::Fail(self.rng.delay(), self.rng.below(100) as i64),
            15 | 16 => Prog::Die(self.rng.delay()),
            17 | 18 => Prog::Panic(self.rng.delay()),
            _ => self.pipe(),
        }
    }

    fn pipe(&mut self) -> Prog {
        let id = self.id();
        let mut pace = || match self.rng.below(3) {
            0 => 0,
            _ => 1 + self.rng.below(1_500),
        };
        let (produce, consume) = (pace(), pace());
        Prog::Pipe(Pipe {
            id,
            capacity: 1 + self.rng.below(3) as usize,
            items: 1 + self.rng.below(6) as u32,
            produce,
            consume,
        })
    }

    /// Half the finalizers are plain (instant, succeeding); the others sleep, fail, or panic.
    fn fin(&mut self) -> Fin {
        if self.rng.chance(50) {
            return Fin::PLAIN;
        }
        let delay = if self.rng.chance(25) {
            0
        } else {
            1 + self.rng.below(3_000)
        };
        let kind = match self.rng.below(20) {
            0..=9 => FinKind::Ok,
            10..=12 => FinKind::Die,
            13 | 14 => FinKind::OrDie,
            15..=17 => FinKind::Panic,
            _ => {
                return Fin {
                    delay: 0,
                    kind: FinKind::PanicOnBuild,
                }
            }
        };
        Fin { delay, kind }
    }

    fn sched(&mut self) -> Sched {
        let n = |rng: &mut Rng| rng.below(4);
        let d = |rng: &mut Rng| 1 + rng.below(2_000);
        match self.rng.below(7) {
            0 => Sched::Recurs(n(self.rng)),
            1 => Sched::Spaced(d(self.rng), n(self.rng)),
            2 => Sched::Exponential(1 + self.rng.below(500), n(self.rng)),
            3 => Sched::Fibonacci(1 + self.rng.below(800), n(self.rng)),
            4 => Sched::AndThen(self.rng.below(3), d(self.rng), self.rng.below(3)),
            5 => Sched::Either(d(self.rng), n(self.rng), d(self.rng), n(self.rng)),
            _ => Sched::UpTo(d(self.rng), self.rng.below(5_000), 1 + n(self.rng)),
        }
    }

    fn node(&mut self, depth: u32) -> Prog {
        self.budget -= 1;
        let leaf_chance = if self.shape == Shape::Deep { 5 } else { 30 };
        if depth == 0 || self.budget <= 0 || self.rng.chance(leaf_chance) {
            return self.leaf();
        }
        let sub = |g: &mut Self| Box::new(g.node(depth - 1));
        let width = if self.shape == Shape::Deep { 2 } else { 3 };
        let many = |g: &mut Self, extra: u64| -> Vec<Prog> {
            (0..2 + g.rng.below(width - 1 + extra))
                .map(|_| g.node(depth - 1))
                .collect()
        };
        match self.rng.below(100) {
            0..=5 => Prog::Seq(sub(self), sub(self)),
            6..=11 => Prog::ZipPar(many(self, 0)),
            12..=17 => Prog::Race(many(self, 0)),
            18..=22 => Prog::RaceFirst(many(self, 0)),
            23..=29 => Prog::Timeout(self.rng.delay(), sub(self)),
            30..=35 => Prog::CatchAll(sub(self), sub(self)),
            36..=42 => {
                let (id, fin) = (self.id(), self.fin());
                Prog::Resource(id, fin, sub(self))
            }
            43..=53 => {
                let inner = sub(self);
                let id = self.id();
                Prog::Ensuring(inner, id, self.fin())
            }
            54..=58 => Prog::Uninterruptible(sub(self)),
            59..=63 => Prog::ForkJoin(sub(self)),
            64..=68 => {
                let items = many(self, 2);
                Prog::ForEachPar(items, 1 + self.rng.below(3) as usize)
            }
            69..=74 => Prog::ForkInterrupt(sub(self), self.rng.delay()),
            75..=79 => {
                let join = self.rng.chance(50);
                Prog::Daemon(sub(self), join)
            }
            80..=88 => {
                let (id, sched) = (self.id(), self.sched());
                let attempts = (0..=sched.delays().len())
                    .map(|_| self.node(depth.saturating_sub(2)))
                    .collect();
                if self.rng.chance(50) {
                    Prog::Retry(id, sched, attempts)
                } else {
                    Prog::Repeat(id, sched, attempts)
                }
            }
            _ => {
                let permits = 1 + self.rng.below(3) as usize;
                Prog::Pool(permits, many(self, 1))
            }
        }
    }
}
