//! Guide section "Connection Pool Pattern".
//!
//! Look for: ten operations share a pool of three connections; never more than three are in
//! use, each is returned after its query (scoped), and all ten complete in about 0.4 s.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use effect::prelude::*;
use effect::{Queue, QueueShutdown};

#[derive(Clone, Debug)]
struct Connection {
    id: u32,
}

impl Connection {
    async fn query(&self, sql: &str) -> String {
        tokio::time::sleep(ms(100)).await;
        format!("Connection {}: {sql} -> result", self.id)
    }
}

#[derive(Clone)]
struct ConnectionPool {
    available: Queue<Connection>,
    in_use: Arc<AtomicUsize>,
    most_in_use: Arc<AtomicUsize>,
}

impl ConnectionPool {
    fn new(size: u32) -> Self {
        let available = Queue::bounded(size as usize);
        // Initialize pool
        for id in 0..size {
            available
                .try_offer(Connection { id })
                .expect("the pool has room for its connections");
        }
        ConnectionPool {
            available,
            in_use: Arc::default(),
            most_in_use: Arc::default(),
        }
    }

    fn acquire(&self) -> Effect<Connection, QueueShutdown> {
        let pool = self.clone();
        self.available.take().tap(move |_| {
            let now = pool.in_use.fetch_add(1, Ordering::SeqCst) + 1;
            pool.most_in_use.fetch_max(now, Ordering::SeqCst);
            succeed(())
        })
    }

    fn release(&self, conn: Connection) -> Effect<(), Never> {
        self.in_use.fetch_sub(1, Ordering::SeqCst);
        self.available
            .offer::<QueueShutdown>(conn)
            .as_value(())
            .or_die()
    }
}

fn with_connection(pool: &ConnectionPool) -> Effect<Connection, QueueShutdown> {
    let releasing = pool.clone();
    acquire_release(pool.acquire(), move |conn, _exit| releasing.release(conn))
}

fn db_operation(pool: &ConnectionPool, query: String) -> Effect<String, QueueShutdown> {
    // `scoped` returns the connection as soon as this one operation is done.
    scoped(
        with_connection(pool)
            .flat_map(move |conn| from_async(move || async move { conn.query(&query).await })),
    )
}

fn main() {
    let pool = ConnectionPool::new(3);
    let queries: Vec<String> = (0..10).map(|i| format!("SELECT {i}")).collect();
    // Limited by pool size (3), but will complete all operations
    let operations = for_each_par(
        queries,
        {
            let pool = pool.clone();
            move |q| db_operation(&pool, q)
        },
        10,
    );
    let results = effect::run_blocking(operations).unwrap();
    println!("Completed {} database operations", results.len());
    println!("  first: {}", results[0]);
    println!(
        "  at most {} connections in use; {} back in the pool",
        pool.most_in_use.load(Ordering::SeqCst),
        pool.available.size()
    );
}
