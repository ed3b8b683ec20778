/**
 * A task for the cross-process limit tests: each attempt appends when it
 * started and ended (epoch ms, sub-millisecond) and its key to the file
 * named by GIGQ_LIMIT_LOG, one JSON line each.
 */
import { task } from "../../mod.ts";

const log = Deno.env.get("GIGQ_LIMIT_LOG");

export const held = task("held", async (p: { key?: string; ms?: number }) => {
  const start = performance.timeOrigin + performance.now();
  await new Promise((r) => setTimeout(r, p.ms ?? 30));
  const end = performance.timeOrigin + performance.now();
  if (log !== undefined) {
    Deno.writeTextFileSync(log, JSON.stringify({ key: p.key ?? "", start, end }) + "\n", {
      append: true,
    });
  }
  return null;
});
