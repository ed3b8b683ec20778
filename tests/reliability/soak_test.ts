/**
 * The soak suite at CI size: a worker process runs 100,000 no-op jobs and its
 * RSS, printed every 10,000, stays flat (the full size, 1,000,000 jobs, is
 * `deno task soak`; see soak.ts).
 */
import assert from "node:assert/strict";
import { tempDb } from "../_helpers.ts";
import { mib } from "./_common.ts";
import { rssBaseline, rssGrowth, runSoak, soakSummary } from "./soak.ts";

/** A generous bound: a leak of a few hundred bytes per job would exceed it. */
const MAX_GROWTH = 30 * 1_048_576;

Deno.test("soak suite: a worker's RSS stays flat over 100,000 jobs", async () => {
  const db = await tempDb("soak.db");
  try {
    const report = await runSoak({
      path: db.path,
      jobs: 100_000,
      every: 10_000,
      concurrency: 16,
      driver: "node",
      limitMs: 300_000, // only catches a hang
      log: () => {},
    });
    console.log(soakSummary(report));
    assert.deepEqual(report.workerErrors, []);
    assert.equal(report.readings.length, 10, soakSummary(report));
    assert.ok(
      rssGrowth(report) <= MAX_GROWTH,
      `RSS grew ${mib(rssGrowth(report))} MiB after ${rssBaseline(report).processed} jobs ` +
        `(limit ${mib(MAX_GROWTH)}): ${soakSummary(report)}`,
    );
  } finally {
    await db.cleanup();
  }
});
