//! Streams: four pipelines a service writes on its second day.
//!
//! 1. Bounded-parallel processing of a queue: jobs arrive on a `Queue`, at most 4 are
//!    handled at once, results come out in arrival order.
//! 2. Batching by size or time into a sink: events are written in batches of up to 10, or
//!    whatever arrived within 50 ms, whichever comes first.
//! 3. Merging two sources with a timeout: two feeds interleaved; the merged stream ends when
//!    neither has produced anything for 100 ms, and both feeds are stopped.
//! 4. A stream over a resource released early: the lines of a file, of which only the first
//!    three are needed; the file is closed as soon as the run ends.
//!
//! `cargo run --example streams`. Look for: jobs in order despite uneven durations; batches
//! closed by size (10) and then by time (the trickle at the end); the merged feeds ending
//! by the timeout; the file closed right after its three lines were read.

use std::io::{BufRead, BufReader, Write};
use std::time::Instant;

use effect::prelude::*;
use effect::stream::Stream;
use effect::{Queue, QueueShutdown};

// ---- 1. bounded-parallel processing of a queue ----

#[effect]
fn handle_job(job: u64) -> Effect<String, String> {
    // Uneven work: job 3 takes longest, yet its result keeps its place.
    sleep(ms(if job == 3 { 60 } else { 10 }))?;
    format!("job {job} done")
}

#[effect]
fn process_queue() -> Effect<(), String> {
    let jobs: Queue<u64> = Queue::bounded(16);
    let producer = jobs.clone();
    let produce: Effect<(), String> = effect_block! {
        for job in 1..=8 {
            producer.offer::<QueueShutdown>(job).map_err(|e| e.to_string())?;
        }
        // No more jobs: the stream ends once the queue is drained.
        producer.shutdown();
    };
    let consume = Stream::from_queue(jobs)
        .map_par(4, handle_job)
        .run_for_each(|result| sync(move || println!("  {result}")));
    par!(produce, consume)?;
}

// ---- 2. batching by size or time into a sink ----

#[effect]
fn write_batch(batch: Vec<u32>) -> Effect<(), String> {
    sleep(ms(5))?; // one round trip per batch, not per event
    println!("  wrote {} events: {:?}", batch.len(), batch);
}

#[effect]
fn batch_events() -> Effect<(), String> {
    // A burst of 25 events, then a trickle of 3 every 30 ms.
    let burst = Stream::from_iter(1..=25);
    let trickle = Stream::from_iter(26..=28).map_effect(|n| sleep(ms(30)).as_value(n));
    burst
        .concat(trickle)
        .grouped_within(10, ms(50))
        .run_for_each(write_batch)?;
}

// ---- 3. merging two sources with a timeout ----

fn feed(name: &'static str, every: u64, count: u32) -> Stream<String, String> {
    Stream::unfold_effect(1u32, move |n| {
        if n > count {
            // The feed goes quiet (a socket kept open, nothing on it).
            never()
        } else {
            sleep(ms(every)).as_value(Some((format!("{name} #{n}"), n + 1)))
        }
    })
}

#[effect]
fn merge_feeds() -> Effect<(), String> {
    let prices = feed("price", 15, 4);
    let trades = feed("trade", 25, 3);
    let seen = prices.merge(trades).timeout(ms(100)).run_collect()?;
    println!("  {} updates, then 100 ms of silence: {seen:?}", seen.len());
}

// ---- 4. a stream over a resource, released early ----

fn lines_of(path: std::path::PathBuf) -> Stream<String, String> {
    let name = path.display().to_string();
    Stream::acquire_release(
        attempt(move || {
            let file = std::fs::File::open(&path).map_err(|e| format!("{name}: {e}"))?;
            println!("  opened {name}");
            Ok((
                name,
                std::sync::Arc::new(std::sync::Mutex::new(BufReader::new(file))),
            ))
        }),
        |(name, _), _| sync(move || println!("  closed {name}")),
    )
    .flat_map(|(_, reader)| {
        Stream::unfold(reader, |reader| {
            let mut line = String::new();
            let read = reader.lock().unwrap().read_line(&mut line).ok()?;
            (read > 0).then(|| (line.trim_end().to_string(), reader.clone()))
        })
    })
}

#[effect]
fn first_lines(path: std::path::PathBuf) -> Effect<(), String> {
    let head = lines_of(path).take(3).run_collect()?;
    println!("  the first 3 of 1000 lines: {head:?}");
}

fn main() {
    let started = Instant::now();
    println!("1. a queue, 4 jobs at a time, results in order:");
    effect::run_blocking(process_queue()).unwrap();
    println!("2. events in batches of 10 or 50 ms:");
    effect::run_blocking(batch_events()).unwrap();
    println!("3. two feeds merged, until 100 ms without news:");
    effect::run_blocking(merge_feeds()).unwrap();
    println!("4. a file, of which only 3 lines are read:");
    let path = std::env::temp_dir().join(format!("notes-{}.txt", std::process::id()));
    let mut file = std::fs::File::create(&path).unwrap();
    for n in 1..=1000 {
        writeln!(file, "line {n}").unwrap();
    }
    drop(file);
    let read = effect::run_blocking(first_lines(path.clone()));
    std::fs::remove_file(&path).unwrap();
    read.unwrap();
    println!("all four in {:.2} s", started.elapsed().as_secs_f64());
}
