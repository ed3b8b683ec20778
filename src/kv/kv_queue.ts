/**
 * {@linkcode KvQueue}: Deno KV's queue API (`enqueue`, `listenQueue`,
 * `keysIfUndelivered`, `backoffSchedule`) on a GigQ queue, with a small
 * key-value table of GigQ's for the undelivered messages.
 *
 * @module
 */
import { FAILURE_EXTRAS, type FailureExtras } from "../_backend.ts";
import { DEFAULT_MAX_PAYLOAD_BYTES, type JsonValue } from "../_json.ts";
import { queueInternals } from "../_queue_backend.ts";
import { integer, knownKeys, MAX_TIMEOUT_SECONDS, queueName, seconds } from "../_validate.ts";
import { type Clock, systemClock } from "../clock.ts";
import { errorText } from "../_error_text.ts";
import { isNoRetry } from "../errors.ts";
import { describe } from "../job_status.ts";
import type { ConnectionOptions } from "../_open_backend.ts";
import { JobQueue } from "../queue.ts";
import { task } from "../task.ts";
import { type Logger, Worker } from "../worker.ts";
import {
  decodeKey,
  encodeKey,
  encodeValue,
  keyPrefix,
  type KvKey,
  type KvKeyPart,
} from "./keys.ts";

/** The name of the task every KV message is a job of. */
export const KV_TASK = "gigq.kv";

/**
 * The retries of a message enqueued without a `backoffSchedule`, in
 * milliseconds: those of the Deno CLI's own queue (five retries).
 */
export const DEFAULT_BACKOFF_SCHEDULE: readonly number[] = Object.freeze([
  100,
  1000,
  5000,
  30000,
  60000,
]);

/** Most retries a `backoffSchedule` may hold (Deno KV allows 5). */
export const MAX_BACKOFF_ENTRIES = 1000;

/** Most keys in `keysIfUndelivered`. */
export const MAX_UNDELIVERED_KEYS = 100;

/** The longest `delay` or backoff entry, in milliseconds (10 years). */
export const MAX_DELAY_MS = 315_360_000_000;

/** Options for {@linkcode openKvQueue}. */
export interface KvQueueOptions extends ConnectionOptions {
  /**
   * The named queue the messages go to and are delivered from: two
   * `KvQueue`s on one database with different names are two queues.
   *
   * @default {"default"}
   */
  queue?: string;
  /**
   * How many messages the listener handles at once.
   *
   * @default {1}
   */
  concurrency?: number;
  /**
   * Seconds a delivery may take: a handler still running then counts as a
   * failed delivery (retried by the schedule). Deno KV has no such limit.
   *
   * @default {300}
   */
  timeout?: number;
  /**
   * The source of time (a `VirtualClock` from `@gigq/gigq/testing` in tests).
   *
   * @default {systemClock}
   */
  clock?: Clock;
  /**
   * Receives the listener's worker's log lines.
   *
   * @default {warnings and errors to stderr}
   */
  logger?: Logger;
}

/** Options for {@linkcode KvQueue.enqueue}, as `Deno.Kv.enqueue` takes them. */
export interface KvEnqueueOptions {
  /**
   * Milliseconds before the first delivery.
   *
   * @default {0}
   */
  delay?: number;
  /**
   * Keys set to the message's value when its last delivery fails (read them
   * with {@linkcode KvQueue.get}).
   *
   * @default {[]}
   */
  keysIfUndelivered?: readonly KvKey[];
  /**
   * The wait before each retry of a failed delivery, in milliseconds: one
   * retry per entry (more than Deno KV's 5 are allowed, up to 1000).
   *
   * @default {[100, 1000, 5000, 30000, 60000]}
   */
  backoffSchedule?: readonly number[];
}

/** What {@linkcode KvQueue.enqueue} resolves to (the shape of Deno's `KvCommitResult`). */
export interface KvCommitResult {
  /** Always true: a refused message throws. */
  ok: true;
  /** The message's job id (Deno KV gives a versionstamp here). */
  versionstamp: string;
}

/** An entry of the key-value table, as {@linkcode KvQueue.get} reads it (Deno's `KvEntryMaybe`). */
export interface KvEntryMaybe<T = unknown> {
  /** The key asked for. */
  key: KvKeyPart[];
  /** Its value, or null when it is not set. */
  value: T | null;
  /**
   * When it was last written, as 20 hex digits of epoch milliseconds (ordered
   * by time, but two writes in one millisecond share one), or null when not set.
   */
  versionstamp: string | null;
}

