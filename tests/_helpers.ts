/** Helpers shared by the test files. */
import type { DriverName } from "../src/sqlite/connection.ts";

/** The drivers the storage tests run against. */
export const drivers: readonly DriverName[] = ["node", "ffi"];

/** A fresh temp directory with a database path inside it; removed by `cleanup`. */
export async function tempDb(
  name = "jobs.db",
): Promise<{ dir: string; path: string; cleanup: () => Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "gigq-test-" });
  return {
    dir,
    path: `${dir}/${name}`,
    cleanup: () => Deno.remove(dir, { recursive: true }).catch(() => {}),
  };
}

/** The number of open file descriptors of this process (Linux). */
export function openFdCount(): number {
  let n = 0;
  for (const _ of Deno.readDirSync("/proc/self/fd")) n++;
  return n;
}

import { setImmediate } from "node:timers";
import { operationsInFlight } from "../src/_in_flight.ts";
import type { Clock } from "../src/clock.ts";

/**
 * Lets pending promise callbacks and immediate callbacks run, without
 * sleeping, and waits for backend operations that wait on a server
 * (PostgreSQL) to finish (up to 10 s), and for what follows them.
 */
export async function settle(rounds = 20): Promise<void> {
  const until = Date.now() + 10_000;
  for (;;) {
    // One timer round too: a worker yields to it once after opening (so that a
    // stop signal that came during a long open is seen before any claim).
    await new Promise((r) => setTimeout(r, 0));
    for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
    if (operationsInFlight() === 0 || Date.now() > until) return;
    while (operationsInFlight() > 0 && Date.now() <= until) {
      await new Promise((r) => setTimeout(r, 1));
    }
  }
}

/** Yields to the event loop until `cond()` holds; fails after `limit` rounds and 10 s. */
export async function until(cond: () => boolean | Promise<boolean>, limit = 20_000): Promise<void> {
  // At least `limit` rounds and at least 10 s of real time: a round is microseconds on SQLite,
  // but a PostgreSQL round trip on a loaded machine can outlast thousands of them.
  const deadline = Date.now() + 10_000;
  for (let i = 0; i < limit || Date.now() < deadline; i++) {
    if (await cond()) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error("condition never became true");
}

/**
 * A clock tests move by hand. Timers fire, in time order, only when `tick`
 * moves time past them.
 */
export class FakeClock implements Clock {
  #now: number;
  #timers = new Map<number, { at: number; fn: () => void }>();
  #next = 1;

  constructor(start: number = Date.UTC(2026, 0, 1, 12)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): number {
    const id = this.#next++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(id: unknown): void {
    this.#timers.delete(id as number);
  }

  /**
   * Moves time forward by `ms` without firing timers, as a handler that
   * blocks the event loop for that long would (timers fire late, at the
   * next tick).
   */
  jump(ms: number): void {
    this.#now += ms;
  }

  /** Timers not yet fired. */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /** Moves time forward by `ms`, firing due timers in order and letting their work run. */
  async tick(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      let first: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.#timers) {
        if (entry[1].at <= target && (first === undefined || entry[1].at < first[1].at)) {
          first = entry;
        }
      }
      if (first === undefined) break;
      this.#timers.delete(first[0]);
      this.#now = Math.max(this.#now, first[1].at);
      first[1].fn();
      await settle();
    }
    this.#now = target;
    await settle();
  }
}

import type { DriverName as _Driver } from "../src/sqlite/connection.ts";

/** Defines one test per driver, each with its own temp database file. */
export function driverTest(
  name: string,
  fn: (ctx: { driver: _Driver; path: string; dir: string }) => Promise<void> | void,
): void {
  for (const driver of drivers) {
    Deno.test(`[${driver}] ${name}`, async () => {
      const db = await tempDb();
      try {
        await fn({ driver, path: db.path, dir: db.dir });
      } finally {
        const { closeConnections } = await import("../src/sqlite/registry.ts");
        closeConnections();
        await db.cleanup();
      }
    });
  }
}

/** SHA-256 of a file's bytes, hex; "" if it does not exist. */
export async function fileHash(path: string): Promise<string> {
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = await Deno.readFile(path);
  } catch {
    return "";
  }
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Hashes of a database file and its WAL, to prove an operation changed nothing. */
export async function dbHash(path: string): Promise<string> {
  return `${await fileHash(path)}/${await fileHash(path + "-wal")}`;
}
