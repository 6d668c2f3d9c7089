//! Shrinking a failing program: smaller variants are tried until none fails any more.

use crate::prog::{Ask, Checkout, Fin, Invalidate, Limit, Pipe, PoolSpec, Prog, Sched};
use crate::run::{check, Config, Mode};

/// Smaller variants of a program: each child in place of its parent, fewer children (holders,
/// callers), simpler finalizers, schedules, pipes, pools and limits, leaves in place of
/// nodes, and each child shrunk in place.
pub fn shrink(prog: &Prog) -> Vec<Prog> {
    let children: Vec<Prog> = prog.children().into_iter().cloned().collect();
    let mut out: Vec<Prog> = children.clone();
    match prog {
        Prog::Value(..) => {}
        Prog::Fail(d, _) | Prog::Die(d) | Prog::Panic(d) => out.push(Prog::Value(*d, 0)),
        Prog::Pipe(pipe) => out.extend(simpler_pipes(pipe).into_iter().map(Prog::Pipe)),
        Prog::Resource(id, fin, p) => out.extend(
            simpler_fins(fin)
                .into_iter()
                .map(|fin| Prog::Resource(*id, fin, p.clone())),
        ),
        Prog::Ensuring(p, id, fin) => out.extend(
            simpler_fins(fin)
                .into_iter()
                .map(|fin| Prog::Ensuring(p.clone(), *id, fin)),
        ),
        Prog::Retry(id, sched, attempts) | Prog::Repeat(id, sched, attempts) => {
            let repeat = matches!(prog, Prog::Repeat(..));
            for smaller in simpler_scheds(sched) {
                let count = smaller.delays().len() + 1;
                if count <= attempts.len() {
                    let kept = attempts[..count].to_vec();
                    out.push(if repeat {
                        Prog::Repeat(*id, smaller, kept)
                    } else {
                        Prog::Retry(*id, smaller, kept)
                    });
                }
            }
        }
        Prog::ZipPar(ps)
        | Prog::Race(ps)
        | Prog::RaceFirst(ps)
        | Prog::ForEachPar(ps, _)
        | Prog::Pool(_, ps) => out.extend(fewer(ps).map(|fewer| prog.with_children(fewer))),
        Prog::ItemPool(spec, holders) => {
            let variants = fewer(holders).chain(one_simpler(holders, simpler_checkout));
            out.extend(variants.map(|hs| Prog::ItemPool(*spec, hs)));
            out.extend(simpler_pools(spec).map(|s| Prog::ItemPool(s, holders.clone())));
        }
        Prog::Limited(id, limit, asks) => {
            let variants = fewer(asks).chain(one_simpler(asks, simpler_ask));
            out.extend(variants.map(|asks| Prog::Limited(*id, *limit, asks)));
            out.extend(simpler_limits(limit).map(|l| Prog::Limited(*id, l, asks.clone())));
        }
        _ => {}
    }
    out.extend(one_simpler(&children, shrink).map(|changed| prog.with_children(changed)));
    out
}

/// The list with its first or second half left out (if long: wide programs shrink in a few
/// steps), then with each member left out in turn.
fn fewer<T: Clone>(members: &[T]) -> impl Iterator<Item = Vec<T>> + '_ {
    let n = members.len();
    let halves = (n > 3).then(|| [members[..n / 2].to_vec(), members[n / 2..].to_vec()]);
    let one_out = (0..n).filter(move |_| n > 1).map(move |i| {
        let mut fewer = members.to_vec();
        fewer.remove(i);
        fewer
    });
    halves.into_iter().flatten().chain(one_out)
}

/// The list with one member replaced by one of its simpler variants, each way.
fn one_simpler<T: Clone>(
    members: &[T],
    simpler: fn(&T) -> Vec<T>,
) -> impl Iterator<Item = Vec<T>> + '_ {
    members.iter().enumerate().flat_map(move |(i, member)| {
        simpler(member).into_iter().map(move |simpler| {
            let mut changed = members.to_vec();
            changed[i] = simpler;
            changed
        })
    })
}

fn simpler_checkout(h: &Checkout) -> Vec<Checkout> {
    let mut out = Vec::new();
    if h.patience.is_some() {
        out.push(Checkout {
            patience: None,
            ..h.clone()
        });
    }
    if h.invalidate != Invalidate::Never {
        out.push(Checkout {
            invalidate: Invalidate::Never,
            ..h.clone()
        });
    }
    out
}

