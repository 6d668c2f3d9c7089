//! Drawing programs from a seed: the generator, the shapes, and how often each form appears.

use crate::prog::{Ask, Checkout, Fin, FinKind, Invalidate, Limit, Pipe, PoolSpec, Prog, Sched};

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
        let mut generator = Gen {
            rng,
            ids: 0,
            budget: if shape == Shape::Deep { 40 } else { i64::MAX },
            shape,
        };
        if shape == Shape::Wide {
            return generator.wide(true);
        }
        match shape {
            Shape::Normal => generator.node(4),
            Shape::Deep => {
                let depth = 8 + generator.rng.below(3) as u32;
                generator.node(depth)
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
        let kind = match self.rng.below(7) {
            1 | 2 if !races => 0,
            kind => kind,
        };
        let wide = match kind {
            0 => Prog::ZipPar(children),
            1 => Prog::Race(children),
            2 => Prog::RaceFirst(children),
            3 => Prog::ForEachPar(children, 1 + self.rng.below(8) as usize),
            4 => Prog::Pool(1 + self.rng.below(8) as usize, children),
            5 => self.item_pool(children),
            _ => self.limited(children),
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
            80..=86 => {
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
            87..=91 => {
                let permits = 1 + self.rng.below(3) as usize;
                Prog::Pool(permits, many(self, 1))
            }
            92..=95 => {
                let holders = many(self, 2);
                self.item_pool(holders)
            }
            _ => {
                let callers = many(self, 2);
                self.limited(callers)
            }
        }
    }

    /// Some holders give up waiting, some invalidate their item (while they hold it, or once
    /// they gave it back); the pool is small (so that holders wait), acquisitions and
    /// releases take time or none, and a few fail.
    fn item_pool(&mut self, progs: Vec<Prog>) -> Prog {
        let max = 1 + self.rng.below(3) as usize;
        let min = if self.rng.chance(50) {
            0
        } else {
            self.rng.below(max as u64 + 1) as usize
        };
        let pause = |rng: &mut Rng, none: u64| {
            if rng.chance(none) {
                0
            } else {
                1 + rng.below(800)
            }
        };
        let spec = PoolSpec {
            id: self.id(),
            min,
            max,
            acquire: pause(self.rng, 40),
            release: pause(self.rng, 50),
            fails: if self.rng.chance(75) {
                0
            } else {
                self.rng.below(256) as u8
            },
        };
        let holders = progs
            .into_iter()
            .map(|prog| Checkout {
                patience: self.patience(),
                invalidate: match self.rng.below(100) {
                    0..=14 => Invalidate::Holding,
                    15..=29 => Invalidate::Returned,
                    _ => Invalidate::Never,
                },
                prog,
            })
            .collect();
        Prog::ItemPool(spec, holders)
    }

    /// A token bucket or fixed windows of at most 3; costs mostly within the limit, a few of
    /// zero, and a few beyond it (which die); some callers give up waiting.
    fn limited(&mut self, progs: Vec<Prog>) -> Prog {
        let id = self.id();
        let limit = if self.rng.chance(50) {
            Limit::Bucket {
                capacity: 1 + self.rng.below(3),
                refill: 1 + self.rng.below(3),
                interval: 1 + self.rng.below(1_500),
            }
        } else {
            Limit::Window {
                limit: 1 + self.rng.below(3),
                window: 1 + self.rng.below(3_000),
            }
        };
        let asks = progs
            .into_iter()
            .map(|prog| Ask {
                cost: match self.rng.below(100) {
                    0..=4 => 0,
                    5..=7 => limit.capacity() + 1,
                    _ => 1 + self.rng.below(limit.capacity()),
                },
                patience: self.patience(),
                prog,
            })
            .collect();
        Prog::Limited(id, limit, asks)
    }

    fn patience(&mut self) -> Option<u64> {
        self.rng.chance(35).then(|| 1 + self.rng.below(3_000))
    }
}
