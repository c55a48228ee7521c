// Compatibility suite: `strata serve` driven by the official KurrentDB / EventStoreDB Node clients,
// unchanged. Each client runs the same scenarios against its own fresh server.
//   STRATA_BIN=build/release/src/cli/strata node --test tests/compat/
import { test as nodeTest, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";

// Every test fails after 60 s instead of hanging (a lost subscription event would wait forever).
const test = (name, fn) => nodeTest(name, { timeout: 60_000 }, fn);

const STRATA = process.env.STRATA_BIN ?? "build/release/src/cli/strata";

async function startServer() {
  const data = mkdtempSync(join(tmpdir(), "strata-compat-"));
  const proc = spawn(STRATA, ["serve", "--data", data, "--grpc-port", "0", "--http-port", "0"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const [port, httpPort] = await new Promise((resolve, reject) => {
    let out = "";
    proc.stdout.on("data", (chunk) => {
      out += chunk;
      const m = out.match(/on 127\.0\.0\.1:(\d+)/);
      const h = out.match(/health: http:\/\/127\.0\.0\.1:(\d+)/);
      if (m && h) resolve([Number(m[1]), Number(h[1])]);
    });
    proc.on("exit", (code) => reject(new Error(`strata serve exited with ${code}: ${out}`)));
    setTimeout(() => reject(new Error("strata serve did not start in 20 s")), 20000);
  });
  const stop = async () => {
    const exited = new Promise((resolve) => proc.on("exit", (code, sig) => resolve({ code, sig })));
    proc.kill("SIGTERM");
    const r = await exited;
    rmSync(data, { recursive: true, force: true });
    rmSync(data + "-cold", { recursive: true, force: true }); // serve's default cold tier
    return r;
  };
  return { port, httpPort, stop };
}

const clients = [
  {
    name: "@kurrent/kurrentdb-client",
    load: async () => {
      const m = await import("@kurrent/kurrentdb-client");
      return { m, connect: (port) => m.KurrentDBClient.connectionString(`kurrentdb://127.0.0.1:${port}?tls=false`), state: "streamState" };
    },
  },
  {
    name: "@eventstore/db-client",
    load: async () => {
      const m = await import("@eventstore/db-client");
      return {
        m,
        connect: (port) => m.EventStoreDBClient.connectionString(`esdb://127.0.0.1:${port}?tls=false`),
        state: "expectedRevision",
        // Observed on the wire: 6.2.1 sends `no_filter` on readAll whatever filter it is given.
        noReadAllFilter: "@eventstore/db-client 6.2.1 sends no_filter on readAll (filters only reach the server on subscribeToAll)",
      };
    },
  },
];

async function collectOnce(iterable) {
  const out = [];
  for await (const e of iterable) out.push(e);
  return out;
}

// KNOWN ISSUE (open, see the session note): about one full run in five, a read through
// @kurrent/kurrentdb-client 1.3.1's native bridge (its own HTTP/2 connection) fails at once with
// UnavailableError; it has not reproduced in isolation. Until it is understood, a read that fails
// with exactly that error is retried once, visibly; anything else, or a second failure, fails.
async function retryUnavailable(what, fn) {
  try {
    return await fn();
  } catch (err) {
    if (err?.constructor?.name !== "UnavailableError") throw err;
    console.error(`# RETRY ${what}: UnavailableError from the client (${err.message}); retrying once`);
    return await fn();
  }
}

const collect = (makeIterable) =>
  typeof makeIterable === "function"
    ? retryUnavailable("read", () => collectOnce(makeIterable()))
    : collectOnce(makeIterable);

for (const c of clients) {
  describe(`strata serve with ${c.name}`, () => {
    let server, client, m, state, noReadAllFilter;
    const s = () => `${c.name.replace(/[@/]/g, "")}-${randomUUID().slice(0, 8)}`;
    const ev = (type = "Happened", data = { n: 1 }, id) =>
      m.jsonEvent(id ? { type, data, id } : { type, data });
    const expect = (v) => ({ [state]: v });

    before(async () => {
      server = await startServer();
      ({ m, state, noReadAllFilter } = await c.load());
      client = (await c.load()).connect(server.port);
    });
    after(async () => {
      await client.dispose();
      const r = await server.stop();
      assert.equal(r.code, 0, "SIGTERM stops the server cleanly");
    });

    test("appends with every expected-revision mode; a wrong one raises WrongExpectedVersionError", async () => {
      const stream = s();
      const r0 = await client.appendToStream(stream, ev(), expect(m.NO_STREAM));
      assert.equal(r0.nextExpectedRevision, 0n);
      const r1 = await client.appendToStream(stream, ev(), expect(0n));
      assert.equal(r1.nextExpectedRevision, 1n);
      await client.appendToStream(stream, ev(), expect(m.STREAM_EXISTS));
      await client.appendToStream(stream, ev(), expect(m.ANY));
      await assert.rejects(client.appendToStream(stream, ev(), expect(1n)), (err) => {
        assert.ok(err instanceof m.WrongExpectedVersionError, `got ${err?.constructor?.name}: ${err}`);
        return true;
      });
      await assert.rejects(client.appendToStream(s(), ev(), expect(m.STREAM_EXISTS)), m.WrongExpectedVersionError);
    });

    test("retrying an append with the same event id writes it once", async () => {
      const stream = s();
      const id = randomUUID();
      await client.appendToStream(stream, ev("Once", { a: 1 }, id));
      await client.appendToStream(stream, ev("Once", { a: 1 }, id));
      const events = await collect(() => client.readStream(stream));
      assert.equal(events.length, 1);
      assert.equal(events[0].event.id, id);
    });

    test("readStream forwards and backwards from a revision, with metadata as the clients expect", async () => {
      const stream = s();
      await client.appendToStream(stream, [0, 1, 2, 3, 4].map((n) => ev("Numbered", { n })));
      const fwd = await collect(() => client.readStream(stream, { fromRevision: 1n, maxCount: 3 }));
      assert.deepEqual(fwd.map((e) => e.event.data.n), [1, 2, 3]);
      const bwd = await collect(() => client.readStream(stream, { direction: m.BACKWARDS, fromRevision: m.END, maxCount: 2 }));
      assert.deepEqual(bwd.map((e) => e.event.revision), [4n, 3n]);
      const e = fwd[0].event;
      assert.equal(e.type, "Numbered");
      assert.equal(e.streamId, stream);
      assert.equal(e.isJson, true);
      assert.ok(e.created instanceof Date || typeof e.created === "number" || typeof e.created === "bigint");
    });

    test("readStream of a missing stream raises StreamNotFoundError", async () => {
      await assert.rejects(collect(() => client.readStream(s())), m.StreamNotFoundError);
    });

    test("readAll with stream-name and event-type filters", async (t) => {
      if (noReadAllFilter) return t.skip(noReadAllFilter);
      const prefix = `f${randomUUID().slice(0, 6)}`;
      await client.appendToStream(`${prefix}-a`, ev("Alpha"));
      await client.appendToStream(`${prefix}-b`, ev("Beta"));
      await client.appendToStream(`other-${prefix}`, ev("Alpha"));
      const byStream = await collect(() => client.readAll({ filter: m.streamNameFilter({ prefixes: [prefix] }), maxCount: 1000 }));
      assert.deepEqual(byStream.map((e) => e.event.streamId).sort(), [`${prefix}-a`, `${prefix}-b`]);
      const byType = await collect(() => client.readAll({ filter: m.eventTypeFilter({ prefixes: ["Beta"] }), maxCount: 1000 }));
      assert.ok(byType.length >= 1 && byType.every((e) => e.event.type === "Beta"));
      const back = await collect(() => client.readAll({ direction: m.BACKWARDS, fromPosition: m.END, maxCount: 2 }));
      assert.equal(back.length, 2);
      assert.ok(back[0].event.position.commit > back[1].event.position.commit);
    });

    test("subscribeToStream from start delivers history then live events, including ones appended while catching up", async () => {
      const stream = s();
      await client.appendToStream(stream, [1, 2, 3].map((n) => ev("Sub", { n })));
      const sub = client.subscribeToStream(stream, { fromRevision: m.START });
      const seen = [];
      const done = (async () => {
        for await (const e of sub) {
          seen.push(e.event.data.n);
          if (seen.length === 6) break;
        }
      })();
      await client.appendToStream(stream, [4, 5].map((n) => ev("Sub", { n })));
      await new Promise((r) => setTimeout(r, 200));
      await client.appendToStream(stream, ev("Sub", { n: 6 }));
      await done;
      await sub.unsubscribe();
      assert.deepEqual(seen, [1, 2, 3, 4, 5, 6]);
    });

    test("subscribeToStream from a revision and from the end", async () => {
      const stream = s();
      await client.appendToStream(stream, [0, 1, 2].map((n) => ev("R", { n })));
      const fromRev = client.subscribeToStream(stream, { fromRevision: 0n });
      const fromEnd = client.subscribeToStream(stream, { fromRevision: m.END });
      // "From the end" means from when the server confirmed the subscription: wait for it.
      const confirmed = new Promise((r) => fromEnd.once("confirmation", r));
      const a = [], b = [];
      const pa = (async () => { for await (const e of fromRev) { a.push(e.event.data.n); if (a.length === 3) break; } })();
      const pb = (async () => { for await (const e of fromEnd) { b.push(e.event.data.n); if (b.length === 1) break; } })();
      await confirmed;
      await client.appendToStream(stream, ev("R", { n: 3 }));
      await Promise.all([pa, pb]);
      await fromRev.unsubscribe();
      await fromEnd.unsubscribe();
      assert.deepEqual(a, [1, 2, 3]);
      assert.deepEqual(b, [3]);
    });

    test("$ce- and $et- index streams: read with and without resolveLinkTos, and subscribed", async () => {
      const tag = randomUUID().slice(0, 8).replace(/-/g, "");
      const cat = `cat${tag}`, type = `Scored${tag}`;
      await client.appendToStream(`${cat}-1`, [ev(type, { n: 0 }), ev("Other", { n: 1 })]);
      await client.appendToStream(`${cat}-2`, ev(type, { n: 2 }));
      await client.appendToStream(`other${tag}-1`, ev(type, { n: 3 }));
      const resolved = await collect(() => client.readStream(`$ce-${cat}`, { resolveLinkTos: true }));
      assert.deepEqual(resolved.map((e) => [e.event.streamId, e.event.revision, e.event.data.n]),
        [[`${cat}-1`, 0n, 0], [`${cat}-1`, 1n, 1], [`${cat}-2`, 0n, 2]]);
      assert.deepEqual(resolved.map((e) => [e.link.streamId, e.link.revision, e.link.type]),
        [[`$ce-${cat}`, 0n, "$>"], [`$ce-${cat}`, 1n, "$>"], [`$ce-${cat}`, 2n, "$>"]]);
      const links = await collect(() => client.readStream(`$et-${type}`, { resolveLinkTos: false }));
      assert.deepEqual(links.map((e) => [e.event.streamId, e.event.revision, e.event.type, Buffer.from(e.event.data).toString()]),
        [[`$et-${type}`, 0n, "$>", `0@${cat}-1`], [`$et-${type}`, 1n, "$>", `0@${cat}-2`], [`$et-${type}`, 2n, "$>", `0@other${tag}-1`]]);
      const back = await collect(() => client.readStream(`$ce-${cat}`, { direction: m.BACKWARDS, fromRevision: m.END, maxCount: 2, resolveLinkTos: true }));
      assert.deepEqual(back.map((e) => e.event.data.n), [2, 1]);
      // Subscribed from the start: the history from the index, then a live event.
      const sub = client.subscribeToStream(`$ce-${cat}`, { fromRevision: m.START, resolveLinkTos: true });
      const seen = [];
      const done = (async () => {
        for await (const e of sub) {
          seen.push([e.link.revision, e.event.data.n]);
          if (seen.length === 4) break;
        }
      })();
      await client.appendToStream(`${cat}-3`, ev("Late", { n: 4 }));
      await done;
      await sub.unsubscribe();
      assert.deepEqual(seen, [[0n, 0], [1n, 1], [2n, 2], [3n, 4]]);
      await assert.rejects(client.appendToStream(`$ce-${cat}`, ev()), (err) => {
        assert.match(String(err), /index stream/);
        return true;
      });
    });

    test("subscribeToAll with a filter, from the start and from a position", async () => {
      const prefix = `all${randomUUID().slice(0, 6)}`;
      const first = await client.appendToStream(`${prefix}-1`, ev("A", { n: 1 }));
      await client.appendToStream(`${prefix}-2`, ev("A", { n: 2 }));
      const sub = client.subscribeToAll({ fromPosition: m.START, filter: m.streamNameFilter({ prefixes: [prefix] }) });
      const fromPos = client.subscribeToAll({ fromPosition: first.position, filter: m.streamNameFilter({ prefixes: [prefix] }) });
      const seen = [], seen2 = [];
      const p1 = (async () => { for await (const e of sub) { seen.push(e.event.data.n); if (seen.length === 3) break; } })();
      const p2 = (async () => { for await (const e of fromPos) { seen2.push(e.event.data.n); if (seen2.length === 2) break; } })();
      await client.appendToStream(`${prefix}-3`, ev("A", { n: 3 }));
      await Promise.all([p1, p2]);
      await sub.unsubscribe();
      await fromPos.unsubscribe();
      assert.deepEqual(seen, [1, 2, 3]);
      assert.deepEqual(seen2, [2, 3], "from a position means after it");
    });

    test("stream metadata: maxCount and truncateBefore are visible in reads", async () => {
      const stream = s();
      await client.appendToStream(stream, [0, 1, 2, 3, 4].map((n) => ev("M", { n })));
      await client.setStreamMetadata(stream, { maxCount: 2 });
      const meta = await retryUnavailable("getStreamMetadata", () => client.getStreamMetadata(stream));
      assert.equal(meta.metadata.maxCount, 2);
      assert.deepEqual((await collect(() => client.readStream(stream))).map((e) => e.event.data.n), [3, 4]);
      await client.setStreamMetadata(stream, { truncateBefore: 4 });
      assert.deepEqual((await collect(() => client.readStream(stream))).map((e) => e.event.data.n), [4]);
    });

    test("deleteStream then append re-opens; tombstoneStream then append raises StreamDeletedError", async () => {
      const stream = s();
      await client.appendToStream(stream, [ev(), ev()]);
      await client.deleteStream(stream);
      await assert.rejects(collect(() => client.readStream(stream)), m.StreamNotFoundError);
      const r = await client.appendToStream(stream, ev());
      assert.equal(r.nextExpectedRevision, 2n);
      assert.equal((await collect(() => client.readStream(stream))).length, 1);
      const gone = s();
      await client.appendToStream(gone, ev());
      await client.tombstoneStream(gone);
      await assert.rejects(client.appendToStream(gone, ev()), m.StreamDeletedError);
    });

    test("a 1 MiB event round-trips", async () => {
      const stream = s();
      const big = "x".repeat(1 << 20);
      await client.appendToStream(stream, m.binaryEvent({ type: "Big", data: Buffer.from(big) }));
      const [e] = await collect(() => client.readStream(stream));
      assert.equal(Buffer.from(e.event.data).length, 1 << 20);
    });

    test("HTTP /health is ready and /metrics exposes the engine's figures", async () => {
      const health = await fetch(`http://127.0.0.1:${server.httpPort}/health`);
      assert.equal(health.status, 200);
      const body = await health.json();
      assert.equal(body.live, true);
      assert.equal(body.ready, true);
      assert.equal(body.writable, true);
      assert.ok(body.disk_free_bytes > 0, "health reports the data disk's free space");
      const text = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
      for (const name of ["strata_appends_total", "strata_fsyncs_total", "strata_queue_depth",
                          "strata_watermark_lag", "strata_ring_hits_total",
                          "strata_rocksdb_write_stall_micros_total", "strata_writable",
                          "strata_disk_free_bytes", "strata_disk_full_refusals_total"]) {
        assert.match(text, new RegExp(`^# TYPE ${name} `, "m"), name);
      }
      const appends = [...text.matchAll(/^strata_appends_total\{shard="\d+"\} (\d+)$/gm)]
        .reduce((sum, m) => sum + Number(m[1]), 0);
      assert.ok(appends > 0, "the appends of the tests above are counted");
      for (const name of ["strata_append_latency_seconds", "strata_appended_events_total",
                          "strata_subscriptions", "strata_subscription_lag_max"]) {
        assert.match(text, new RegExp(`^# TYPE ${name} `, "m"), name);
      }
      const count = Number(text.match(/^strata_append_latency_seconds_count (\d+)$/m)?.[1]);
      const inf = Number(text.match(/^strata_append_latency_seconds_bucket\{le="\+Inf"\} (\d+)$/m)?.[1]);
      assert.ok(count > 0 && count === inf, `histogram count ${count} equals its +Inf bucket ${inf}`);
    });

    test("10,000 concurrent appends all land, once each", async () => {
      const streams = Array.from({ length: 100 }, () => s());
      const jobs = [];
      for (let i = 0; i < 10000; i++) jobs.push(client.appendToStream(streams[i % 100], ev("C", { i })));
      const settled = await Promise.allSettled(jobs);
      const rejected = settled.filter((r) => r.status === "rejected");
      assert.equal(rejected.length, 0,
        `${rejected.length} appends failed; first: ${rejected[0]?.reason?.constructor?.name}: ${rejected[0]?.reason?.message ?? rejected[0]?.reason}`);
      let total = 0;
      const short = [];
      for (const st of streams) {
        const n = (await collect(() => client.readStream(st))).length;
        total += n;
        if (n !== 100) short.push(`${st}: ${n}`);
      }
      assert.equal(total, 10000, `streams not at 100 events: ${short.slice(0, 5).join(", ")}`);
    });
  });
}