/** A message waiting for delivery, as {@linkcode KvQueue.peek} shows it. */
export interface KvMessage<T = unknown> {
  /** Its job id (what `enqueue` returned as `versionstamp`). */
  id: string;
  /** The value enqueued. */
  value: T;
  /** When it is delivered next (at the earliest). */
  deliverAt: Date;
  /** How many deliveries failed so far. */
  failedDeliveries: number;
}

/** What a message's job carries. */
interface Message {
  value: JsonValue;
  /** The canonical keys of keysIfUndelivered. */
  keys: string[];
  /** The backoff schedule, ms. */
  backoff: number[];
}

const OPEN_KEYS = [
  "queue",
  "concurrency",
  "timeout",
  "clock",
  "logger",
  "driver",
  "synchronous",
  "busyTimeout",
] as const;
const ENQUEUE_KEYS = ["delay", "keysIfUndelivered", "backoffSchedule"] as const;

/** Milliseconds, whole, from 0 to MAX_DELAY_MS. */
function millis(context: string, field: string, value: unknown): number {
  return integer(context, field, value, 0, MAX_DELAY_MS);
}

/**
 * A new error that reads as `thrown` does in the job's record (its name,
 * message and stack, and its NoRetryError mark) and carries `extras`. Never
 * `thrown` itself: one error object thrown by two deliveries at once would
 * carry the extras of the one that threw last.
 */
function carrying(thrown: unknown, extras: FailureExtras): Error {
  const error = thrown instanceof Error
    ? Object.assign(new Error(thrown.message, { cause: thrown }), { name: thrown.name })
    : new Error(errorText(thrown).message, { cause: thrown });
  if (thrown instanceof Error && typeof thrown.stack === "string") error.stack = thrown.stack;
  if (isNoRetry(thrown)) Object.defineProperty(error, NO_RETRY_MARK, { value: true });
  Object.defineProperty(error, FAILURE_EXTRAS, { value: extras });
  return error;
}

/** The mark `isNoRetry` recognises across copies of GigQ. */
const NO_RETRY_MARK = Symbol.for("gigq.noRetry");

/**
 * A queue with Deno KV's queue API, on a GigQ database (a SQLite file or a
 * PostgreSQL URL). Open one with {@linkcode openKvQueue}.
 *
 * Delivery is as Deno KV documents it: at least once (a message whose
 * handler was cut off, by a crash or a lost worker, is delivered again); a
 * handler that throws (or rejects) is retried after each wait of the
 * message's `backoffSchedule`; when the last delivery fails, the message's
 * value is written under each of its `keysIfUndelivered`, in the same
 * transaction that records the failure. Values are JSON: `null`, booleans,
 * finite numbers, strings, arrays and plain objects of those (Deno KV's other
 * structured-clonable values, such as `Date`, `Map`, `Uint8Array`, `bigint`
 * or `undefined`, are refused with an error naming them).
 *
 * @example Deno KV code, on a GigQ file
 * ```ts
 * import { openKvQueue } from "@gigq/gigq/kv";
 *
 * const kv = await openKvQueue(":memory:");
 * const listening = kv.listenQueue((msg: { to: string }) => {
 *   console.log(`mail to ${msg.to}`);
 * });
 * await kv.enqueue({ to: "ada@example.com" }, {
 *   keysIfUndelivered: [["failed_mail", "ada"]],
 *   backoffSchedule: [1000, 5000, 10000],
 * });
 * kv.close();
 * await listening;
 * ```
 */
export class KvQueue implements Disposable {
  /** The named queue its messages go to. */
  readonly queue: string;
  #jobs: JobQueue;
  #target: string;
  #options: KvQueueOptions;
  #clock: Clock;
  #timeoutMs: number;
  #concurrency: number;
  #worker: Worker | undefined;
  #listening: Promise<void> | undefined;
  #closed = false;

