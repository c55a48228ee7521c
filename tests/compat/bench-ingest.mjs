// The Node client's own ingest throughput against a running `strata serve` (bench/run.sh):
// CONCURRENCY appendToStream calls in flight, one event each, over STREAMS streams, for SECONDS.
// Prints events/s and the client process's CPU use, so it is visible whether the client or the
// server is the bottleneck.
//   node tests/compat/bench-ingest.mjs 127.0.0.1:2113 [seconds] [concurrency]
import { KurrentDBClient, jsonEvent } from "@kurrent/kurrentdb-client";

const [target = "127.0.0.1:2113", secondsArg = "10", concurrencyArg = "512"] = process.argv.slice(2);
const seconds = Number(secondsArg);
const concurrency = Number(concurrencyArg);
const STREAMS = 10000;
const client = KurrentDBClient.connectionString`kurrentdb://${target}?tls=false`;
const prefix = `node-bench-${Date.now()}`;
const payload = { pad: "x".repeat(180) };

await client.appendToStream(`${prefix}-warmup`, jsonEvent({ type: "Warmup", data: {} }));
let done = 0, errors = 0, next = 0;
const latencies = [];
const start = process.hrtime.bigint();
const cpu0 = process.cpuUsage();
const until = start + BigInt(Math.round(seconds * 1e9));
async function worker() {
  while (process.hrtime.bigint() < until) {
    const stream = `${prefix}-${next++ % STREAMS}`;
    const t0 = process.hrtime.bigint();
    try {
      await client.appendToStream(stream, jsonEvent({ type: "BenchEvent", data: payload }));
      done++;
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    } catch {
      errors++;
    }
  }
}
await Promise.all(Array.from({ length: concurrency }, worker));
const secs = Number(process.hrtime.bigint() - start) / 1e9;
const cpu = process.cpuUsage(cpu0);
latencies.sort((a, b) => a - b);
const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
const result = {
  bench: "node-ingest",
  events_per_sec: done / secs,
  events: done,
  errors,
  concurrency,
  p50_ms: q(0.5),
  p99_ms: q(0.99),
  client_cpu_cores: (cpu.user + cpu.system) / 1e6 / secs,
};
console.error(
  `node client: ${Math.round(result.events_per_sec)} events/s (${done} in ${secs.toFixed(1)} s, ` +
  `${concurrency} in flight), p50 ${result.p50_ms.toFixed(2)} ms p99 ${result.p99_ms.toFixed(2)} ms, ` +
  `client CPU ${result.client_cpu_cores.toFixed(2)} cores, errors ${errors}`);
console.log(JSON.stringify(result));
await client.dispose();
