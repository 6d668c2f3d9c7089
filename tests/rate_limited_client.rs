//! The `rate_limited_client` example on a `TestClock`: the keyed rate limit's timings to the
//! virtual millisecond, one resolve per host through the cache (and again once it expires),
//! at most two connections per host, and everything closed however the crawl ends.

#[allow(dead_code)]
#[path = "../examples/rate_limited_client.rs"]
mod example;

use std::sync::atomic::Ordering;
use std::time::Duration;

use effect::prelude::*;
use example::{fetch_all, urls, Client, FetchError, Network, HOSTS};

fn started_ms(pages: &[Result<example::Page, FetchError>]) -> Vec<Option<u128>> {
    pages
        .iter()
        .map(|page| page.as_ref().ok().map(|p| p.started.as_millis()))
        .collect()
}

#[effect::test]
fn each_host_is_limited_on_its_own_and_resolved_once(clock: TestClock) -> Effect<(), String> {
    let network = Network::new(&HOSTS);
    let used = network.clone();
    let crawl = scoped(effect_block! {
        let client = Client::make(used)?;
        fetch_all(client, urls())?
    })
    .map_err(|e| format!("{e:?}"))
    .fork()?;
    clock.advance(secs(3)).await;
    let pages = crawl.join()?;
    // The limit's turns, per host: which of a host's pages takes which turn is up to the
    // scheduler (it differs under random yields), so each host's start times are sorted.
    let started = started_ms(&pages);
    let sorted = |range: std::ops::Range<usize>| {
        let mut times = started[range].to_vec();
        times.sort();
        times
    };
    assert_eq!(sorted(0..6), [120, 120, 500, 1_000, 1_500, 2_000].map(Some));
    assert_eq!(sorted(6..9), [120, 120, 500].map(Some));
    assert_eq!(started[9..], [None, None]);
    for failed in &pages[9..] {
        assert_eq!(
            failed,
            &Err(FetchError::NoSuchHost("nowhere.example".to_string()))
        );
    }
    assert_eq!(
        network.resolves.load(Ordering::SeqCst),
        3,
        "one resolve per host"
    );
    assert_eq!(network.most_open("docs.example"), 2);
    assert_eq!(network.most_open("blog.example"), 2);
    let (opened, closed) = (
        network.opened.load(Ordering::SeqCst),
        network.closed.load(Ordering::SeqCst),
    );
    assert_eq!(
        (opened, closed),
        (4, 4),
        "every connection closed with the client"
    );
}

#[effect::test]
fn addresses_are_kept_a_minute_and_missing_hosts_half_a_minute(
    clock: TestClock,
) -> Effect<(), String> {
    let network = Network::new(&HOSTS);
    let used = network.clone();
    let resolves = network.resolves.clone();
    let crawls = scoped(effect_block! {
        let client = Client::make(used)?;
        let one = |url: &str| fetch_all(client.clone(), vec![url.to_string()]);
        one("docs.example/a")?;
        one("nowhere.example/a")?;
        let after_first = resolves.load(Ordering::SeqCst);
        sleep(secs(29))?;
        one("nowhere.example/b")?; // still remembered as missing
        let at_29 = resolves.load(Ordering::SeqCst);
        sleep(secs(1))?;
        one("nowhere.example/c")?; // forgotten at 30 s: asked again
        let at_30 = resolves.load(Ordering::SeqCst);
        sleep(secs(29))?;
        one("docs.example/b")?; // the address is kept a minute
        let at_59 = resolves.load(Ordering::SeqCst);
        let stats = client.cache_stats();
        (after_first, at_29, at_30, at_59, stats.misses)
    })
    .map_err(|e: FetchError| format!("{e:?}"))
    .fork()?;
    clock.advance(secs(60)).await;
    let (after_first, at_29, at_30, at_59, misses) = crawls.join()?;
    assert_eq!((after_first, at_29, at_30, at_59), (2, 2, 3, 3));
    assert_eq!(misses, 3);
}

#[effect::test(flavor = "multi_thread", worker_threads = 2)]
fn a_crawl_cut_short_closes_every_connection(clock: TestClock) -> Effect<(), String> {
    let network = Network::new(&HOSTS);
    let used = network.clone();
    let crawl = scoped(effect_block! {
        let client = Client::make(used)?;
        // Cut short at 700 ms: the fetches waiting for their turn are interrupted.
        fetch_all(client, urls()).timeout(ms(700))?
    })
    .map_err(|e| format!("{e:?}"))
    .fork()?;
    clock.advance(Duration::from_millis(700)).await;
    assert_eq!(crawl.join()?, None, "timed out");
    let (opened, closed) = (
        network.opened.load(Ordering::SeqCst),
        network.closed.load(Ordering::SeqCst),
    );
    assert_eq!((opened, closed), (4, 4));
}