  /** Use {@linkcode openKvQueue}. */
  constructor(db: string, options: KvQueueOptions = {}) {
    const context = "Cannot open KV queue";
    if (typeof options !== "object" || options === null) {
      throw new TypeError(`${context}: options must be an object, got ${describe(options)}`);
    }
    knownKeys(context, options, OPEN_KEYS);
    this.queue = queueName(context, "queue", options.queue ?? "default");
    this.#concurrency = integer(context, "concurrency", options.concurrency ?? 1, 1, 10_000);
    this.#timeoutMs = 1000 * seconds(context, "timeout", options.timeout ?? 300, {
      min: 0,
      max: MAX_TIMEOUT_SECONDS - 60,
      minExclusive: true,
    });
    this.#clock = options.clock ?? systemClock;
    this.#target = db;
    this.#options = options;
    const { driver, synchronous, busyTimeout } = options;
    this.#jobs = new JobQueue(db, {
      clock: this.#clock,
      ...(driver === undefined ? {} : { driver }),
      ...(synchronous === undefined ? {} : { synchronous }),
      ...(busyTimeout === undefined ? {} : { busyTimeout }),
    });
  }

  /** The backend, open. */
  #backend() {
    return queueInternals("KvQueue", this.#jobs).backend();
  }

  /** Opens the database (creating the queue's tables if needed). */
  async open(): Promise<void> {
    await this.#backend();
  }

  /**
   * Adds a message, delivered to the listener (of any `KvQueue` on this
   * database and queue name) after `delay` milliseconds.
   *
   * @example
   * ```ts
   * import { openKvQueue } from "@gigq/gigq/kv";
   * const kv = await openKvQueue(":memory:");
   * await kv.enqueue({ userId: 42 }, { delay: 60_000, keysIfUndelivered: [["lost", 42]] });
   * console.assert((await kv.size()) === 1);
   * kv.close();
   * ```
   *
   * @param value a JSON value
   * @param options the delay, the keys set if every delivery fails, and the retries
   */
  async enqueue(value: unknown, options: KvEnqueueOptions = {}): Promise<KvCommitResult> {
    const context = "Cannot enqueue";
    if (typeof options !== "object" || options === null) {
      throw new TypeError(`${context}: options must be an object, got ${describe(options)}`);
    }
    knownKeys(context, options, ENQUEUE_KEYS);
    const json = encodeValue(context, "value", value, DEFAULT_MAX_PAYLOAD_BYTES);
    const delay = millis(context, "delay", options.delay ?? 0);
    const undelivered = options.keysIfUndelivered ?? [];
    if (!Array.isArray(undelivered)) {
      throw new TypeError(
        `${context}: keysIfUndelivered must be an array of keys, got ${describe(undelivered)}`,
      );
    }
    if (undelivered.length > MAX_UNDELIVERED_KEYS) {
      throw new RangeError(
        `${context}: keysIfUndelivered has ${undelivered.length} keys; at most ` +
          `${MAX_UNDELIVERED_KEYS} are allowed`,
      );
    }
    const keys = undelivered.map((k, i) => encodeKey(context, `keysIfUndelivered[${i}]`, k));
    const schedule = options.backoffSchedule ?? DEFAULT_BACKOFF_SCHEDULE;
    if (!Array.isArray(schedule)) {
      throw new TypeError(
        `${context}: backoffSchedule must be an array of milliseconds, got ${describe(schedule)}`,
      );
    }
    if (schedule.length > MAX_BACKOFF_ENTRIES) {
      throw new RangeError(
        `${context}: backoffSchedule has ${schedule.length} entries; at most ` +
          `${MAX_BACKOFF_ENTRIES} are allowed`,
      );
    }
    const backoff = schedule.map((ms, i) => millis(context, `backoffSchedule[${i}]`, ms));
    const message: Message = { value: JSON.parse(json), keys: [...new Set(keys)], backoff };
    const id = await this.#jobs.submit(deliver.toJob(message, {
      queue: this.queue,
      runAt: this.#clock.now() + delay,
      maxAttempts: backoff.length + 1,
      // A delivery cut off by a lost worker is retried after the first wait.
      retryDelay: (backoff[0] ?? 0) / 1000,
      timeout: this.#timeoutMs / 1000 + 60,
    }));
    return { ok: true, versionstamp: id };
  }

  /**
   * Delivers this queue's messages to `handler`, until
   * {@linkcode KvQueue.close}: resolves then, once the deliveries under way
   * are over. One listener per `KvQueue` (as with `Deno.Kv`); several
   * `KvQueue`s (in other processes too) may listen on one queue, each
   * message going to one of them at a time.
   *
   * @example
   * ```ts
   * import { openKvQueue } from "@gigq/gigq/kv";
   * const kv = await openKvQueue(":memory:");
   * const listening = kv.listenQueue(async (msg: { id: number }) => {
   *   await kv.set(["done", msg.id], true);
   * });
   * kv.close();
   * await listening;
   * ```
   *
   * @param handler called with each message's value; a throw (or rejection) fails the delivery
   */
  // deno-lint-ignore no-explicit-any
  listenQueue(handler: (value: any) => unknown): Promise<void> {
    const context = "Cannot listen to the KV queue";
    if (typeof handler !== "function") {
      return Promise.reject(
        new TypeError(`${context}: handler must be a function, got ${describe(handler)}`),
      );
    }
    if (this.#closed) return Promise.reject(new Error(`${context}: it is closed`));
    if (this.#listening !== undefined) {
      return Promise.reject(
        new Error(
          `${context}: this KvQueue already has a listener (one per KvQueue, as with ` +
            `Deno.Kv); open another KvQueue on the same database to add one`,
        ),
      );
    }
    const { driver, synchronous, busyTimeout, logger } = this.#options;
    const worker = this.#worker = new Worker(this.#target, {
      tasks: [listener(handler, this.#clock, this.#timeoutMs)],
      queues: [this.queue],
      concurrency: this.#concurrency,
      clock: this.#clock,
      ...(driver === undefined ? {} : { driver }),
      ...(synchronous === undefined ? {} : { synchronous }),
      ...(busyTimeout === undefined ? {} : { busyTimeout }),
      ...(logger === undefined ? {} : { logger }),
    });
    return this.#listening = worker.start();
  }

  /**
   * How many messages of this queue are not yet delivered for good:
   * waiting (for their time, or for a retry) or being delivered.
   *
   * @example
   * ```ts
   * import { openKvQueue } from "@gigq/gigq/kv";
   * const kv = await openKvQueue(":memory:");
   * await kv.enqueue("hello");
   * console.assert((await kv.size()) === 1);
   * kv.close();
   * ```
   */
  async size(): Promise<number> {
    const stats = await this.#jobs.stats({ queue: this.queue });
    return stats.pending + stats.running;
  }

  /**
   * The next `limit` messages waiting for delivery, in the order they are
   * due, without taking them (it reads every waiting message of the queue).
   *
   * @example
   * ```ts
   * import { openKvQueue } from "@gigq/gigq/kv";
   * const kv = await openKvQueue(":memory:");
   * await kv.enqueue("later", { delay: 1000 });
   * await kv.enqueue("now");
   * const [next] = await kv.peek();
   * console.assert(next.value === "now");
   * kv.close();
   * ```
   *
   * @param limit how many, at most
   */
  async peek<T = unknown>(limit = 1): Promise<KvMessage<T>[]> {
    integer("Cannot peek", "limit", limit, 0, 1_000_000);
    const { pending } = await this.#jobs.stats({ queue: this.queue });
    if (pending === 0 || limit === 0) return [];
    const jobs = await this.#jobs.listJobs({
      queue: this.queue,
      status: "pending",
      limit: pending,
    });
    return jobs
      .filter((j) => j.task === KV_TASK)
      .map((j) => ({
        id: j.id,
        value: (j.params as unknown as Message).value as T,
        deliverAt: new Date(j.runAt),
        failedDeliveries: j.attempts,
        order: j.createdAt,
      }))
      .sort((a, b) => a.deliverAt.getTime() - b.deliverAt.getTime() || (a.order < b.order ? -1 : 1))
      .slice(0, limit)
      .map(({ order: _, ...m }) => m);
  }

  /**
   * The entry of `key` in GigQ's key-value table: where a message's
   * `keysIfUndelivered` are written.
   *
   * @example
   * ```ts
   * import { openKvQueue } from "@gigq/gigq/kv";
   * const kv = await openKvQueue(":memory:");
   * const entry = await kv.get(["failed", 1]);
   * console.assert(entry.value === null && entry.versionstamp === null);
   * kv.close();
   * ```
   *
   * @param key a non-empty array of strings, finite numbers and booleans
   */
  async get<T = unknown>(key: KvKey): Promise<KvEntryMaybe<T>> {
    const text = encodeKey("Cannot get", "key", key);
    const row = await (await this.#backend()).kvGet({ key: text });
    return row === undefined ? { key: decodeKey(text), value: null, versionstamp: null } : {
      key: decodeKey(text),
      value: JSON.parse(row.value) as T,
      versionstamp: stamp(row.updatedAt),
    };
  }

  /**
   * Sets `key` to `value` (JSON) in the key-value table.
   *
   * @example
   * ```ts
   * import { openKvQueue } from "@gigq/gigq/kv";
   * const kv = await openKvQueue(":memory:");
   * await kv.set(["greeting"], "hello");
   * console.assert((await kv.get(["greeting"])).value === "hello");
   * kv.close();
   * ```
   *
   * @param key the key
   * @param value a JSON value
   */
  async set(key: KvKey, value: unknown): Promise<KvCommitResult> {
    const context = "Cannot set";
    const text = encodeKey(context, "key", key);
    const json = encodeValue(context, "value", value, DEFAULT_MAX_PAYLOAD_BYTES);
    const now = this.#clock.now();
    await (await this.#backend()).kvSet({ entries: [{ key: text, value: json }], now });
    return { ok: true, versionstamp: stamp(now) };
  }

  /**
   * Deletes `key` from the key-value table (nothing if it is not set).
   *
   * @example
   * ```ts
   * import { openKvQueue } from "@gigq/gigq/kv";
   * const kv = await openKvQueue(":memory:");
   * await kv.set(["a"], 1);
   * await kv.delete(["a"]);
   * console.assert((await kv.get(["a"])).value === null);
   * kv.close();
   * ```
   *
   * @param key the key
   */
  async delete(key: KvKey): Promise<void> {
    const text = encodeKey("Cannot delete", "key", key);
    await (await this.#backend()).kvDelete({ key: text });
  }

  /**
   * The entries whose keys start with `selector.prefix` (not the prefix
   * itself), ordered by their keys' JSON text, at most `options.limit`.
   *
   * @example Read every undelivered message
   * ```ts
   * import { openKvQueue } from "@gigq/gigq/kv";
   * const kv = await openKvQueue(":memory:");
   * for await (const entry of kv.list({ prefix: ["failed"] })) console.log(entry.key, entry.value);
   * kv.close();
   * ```
   *
   * @param selector the prefix
   * @param options the limit (default 1000)
   */
  async *list<T = unknown>(
    selector: { prefix: KvKey },
    options: { limit?: number } = {},
  ): AsyncIterableIterator<KvEntryMaybe<T>> {
    const context = "Cannot list";
    if (typeof selector !== "object" || selector === null) {
      throw new TypeError(`${context}: selector must be { prefix }, got ${describe(selector)}`);
    }
    knownKeys(context, selector, ["prefix"]);
    knownKeys(context, options, ["limit"]);
    const prefix = keyPrefix(context, selector.prefix);
    const limit = integer(context, "limit", options.limit ?? 1000, 1, 1_000_000);
    const rows = await (await this.#backend()).kvList({ prefix, limit });
    for (const row of rows) {
      yield {
        key: decodeKey(row.key),
        value: JSON.parse(row.value) as T,
        versionstamp: stamp(row.updatedAt),
      };
    }
  }

  /**
   * Stops listening (the deliveries under way are cut off: their messages
   * are delivered again later, the cut attempt not counted) and closes the
   * database. Safe to call twice.
   *
   * @example
   * ```ts
   * import { openKvQueue } from "@gigq/gigq/kv";
   * using kv = await openKvQueue(":memory:");
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#worker?.close();
    this.#jobs.close();
  }

  /** Closes it ({@linkcode KvQueue.close}). */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** 20 hex digits of epoch ms. */
function stamp(ms: number): string {
  return Math.max(0, Math.trunc(ms)).toString(16).padStart(20, "0");
}

/** The task that delivers messages: replaced per listener by {@linkcode listener}. */
const deliver = task(KV_TASK, () => {
  throw new Error("no listener");
});

/** The task a listener's worker runs: calls `handler`, failing the delivery by its schedule. */
function listener(
  handler: (value: unknown) => unknown,
  clock: Clock,
  timeoutMs: number,
) {
  return task(KV_TASK, async (message: Message, ctx) => {
    let timer: unknown;
    try {
      await Promise.race([
        Promise.resolve().then(() => handler(message.value)),
        new Promise((_, reject) => {
          timer = clock.setTimeout(
            () => reject(new Error(`the delivery took longer than ${timeoutMs / 1000} s`)),
            timeoutMs,
          );
        }),
      ]);
    } catch (error) {
      const value = JSON.stringify(message.value);
      throw carrying(error, {
        retryInMs: message.backoff[ctx.attempt - 1],
        setIfFinal: message.keys.map((key) => ({ key, value })),
      });
    } finally {
      clock.clearTimeout(timer);
    }
  });
}

/**
 * Opens a {@linkcode KvQueue} on the GigQ database `db` (a SQLite file,
 * `:memory:`, or a PostgreSQL URL from `@gigq/gigq/postgres`), creating its
 * tables if needed: the counterpart of `Deno.openKv()`.
 *
 * @example
 * ```ts
 * import { openKvQueue } from "@gigq/gigq/kv";
 * const kv = await openKvQueue(":memory:", { queue: "mail" });
 * kv.close();
 * ```
 *
 * @param db the database
 * @param options the queue name, the listener's concurrency and timeout, the clock and driver
 */
export async function openKvQueue(db: string, options: KvQueueOptions = {}): Promise<KvQueue> {
  const kv = new KvQueue(db, options);
  try {
    await kv.open();
  } catch (error) {
    kv.close();
    throw error;
  }
  return kv;
}
