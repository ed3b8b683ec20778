/**
 * The Deno KV-style facade (kv.ts): delivery, retries by the backoff
 * schedule, keysIfUndelivered written with the last failure, and the same
 * handler compared against Deno.openKv where the runtime has it.
 */
import assert from "node:assert/strict";
import { JobQueue, NoRetryError } from "../mod.ts";
import { type KvQueue, openKvQueue } from "../kv.ts";
import { VirtualClock } from "../testing.ts";
import { backendTest } from "./_backends.ts";
import { until } from "./_helpers.ts";

const START = "2026-01-01T00:00:00Z";

/** A facade on the test's database, on a virtual clock. */
async function openOn(
  ctx: { target: string; options: { driver?: "node" | "ffi" } },
  clock: VirtualClock,
  queue?: string,
): Promise<KvQueue> {
  return await openKvQueue(ctx.target, {
    ...ctx.options,
    clock,
    ...(queue === undefined ? {} : { queue }),
  });
}

backendTest("a message is delivered once to the listener, after its delay", async (ctx) => {
  const clock = new VirtualClock(START);
  const kv = await openOn(ctx, clock);
  const got: unknown[] = [];
  const listening = kv.listenQueue((v) => void got.push(v));
  try {
    await kv.enqueue({ n: 1, tags: ["a"] });
    await kv.enqueue("later", { delay: 60_000 });
    await clock.advance(0);
    assert.deepEqual(got, [{ n: 1, tags: ["a"] }]);
    assert.equal(await kv.size(), 1);
    await clock.advance(59.999);
    assert.equal(got.length, 1);
    await clock.advance(0.001);
    assert.deepEqual(got, [{ n: 1, tags: ["a"] }, "later"]);
    assert.equal(await kv.size(), 0);
  } finally {
    kv.close();
    await listening;
  }
});

backendTest(
  "a failing delivery is retried after each wait of a backoff schedule longer than Deno's 5",
  async (ctx) => {
    const clock = new VirtualClock(START);
    const t0 = clock.now();
    const kv = await openOn(ctx, clock);
    const at: number[] = [];
    const listening = kv.listenQueue(() => {
      at.push(clock.now() - t0);
      if (at.length < 8) throw new Error(`delivery ${at.length} fails`);
    });
    const schedule = [1000, 2000, 4000, 8000, 16000, 32000, 64000];
    try {
      await kv.enqueue("x", { backoffSchedule: schedule, keysIfUndelivered: [["lost"]] });
      await clock.advance(200);
      let sum = 0;
      assert.deepEqual(at, [0, ...schedule.map((ms) => sum += ms)]);
      assert.equal((await kv.get(["lost"])).value, null, "delivered at the last retry: no key");
      assert.equal(await kv.size(), 0);
    } finally {
      kv.close();
      await listening;
    }
  },
);

backendTest(
  "keysIfUndelivered get the value in the transaction of the last failed delivery, not before",
  async (ctx) => {
    const clock = new VirtualClock(START);
    const kv = await openOn(ctx, clock);
    let deliveries = 0;
    const listening = kv.listenQueue(() => {
      deliveries++;
      throw new Error("always fails");
    });
    try {
      const { versionstamp: id } = await kv.enqueue({ order: 7 }, {
        backoffSchedule: [1000, 1000],
        keysIfUndelivered: [["failed", "order", 7], ["failed", "any"]],
      });
      await clock.advance(1);
      assert.equal(deliveries, 2);
      assert.equal((await kv.get(["failed", "order", 7])).value, null, "one retry left");
      await clock.advance(1);
      assert.equal(deliveries, 3);
      const entry = await kv.get(["failed", "order", 7]);
      assert.deepEqual(entry.value, { order: 7 });
      assert.deepEqual(entry.key, ["failed", "order", 7]);
      assert.match(entry.versionstamp ?? "", /^[0-9a-f]{20}$/);
      assert.deepEqual((await kv.get(["failed", "any"])).value, { order: 7 });
      const listed = [];
      for await (const e of kv.list({ prefix: ["failed"] })) listed.push([e.key, e.value]);
      assert.deepEqual(listed, [
        [["failed", "any"], { order: 7 }],
        [["failed", "order", 7], { order: 7 }],
      ]);
      assert.equal(await kv.size(), 0);
      await clock.advance(120);
      assert.equal(deliveries, 3, "no delivery after the last");
      assert.ok(id.length > 0);
    } finally {
      kv.close();
      await listening;
    }
  },
);

