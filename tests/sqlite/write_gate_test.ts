import assert from "node:assert/strict";
import {
  enterWriteGate,
  freeWriteGate,
  leaveWriteGate,
  newWriteGate,
  shareWriteGate,
  stopSharingWriteGate,
} from "../../src/sqlite/_write_gate.ts";
import { NodeConnection } from "../../src/sqlite/node_driver.ts";
import { FfiConnection } from "../../src/sqlite/ffi_driver.ts";

const holder = (memory: SharedArrayBuffer) => Atomics.load(new Int32Array(memory), 0);

Deno.test("the write gate: taken and freed by its holder's token only, freed for a thread that is gone", () => {
  assert.equal(enterWriteGate(), false, "no gate shared: nothing to take");
  const memory = newWriteGate();
  shareWriteGate(memory, 7);
  try {
    assert.equal(enterWriteGate(), true);
    assert.equal(holder(memory), 7);
    leaveWriteGate();
    assert.equal(holder(memory), 0);
    // Another thread (token 9) holds it and never leaves: this one goes on without it.
    Atomics.store(new Int32Array(memory), 0, 9);
    assert.equal(enterWriteGate(), false);
    leaveWriteGate();
    assert.equal(holder(memory), 9, "leaving frees only a gate this isolate holds");
    freeWriteGate(memory, 3);
    assert.equal(holder(memory), 9, "the pool frees it only for the thread that holds it");
    freeWriteGate(memory, 9);
    assert.equal(holder(memory), 0);
    assert.equal(enterWriteGate(), true);
    leaveWriteGate();
    assert.throws(() => shareWriteGate(memory, 0), RangeError);
  } finally {
    stopSharingWriteGate();
  }
});

for (
  const [driver, open] of [
    ["node", (p: string) => new NodeConnection(p)],
    ["ffi", (p: string) => new FfiConnection(p)],
  ] as const
) {
  Deno.test(`[${driver}] a write transaction holds the shared gate, a read does not; a throw frees it`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "gigq-gate-" });
    const memory = newWriteGate();
    shareWriteGate(memory, 5);
    const conn = open(`${dir}/q.db`);
    try {
      conn.exec("CREATE TABLE t (x INTEGER)");
      const during = conn.transaction(() => {
        conn.prepare("INSERT INTO t VALUES (1)").run();
        return holder(memory);
      }, "write");
      assert.equal(during, 5);
      assert.equal(holder(memory), 0);
      assert.equal(conn.transaction(() => holder(memory), "read"), 0);
      assert.throws(() =>
        conn.transaction(() => {
          throw new Error("boom");
        }, "write"), /boom/);
      assert.equal(holder(memory), 0);
      // Held elsewhere (a thread that died holding it): the write still goes through.
      Atomics.store(new Int32Array(memory), 0, 8);
      conn.transaction(() => conn.prepare("INSERT INTO t VALUES (2)").run(), "write");
      assert.equal(holder(memory), 8);
      assert.equal(conn.prepare("SELECT count(*) FROM t").values()[0][0], 2);
    } finally {
      stopSharingWriteGate();
      conn.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}
