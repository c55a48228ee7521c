// The official KurrentDB Node client on a cluster's members as gossip seeds (`kurrentdb://a,b,c`)
// while members are SIGKILLed under it (tests/cluster_process_test.cc kills them). For `seconds` it
// appends one event at a time over 24 streams, retrying each append with the same event id until
// it is acknowledged, as an application would; when its member dies the client rediscovers the
// cluster through the other seeds. Prints one line per acknowledged append
// ("ack <stream> <revision> <event id>"), some of the errors it retried ("retry …"), and at the
// end "done <acknowledged> <retries>".
import { randomUUID } from "node:crypto";
import { KurrentDBClient, jsonEvent } from "@kurrent/kurrentdb-client";

const [connection, secondsArg] = process.argv.slice(2);
const started = Date.now();
const until = Date.now() + Number(secondsArg ?? 20) * 1000;
const client = KurrentDBClient.connectionString(connection);
let acked = 0;
let retries = 0;
for (let i = 0; Date.now() < until; i++) {
  const stream = `kill-${process.pid}-${i % 24}`;
  const event = jsonEvent({ id: randomUUID(), type: "Placed", data: { i } });
  const giveUp = Date.now() + 60_000;
  for (;;) {
    try {
      const r = await client.appendToStream(stream, [event]);
      console.log(`ack ${stream} ${r.nextExpectedRevision} ${event.id}`);
      acked++;
      break;
    } catch (e) {
      retries++;
      if (retries <= 30 || retries % 50 === 0) {
        console.log(`retry ${((Date.now() - started) / 1000).toFixed(1)} s ${stream}: ${e.constructor.name}: ${e.message}`);
      }
      if (Date.now() > giveUp) {
        console.log(`gave up on ${stream}: ${e}`);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}
console.log(`done ${acked} ${retries}`);
await client.dispose();
