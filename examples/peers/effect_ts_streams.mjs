// The bench's stream workloads (`integrations/examples/bench.rs`: stream_map_filter, stream_map_par_8,
// stream_grouped_within, stream_nested_concat, stream_group_by_key) on Effect-TS's `Stream`, for side-by-side figures.
// Usage: ./run-effect-ts-streams [scale]   (scale 1 = full size)
import { Effect, Stream } from "effect"

const scale = Number(process.argv[2] ?? 1)
const N = (n) => Math.max(1, Math.floor(n * scale))

async function time(name, n, eff) {
  const t0 = process.hrtime.bigint()
  const out = await Effect.runPromise(eff)
  const ns = Number(process.hrtime.bigint() - t0)
  console.log(JSON.stringify({ runtime: "effect-ts", workload: name, n, total_ms: ns / 1e6, ns_per_op: ns / n }))
  return out
}

// 1M values through map + filter + fold.
const n1 = N(1_000_000)
await time("stream_map_filter", n1, Stream.range(0, n1 - 1).pipe(
  Stream.map((i) => i * 3),
  Stream.filter((i) => i % 2 === 0),
  Stream.runFold(() => 0, (total, i) => total + i),
))

// 1M values through an effectful step that yields, 8 at a time, in order.
const n2 = N(1_000_000)
await time("stream_map_par_8", n2, Stream.range(0, n2 - 1).pipe(
  Stream.mapEffect((i) => Effect.yieldNow.pipe(Effect.as(i)), { concurrency: 8 }),
  Stream.runFold(() => 0, (total, i) => total + i),
))

// 1M values in groups of up to 100 or 1 s, whichever first.
const n3 = N(1_000_000)
await time("stream_grouped_within", n3, Stream.range(0, n3 - 1).pipe(
  Stream.groupedWithin(100, "1 second"),
  Stream.runFold(() => 0, (groups, _chunk) => groups + 1),
))

// 1M values through 10,000 left-nested concats of 100 values each.
const n4 = N(1_000_000)
const concats = 10_000
const per = Math.max(1, Math.floor(n4 / concats))
let nested = Stream.empty
for (let k = 0; k < concats; k++) nested = Stream.concat(nested, Stream.range(k * per, (k + 1) * per - 1))
await time("stream_nested_concat", n4, Stream.runFold(nested, () => 0, (total, i) => total + i))

// 1M values, 16 keys, a fold (sum) per key, every group at once.
const n5 = N(1_000_000)
await time("stream_group_by_key", n5, Stream.range(0, n5 - 1).pipe(
  Stream.groupByKey((i) => i % 16),
  Stream.mapEffect(([_key, group]) => Stream.runFold(group, () => 0, (total, i) => total + i), { concurrency: "unbounded" }),
  Stream.runFold(() => 0, (total, sum) => total + sum),
))