fn simpler_ask(a: &Ask) -> Vec<Ask> {
    let mut out = Vec::new();
    if a.patience.is_some() {
        out.push(Ask {
            patience: None,
            ..a.clone()
        });
    }
    if a.cost != 1 {
        out.push(Ask {
            cost: 1,
            ..a.clone()
        });
    }
    out
}

fn simpler_pools(spec: &PoolSpec) -> impl Iterator<Item = PoolSpec> {
    let spec = *spec;
    let smaller = (spec.max - 1).max(1);
    let candidates = [
        PoolSpec { fails: 0, ..spec },
        PoolSpec { acquire: 0, ..spec },
        PoolSpec { release: 0, ..spec },
        PoolSpec { min: 0, ..spec },
        PoolSpec {
            max: smaller,
            min: spec.min.min(smaller),
            ..spec
        },
    ];
    candidates.into_iter().filter(move |c| *c != spec)
}

fn simpler_limits(limit: &Limit) -> impl Iterator<Item = Limit> {
    let limit = *limit;
    let candidates = match limit {
        Limit::Bucket {
            capacity,
            refill,
            interval,
        } => vec![
            Limit::Bucket {
                capacity,
                refill: 1,
                interval,
            },
            Limit::Bucket {
                capacity: 1,
                refill,
                interval,
            },
        ],
        Limit::Window { window, .. } => vec![Limit::Window { limit: 1, window }],
    };
    candidates.into_iter().filter(move |c| *c != limit)
}

fn simpler_fins(fin: &Fin) -> Vec<Fin> {
    let candidates = [
        Fin::PLAIN,
        Fin {
            delay: 0,
            kind: fin.kind,
        },
        Fin {
            delay: fin.delay,
            kind: crate::prog::FinKind::Ok,
        },
    ];
    let mut out: Vec<Fin> = Vec::new();
    for c in candidates {
        if c != *fin && !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

fn simpler_pipes(pipe: &Pipe) -> Vec<Pipe> {
    let mut out = Vec::new();
    if pipe.items > 1 {
        out.push(Pipe {
            items: pipe.items - 1,
            ..*pipe
        });
    }
    if pipe.produce > 0 {
        out.push(Pipe {
            produce: 0,
            ..*pipe
        });
    }
    if pipe.consume > 0 {
        out.push(Pipe {
            consume: 0,
            ..*pipe
        });
    }
    out
}

fn simpler_scheds(sched: &Sched) -> Vec<Sched> {
    let fewer = |n: u64| n.saturating_sub(1);
    let mut out = vec![Sched::Recurs(0)];
    match *sched {
        Sched::Recurs(n) => out.push(Sched::Recurs(fewer(n))),
        Sched::Spaced(d, n) => out.extend([Sched::Spaced(d, fewer(n)), Sched::Recurs(n)]),
        Sched::Exponential(b, n) => {
            out.extend([Sched::Exponential(b, fewer(n)), Sched::Spaced(b, n)])
        }
        Sched::Fibonacci(b, n) => out.extend([Sched::Fibonacci(b, fewer(n)), Sched::Spaced(b, n)]),
        Sched::AndThen(a, d, n) => out.extend([
            Sched::AndThen(fewer(a), d, n),
            Sched::AndThen(a, d, fewer(n)),
            Sched::Spaced(d, n),
        ]),
        Sched::Either(d1, n1, d2, n2) => out.extend([Sched::Spaced(d1, n1), Sched::Spaced(d2, n2)]),
        Sched::UpTo(d, _, _) => out.push(Sched::Spaced(d, sched.delays().len() as u64)),
    }
    out.retain(|s| s != sched);
    out
}

/// Shrinks `prog` while it still fails in `mode`; the smallest failing program and why.
pub fn minimize(mut prog: Prog, mode: Mode, config: &Config) -> (Prog, String) {
    let mut why = check(&prog, mode, config).err().unwrap_or_default();
    'outer: loop {
        for smaller in shrink(&prog) {
            if let Err(reason) = check(&smaller, mode, config) {
                prog = smaller;
                why = reason;
                continue 'outer;
            }
        }
        return (prog, why);
    }
}