backendTest(
  "a delivery still running at the facade's timeout fails and is retried by the schedule",
  async (ctx) => {
    const clock = new VirtualClock(START);
    const t0 = clock.now();
    const kv = await openKvQueue(ctx.target, { ...ctx.options, clock, timeout: 10 });
    const at: number[] = [];
    const listening = kv.listenQueue(async () => {
      at.push((clock.now() - t0) / 1000);
      if (at.length === 1) await new Promise(() => {}); // hangs
    });
    try {
      await kv.enqueue("x", { backoffSchedule: [5000], keysIfUndelivered: [["lost"]] });
      await clock.advance(9);
      assert.deepEqual(at, [0]);
      await clock.advance(1 + 5);
      assert.deepEqual(at, [0, 15], "failed at 10 s, retried 5 s later");
      assert.equal(await kv.size(), 0);
      assert.equal((await kv.get(["lost"])).value, null);
    } finally {
      kv.close();
      await listening;
    }
  },
);

backendTest(
  "a last delivery whose message was cancelled meanwhile writes no keysIfUndelivered",
  async (ctx) => {
    const clock = new VirtualClock(START);
    const kv = await openOn(ctx, clock);
    const jobs = new JobQueue(ctx.target, { ...ctx.options, clock });
    let release: () => void = () => {};
    const listening = kv.listenQueue(async () => {
      await new Promise<void>((r) => release = r);
      throw new Error("fails after the cancel");
    });
    try {
      const { versionstamp: id } = await kv.enqueue("x", {
        backoffSchedule: [],
        keysIfUndelivered: [["lost"]],
      });
      await clock.advance(0);
      assert.equal((await jobs.getStatus(id))?.status, "running");
      assert.equal(await jobs.cancel(id), true);
      release();
      await clock.advance(0);
      assert.equal((await jobs.getStatus(id))?.status, "cancelled");
      assert.equal((await kv.get(["lost"])).value, null, "the fenced failure wrote nothing");
    } finally {
      jobs.close();
      kv.close();
      await listening;
    }
  },
);

backendTest(
  "one error object thrown by two deliveries at once: each message's keys get its own value",
  async (ctx) => {
    const clock = new VirtualClock(START);
    const kv = await openKvQueue(ctx.target, { ...ctx.options, clock, concurrency: 2 });
    const shared = new Error("down");
    const waiting: (() => void)[] = [];
    const listening = kv.listenQueue(async () => {
      await new Promise<void>((r) => waiting.push(r));
      throw shared;
    });
    try {
      for (const n of [1, 2]) {
        await kv.enqueue({ n }, { backoffSchedule: [], keysIfUndelivered: [["lost", n]] });
      }
      await clock.advance(0);
      assert.equal(waiting.length, 2, "both deliveries run at once");
      for (const wake of waiting.splice(0)) wake();
      await clock.advance(0);
      assert.deepEqual((await kv.get(["lost", 1])).value, { n: 1 });
      assert.deepEqual((await kv.get(["lost", 2])).value, { n: 2 });
    } finally {
      kv.close();
      await listening;
    }
  },
);

backendTest(
  "a NoRetryError from the handler ends the message at once, keys written",
  async (ctx) => {
    const clock = new VirtualClock(START);
    const kv = await openOn(ctx, clock);
    let deliveries = 0;
    const listening = kv.listenQueue(() => {
      deliveries++;
      throw new NoRetryError("bad message");
    });
    try {
      await kv.enqueue("x", { backoffSchedule: [1000, 1000], keysIfUndelivered: [["bad"]] });
      await clock.advance(10);
      assert.equal(deliveries, 1);
      assert.equal((await kv.get(["bad"])).value, "x");
    } finally {
      kv.close();
      await listening;
    }
  },
);

backendTest("two queue names on one database are two queues; size and peek", async (ctx) => {
  const clock = new VirtualClock(START);
  const mail = await openOn(ctx, clock, "mail");
  const sms = await openOn(ctx, clock, "sms");
  const got: unknown[] = [];
  try {
    await mail.enqueue("m2", { delay: 2000 });
    await mail.enqueue("m1", { delay: 1000 });
    await sms.enqueue("s1");
    assert.equal(await mail.size(), 2);
    assert.equal(await sms.size(), 1);
    const peeked = await mail.peek(5);
    assert.deepEqual(peeked.map((m) => m.value), ["m1", "m2"]);
    assert.equal(peeked[0].deliverAt.getTime(), clock.now() + 1000);
    assert.equal(peeked[0].failedDeliveries, 0);
    const listening = mail.listenQueue((v) => void got.push(v));
    await clock.advance(5);
    assert.deepEqual(got, ["m1", "m2"]);
    assert.equal(await sms.size(), 1, "the sms message waits for its own listener");
    assert.deepEqual((await sms.peek()).map((m) => m.value), ["s1"]);
    mail.close();
    await listening;
  } finally {
    mail.close();
    sms.close();
  }
});

