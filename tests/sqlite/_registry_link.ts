/**
 * Run as its own process for registry_test.ts:
 *   deno run -A tests/_registry_link.ts <driver> <real> <link> <close|kill>
 * <real> and <link> are two names of one database file. Opens a queue on
 * <real> with <driver> and one on <link> with the other driver, falling back
 * to <driver> when that is refused, then submits 14 jobs through the two
 * names in turn. After the 7th it closes the <real> queue, prints
 * {"paused":true} and waits for a line on stdin (the parent opens the file
 * meanwhile), then reopens it. At the end it closes both queues ("close") or
 * prints {"ready":true} and waits to be killed ("kill").
 *
 * Prints one JSON line per event: {"refused": path} when an open is refused,
 * {"ack": id} for every submit that resolved.
 */
import { DriverConflictError, Job, JobQueue } from "../../mod.ts";

const [first, real, link, end] = Deno.args;
const driver = first as "node" | "ffi";
const other = driver === "node" ? "ffi" : "node";
const say = (value: unknown) => console.log(JSON.stringify(value));

function open(path: string, wanted: "node" | "ffi"): JobQueue {
  try {
    return new JobQueue(path, { driver: wanted });
  } catch (error) {
    if (!(error instanceof DriverConflictError)) throw error;
    say({ refused: path, message: error.message });
    return new JobQueue(path, { driver });
  }
}

const stdin = Deno.stdin.readable.getReader();
let byReal = open(real, driver);
const byLink = open(link, other);
for (let i = 0; i < 14; i++) {
  const id = await (i % 2 === 0 ? byReal : byLink).submit(new Job({ task: "t", params: { i } }));
  say({ ack: id });
  if (i === 6) {
    byReal.close();
    say({ paused: true });
    await stdin.read();
    byReal = open(real, driver);
  }
}
stdin.releaseLock();
if (end === "close") {
  byReal.close();
  byLink.close();
  say({ closed: true });
  Deno.exit(0);
}
say({ ready: true });
setInterval(() => {}, 1000);
