/**
 * Deno KV's queue API on a GigQ database: `openKvQueue(db)` gives an object
 * with `enqueue(value, { delay, keysIfUndelivered, backoffSchedule })`,
 * `listenQueue(handler)`, and `get`, `set`, `delete` and `list` on a small
 * key-value table of GigQ's, where the `keysIfUndelivered` of a message
 * whose every delivery failed are written. Beyond Deno KV: a queue name,
 * backoff schedules longer than 5 entries, `size()` and `peek()`, and a
 * SQLite file or PostgreSQL database shared by many processes.
 *
 * @example The same handler code as with `Deno.openKv()`
 * ```ts
 * import { openKvQueue } from "@gigq/gigq/kv";
 *
 * const kv = await openKvQueue(":memory:"); // was: await Deno.openKv()
 * const listening = kv.listenQueue(async (msg: { to: string }) => {
 *   await kv.set(["sent", msg.to], true);
 * });
 * await kv.enqueue({ to: "ada@example.com" }, { keysIfUndelivered: [["unsent", "ada"]] });
 * kv.close();
 * await listening;
 * ```
 *
 * @module
 */
export {
  DEFAULT_BACKOFF_SCHEDULE,
  type KvCommitResult,
  type KvEnqueueOptions,
  type KvEntryMaybe,
  type KvMessage,
  KvQueue,
  type KvQueueOptions,
  openKvQueue,
} from "./src/kv/kv_queue.ts";
export type { KvKey, KvKeyPart } from "./src/kv/keys.ts";