backendTest("bad input is refused, naming it, and enqueues nothing", async (ctx) => {
  const clock = new VirtualClock(START);
  const kv = await openOn(ctx, clock);
  try {
    await assert.rejects(() => kv.enqueue(new Map()), /value/);
    await assert.rejects(() => kv.enqueue(undefined), /value must be a JSON value.*got undefined/);
    await assert.rejects(() => kv.enqueue(1n), /value/);
    await assert.rejects(() => kv.enqueue(1, { delay: -1 }), /delay must be a whole number/);
    await assert.rejects(
      () => kv.enqueue(1, { backoffSchedule: [100, 1.5] }),
      /backoffSchedule\[1\] must be a whole number.*got 1\.5/,
    );
    await assert.rejects(
      () => kv.enqueue(1, { keysIfUndelivered: [["ok", 1n as never]] }),
      /keysIfUndelivered\[0\]\[1\] must be a string.*bigint/,
    );
    await assert.rejects(() => kv.enqueue(1, { keysIfUndelivered: [[]] }), /at least one part/);
    await assert.rejects(() => kv.enqueue(1, { dely: 5 } as never), /dely/);
    await assert.rejects(() => kv.get("key" as never), /key must be an array/);
    await assert.rejects(() => kv.set(["k"], () => 1), /value/);
    assert.equal(await kv.size(), 0);
    assert.equal((await kv.get(["k"])).value, null);
    const listening = kv.listenQueue(() => {});
    await assert.rejects(() => kv.listenQueue(() => {}), /already has a listener/);
    kv.close();
    await listening;
  } finally {
    kv.close();
  }
  await assert.rejects(
    () => openKvQueue(ctx.target, { ...ctx.options, queue: "" }),
    /queue/,
  );
});

/**
 * The handler both sides run: "ok" succeeds; "flaky" fails its first
 * delivery; "lost" always fails. Records each delivery.
 */
function sharedHandler(log: string[]) {
  return (msg: { name: string }) => {
    log.push(msg.name);
    if (msg.name === "lost") throw new Error("always fails");
    if (msg.name === "flaky" && log.filter((n) => n === "flaky").length === 1) {
      throw new Error("fails once");
    }
  };
}

/** What the comparison looks at: deliveries per message and the undelivered key. */
interface Seen {
  deliveries: Record<string, number>;
  undelivered: unknown;
}

/** Something with Deno KV's queue API: Deno.Kv or our KvQueue. */
interface QueueApi {
  enqueue(
    value: unknown,
    options?: { keysIfUndelivered?: string[][]; backoffSchedule?: number[] },
  ): Promise<unknown>;
  listenQueue(handler: (value: { name: string }) => unknown): Promise<void>;
  get(key: string[]): Promise<{ value: unknown }>;
}

/** Runs the scenario on `kv` (real time, 10 ms backoffs) until every message is settled. */
async function scenario(kv: QueueApi, listening: Promise<void>[]): Promise<Seen> {
  const log: string[] = [];
  listening.push(kv.listenQueue(sharedHandler(log)));
  const options = { backoffSchedule: [10, 10], keysIfUndelivered: [["undelivered", "lost"]] };
  await kv.enqueue({ name: "ok" }, options);
  await kv.enqueue({ name: "flaky" }, options);
  await kv.enqueue({ name: "lost" }, options);
  await until(async () => (await kv.get(["undelivered", "lost"])).value !== null);
  await until(() => log.filter((n) => n === "flaky").length === 2);
  const deliveries: Record<string, number> = {};
  for (const n of log) deliveries[n] = (deliveries[n] ?? 0) + 1;
  return { deliveries, undelivered: (await kv.get(["undelivered", "lost"])).value };
}

const expected: Seen = { deliveries: { ok: 1, flaky: 2, lost: 3 }, undelivered: { name: "lost" } };

backendTest(
  "the shared handler's deliveries on the facade: success, retry, keysIfUndelivered",
  async (ctx) => {
    const kv = await openKvQueue(ctx.target, ctx.options);
    const listening: Promise<void>[] = [];
    try {
      assert.deepEqual(await scenario(kv as unknown as QueueApi, listening), expected);
    } finally {
      kv.close();
      await Promise.all(listening);
    }
  },
);

const openKv =
  (Deno as unknown as { openKv?: (path: string) => Promise<QueueApi & { close(): void }> })
    .openKv;
if (openKv === undefined) {
  console.log(
    "Deno.openKv is not available (run with --unstable-kv): the comparison with Deno KV is skipped",
  );
}

Deno.test({
  name: "the same handler on Deno.openKv delivers as the facade does",
  ignore: openKv === undefined,
  fn: async () => {
    const kv = await openKv!(":memory:");
    const listening: Promise<void>[] = [];
    try {
      assert.deepEqual(await scenario(kv, listening), expected);
    } finally {
      kv.close();
      await Promise.all(listening);
    }
  },
});
