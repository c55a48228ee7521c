// The official KurrentDB Node client on a `kurrentdb+discover://` string of a Strata cluster
// (tests/cluster_process_test.cc starts the members): it asks Gossip/Read for the members, picks
// one, and every append and read reaches the stream's owner through it. Prints "ok N/N".
import { KurrentDBClient, jsonEvent, NO_STREAM } from "@kurrent/kurrentdb-client";

const [connection, countArg] = process.argv.slice(2);
const count = Number(countArg ?? 30);
const client = KurrentDBClient.connectionString(connection);
let ok = 0;
for (let i = 0; i < count; i++) {
  const stream = `discover-${process.pid}-${i}`;
  await client.appendToStream(stream, [jsonEvent({ type: "Placed", data: { i } })], {
    streamState: NO_STREAM,
  });
  const got = [];
  for await (const e of client.readStream(stream)) got.push(e.event.data.i);
  if (got.length === 1 && got[0] === i) ok++;
}
console.log(`ok ${ok}/${count}`);
await client.dispose();
