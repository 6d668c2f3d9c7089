//! A polite client: fetches pages from several hosts at once, with the three building blocks
//! such a client needs, together:
//! - **a keyed rate limit**: at most 2 requests at once, then one every 500 ms, per host
//!   ([`KeyedRateLimiter`]); one busy host never slows another down;
//! - **a cache in front of a slow lookup**: resolving a host's address takes 100 ms; a
//!   [`Cache`] keeps it for a minute, and the concurrent fetches of one host resolve it
//!   once (a host that does not exist is remembered for 30 s, not asked again at once);
//! - **a pool of connections per host** ([`KeyedPool`]): at most 2 connections to each host,
//!   opened when needed (after resolving its address through the cache), reused, and closed
//!   when the client's scope closes.
//!
//! The network is simulated (sleeps on the context's clock), so the same code runs on the
//! live clock here and on a `TestClock` in `tests/rate_limited_client.rs`, which checks the
//! timings to the virtual millisecond.
//!
//! Run: `cargo run --example rate_limited_client`
//!
//! Look for: docs.example's six pages start at 0.12, 0.12, 0.5, 1.0, 1.5 and 2.0 s, in
//! whichever order the scheduler starts them (the limit), blog.example's three alongside
//! them (its own limit); three resolves for eleven
//! pages; at most two connections per host; nowhere.example fails fast with one resolve.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use effect::prelude::*;
use effect::{Cache, KeyedPool, KeyedRateLimiter};

/// Why a fetch failed.
#[derive(Clone, Debug, PartialEq)]
pub enum FetchError {
    NoSuchHost(String),
}

/// Where a host lives.
#[derive(Clone, Debug, PartialEq)]
pub struct Address(pub String);

/// An open connection to a host.
#[derive(Clone, Debug, PartialEq)]
pub struct Connection {
    pub host: String,
    pub number: u32,
}

/// A page fetched, and when its request started (since the client was made).
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    pub url: String,
    pub body: String,
    pub started: Duration,
}

/// The simulated network, counting what it is asked to do.
#[derive(Clone)]
pub struct Network {
    hosts: Arc<HashMap<String, Address>>,
    pub resolves: Arc<AtomicU32>,
    pub opened: Arc<AtomicU32>,
    pub closed: Arc<AtomicU32>,
    /// Connections open per host now, and the most at once.
    open: Arc<Mutex<HashMap<String, (u32, u32)>>>,
}

impl Network {
    pub fn new(hosts: &[(&str, &str)]) -> Network {
        let hosts = hosts
            .iter()
            .map(|(host, address)| (host.to_string(), Address(address.to_string())))
            .collect();
        Network {
            hosts: Arc::new(hosts),
            resolves: Arc::default(),
            opened: Arc::default(),
            closed: Arc::default(),
            open: Arc::default(),
        }
    }

    /// Resolving a host's address: 100 ms, and a failure for a host that does not exist.
    pub fn resolve(&self, host: &str) -> Effect<Address, FetchError> {
        self.resolves.fetch_add(1, Ordering::SeqCst);
        let found = self.hosts.get(host).cloned();
        let host = host.to_string();
        sleep(ms(100)).flat_map(move |()| match found {
            Some(address) => succeed(address),
            None => fail(FetchError::NoSuchHost(host)),
        })
    }

    /// Opening a connection to an address: 20 ms; closed when the scope it was opened in
    /// closes (the pool's, for pooled connections).
    pub fn connect(&self, host: &str, _address: Address) -> Effect<Connection, FetchError> {
        let (opening, closing) = (self.clone(), self.clone());
        let host = host.to_string();
        let open = sleep(ms(20)).flat_map(move |()| {
            sync(move || {
                let number = opening.opened.fetch_add(1, Ordering::SeqCst);
                let mut open = opening.open.lock().unwrap();
                let (now, most) = open.entry(host.clone()).or_default();
                *now += 1;
                *most = (*most).max(*now);
                Connection { host, number }
            })
        });
        acquire_release(open, move |connection: Connection, _| {
            sync(move || {
                closing.closed.fetch_add(1, Ordering::SeqCst);
                closing
                    .open
                    .lock()
                    .unwrap()
                    .get_mut(&connection.host)
                    .unwrap()
                    .0 -= 1;
            })
        })
    }

    /// A request on a connection: 50 ms.
    pub fn request(&self, connection: &Connection, path: &str) -> Effect<String, FetchError> {
        let body = format!(
            "{}{path} (connection {})",
            connection.host, connection.number
        );
        sleep(ms(50)).as_value(body)
    }

    /// The most connections that were open at once to `host`.
    pub fn most_open(&self, host: &str) -> u32 {
        self.open
            .lock()
            .unwrap()
            .get(host)
            .map_or(0, |(_, most)| *most)
    }
}

/// The client: its limits, its address cache and its connections, living until the scope
/// it was made in closes.
#[derive(Clone)]
pub struct Client {
    network: Network,
    limits: KeyedRateLimiter<String>,
    addresses: Cache<String, Address, FetchError>,
    connections: KeyedPool<String, Connection, FetchError>,
    made: Instant,
}

