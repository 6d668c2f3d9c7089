//! Shrinking a failing program: smaller variants are tried until none fails any more.

use crate::prog::{Fin, Pipe, Prog, Sched};
use crate::run::{check, Config, Mode};

/// Smaller variants of a program: each child in place of its parent, fewer children, simpler
/// finalizers, schedules and pipes, leaves in place of nodes, and each child shrunk in place.
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
        | Prog::Pool(_, ps)
            if ps.len() > 1 =>
        {
            // Halves first: wide programs shrink in a few steps.
            if ps.len() > 3 {
                let half = ps.len() / 2;
                out.push(prog.with_children(ps[..half].to_vec()));
                out.push(prog.with_children(ps[half..].to_vec()));
            }
            for i in 0..ps.len() {
                let mut fewer = ps.clone();
                fewer.remove(i);
                out.push(prog.with_children(fewer));
            }
        }
        _ => {}
    }
    for i in 0..children.len() {
        for smaller in shrink(&children[i]) {
            let mut changed = children.clone();
            changed[i] = smaller;
            out.push(prog.with_children(changed));
        }
    }
    out
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
