//! Guide section "Connection Pool Pattern".
//!
//! Look for: ten operations share a pool of three connections; never more than three are in
//! use, each is returned after its query (scoped), and all ten complete in about 0.4 s.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use effect::prelude::*;
use effect::Pool;

#[derive(Clone, Debug, PartialEq)]
struct Connection {
    id: u32,
}

impl Connection {
    async fn query(&self, sql: &str) -> String {
        tokio::time::sleep(ms(100)).await;
        format!("Connection {}: {sql} -> result", self.id)
    }
}

/// What became of the connections: how many were opened and closed, which are lent now, and
/// the most lent at once.
#[derive(Clone, Default)]
struct Ledger {
    opened: Arc<AtomicU32>,
    closed: Arc<AtomicU32>,
    lent: Arc<Mutex<HashSet<u32>>>,
    most_lent: Arc<AtomicUsize>,
}

impl Ledger {
    /// Opens a connection, closed when the pool lets it go: how the pool makes one.
    fn connect(&self) -> Effect<Connection, Never> {
        let (opened, closed) = (self.opened.clone(), self.closed.clone());
        acquire_release(
            sync(move || Connection {
                id: opened.fetch_add(1, Ordering::SeqCst),
            }),
            move |_conn, _exit| {
                sync(move || {
                    closed.fetch_add(1, Ordering::SeqCst);
                })
            },
        )
    }

    /// Runs `sql` on `conn`, checking that nobody else holds it meanwhile.
    async fn query(&self, conn: &Connection, sql: &str) -> String {
        {
            let mut lent = self.lent.lock().unwrap();
            assert!(lent.insert(conn.id), "connection {} lent twice", conn.id);
            self.most_lent.fetch_max(lent.len(), Ordering::SeqCst);
        }
        let result = conn.query(sql).await;
        self.lent.lock().unwrap().remove(&conn.id);
        result
    }
}

fn db_operation(
    pool: &Pool<Connection, Never>,
    ledger: &Ledger,
    query: String,
) -> Effect<String, Never> {
    let ledger = ledger.clone();
    // `pool.get()` is the guide's `with_connection(pool)`: it lends a connection until the
    // `scoped` region ends, so it goes back as soon as this one operation is done.
    scoped(
        pool.get().flat_map(move |conn| {
            from_async(move || async move { ledger.query(&conn, &query).await })
        }),
    )
}

/// The ten operations' results, and how many connections were back in the pool after them.
fn connection_pool_example(ledger: Ledger) -> Effect<(Vec<String>, usize), Never> {
    // The pool lives until this scope ends, then closes its connections.
    scoped(effect_block! {
        // Three connections, all opened now (at least 3, at most 3).
        let opening = ledger.clone();
        let pool = Pool::make(move || opening.connect(), 3..=3)?;
        // Many concurrent operations with limited pool
        let queries: Vec<String> = (0..10).map(|i| format!("SELECT {i}")).collect();
        let operating = pool.clone();
        // Limited by pool size (3), but will complete all operations
        let results = for_each_par(queries, move |q| db_operation(&operating, &ledger, q), 10)?;
        (results, pool.idle())
    })
}

fn main() {
    let ledger = Ledger::default();
    let started = Instant::now();
    let (results, idle) = effect::run_blocking(connection_pool_example(ledger.clone())).unwrap();
    let elapsed = started.elapsed();
    let most_lent = ledger.most_lent.load(Ordering::SeqCst);
    let (opened, closed) = (
        ledger.opened.load(Ordering::SeqCst),
        ledger.closed.load(Ordering::SeqCst),
    );
    println!(
        "Completed {} database operations in {:.1} s",
        results.len(),
        elapsed.as_secs_f64()
    );
    println!("  first: {}", results[0]);
    println!("  at most {most_lent} connections in use; {idle} back in the pool");
    println!("  {opened} connections opened, {closed} closed with the pool");

    assert_eq!(results.len(), 10);
    // Never more than three lent at once, and all three shared.
    assert_eq!(most_lent, 3);
    // Each came back after its query; the pool closed all it opened, and opened no more.
    assert_eq!(idle, 3);
    assert_eq!((opened, closed), (3, 3));
    // Three at a time, ten queries of 0.1 s take four rounds: a pool lending more than three
    // would finish sooner, one lending them one by one would take a second.
    assert!(elapsed >= ms(400), "{elapsed:?}");
    assert!(elapsed < secs(1), "{elapsed:?}");
}