impl Client {
    /// A client of `network`, made in the scope of the context.
    pub fn make(network: Network) -> Effect<Client, FetchError> {
        let resolver = network.clone();
        let addresses = Cache::builder(1_000, move |host: &String| resolver.resolve(host))
            .time_to_live(secs(60))
            .failure_time_to_live(secs(30))
            .make();
        effect_block! {
            let addresses = addresses?;
            let (cache, connector) = (addresses.clone(), network.clone());
            // A host's connections are opened to the address the cache gives.
            let connections = KeyedPool::make(
                move |host: &String| {
                    let (host, connector) = (host.clone(), connector.clone());
                    cache.get(host.clone()).flat_map(move |address| connector.connect(&host, address))
                },
                2,
            )?;
            Client {
                network,
                limits: KeyedRateLimiter::token_bucket(2, 1, ms(500)),
                addresses,
                connections,
                made: instant::<FetchError>()?,
            }
        }
    }

    /// How many addresses the cache resolved and served.
    pub fn cache_stats(&self) -> effect::CacheStats {
        self.addresses.stats()
    }
}

/// Fetches `url` (`host/path`): waits for the host's turn, checks a connection out of the
/// host's pool (opening one if it has fewer than two, resolving the host through the cache
/// first), and makes the request. The connection goes back to the pool when this ends.
#[effect]
pub fn fetch(client: Client, url: String) -> Effect<Page, FetchError> {
    let (host, path) = match url.split_once('/') {
        Some((host, path)) => (host.to_string(), format!("/{path}")),
        None => (url.clone(), "/".to_string()),
    };
    client.limits.acquire(host.clone(), 1)?;
    let connection = client.connections.get(host)?;
    let started = instant::<FetchError>()? - client.made;
    let body = client.network.request(&connection, &path)?;
    Page { url, body, started }
}

/// Fetches every url at once, each in a scope of its own (so its connection goes back as
/// soon as it is done): each url's page or error, in order.
pub fn fetch_all(
    client: Client,
    urls: Vec<String>,
) -> Effect<Vec<Result<Page, FetchError>>, Never> {
    let fetches: Vec<_> = urls
        .into_iter()
        .map(|url| scoped(fetch(client.clone(), url)).result::<Never>())
        .collect();
    zip_par(fetches)
}

/// The pages the example fetches.
pub fn urls() -> Vec<String> {
    let docs = (1..=6).map(|n| format!("docs.example/page/{n}"));
    let blog = (1..=3).map(|n| format!("blog.example/post/{n}"));
    let nowhere = (1..=2).map(|n| format!("nowhere.example/{n}"));
    docs.chain(blog).chain(nowhere).collect()
}

/// The hosts that exist.
pub const HOSTS: [(&str, &str); 2] = [("docs.example", "10.0.0.1"), ("blog.example", "10.0.0.2")];

#[effect::main]
fn main() -> Effect<(), FetchError> {
    let network = Network::new(&HOSTS);
    let used = network.clone();
    let (pages, stats) = scoped(effect_block! {
        let client = Client::make(used)?;
        let pages = fetch_all(client.clone(), urls())?;
        (pages, client.cache_stats())
    })?;
    for page in &pages {
        match page {
            Ok(page) => println!("{:>5.2} s  {}", page.started.as_secs_f64(), page.body),
            Err(error) => println!("  failed  {error:?}"),
        }
    }
    let resolves = network.resolves.load(Ordering::SeqCst);
    println!(
        "{} pages, {} failed; {resolves} resolves (cache: {} hits, {} misses); connections: \
         {} opened, {} closed, at most {} to docs.example and {} to blog.example at once",
        pages.len(),
        pages.iter().filter(|p| p.is_err()).count(),
        stats.hits,
        stats.misses,
        network.opened.load(Ordering::SeqCst),
        network.closed.load(Ordering::SeqCst),
        network.most_open("docs.example"),
        network.most_open("blog.example"),
    );
    assert_eq!(resolves, 3, "one resolve per host, however many pages");
    assert!(network.most_open("docs.example") <= 2 && network.most_open("blog.example") <= 2);
    assert_eq!(
        network.opened.load(Ordering::SeqCst),
        network.closed.load(Ordering::SeqCst)
    );
    // Which page gets which turn is the scheduler's (the fetches start together, on two
    // worker threads); the turns themselves are the limit's: two at once, then one every
    // 500 ms.
    let mut docs: Vec<Duration> = pages[..6]
        .iter()
        .map(|page| {
            page.as_ref()
                .expect("docs.example's pages are fetched")
                .started
        })
        .collect();
    docs.sort();
    for (turn, earliest) in [0, 0, 500, 1_000, 1_500, 2_000].into_iter().enumerate() {
        assert!(
            docs[turn] >= ms(earliest),
            "turn {turn} came early: {docs:?}"
        );
    }
}
