/**
 * Several hosts, one PostgreSQL database (see netns.ts): 5,000 jobs over
 * workers in two network namespaces, each completed once; then one host's
 * link cut mid-job: its jobs come back after their lease and complete on the
 * other host, and its late completions change nothing. Needs root, `ip netns`
 * and PostgreSQL's server binaries; elsewhere it is ignored, saying why in
 * one line, unless `GIGQ_TEST_NETNS=required` (as CI sets it): then it fails
 * with the reason. `deno task netns` runs the same outside the test runner.
 */
import assert from "node:assert/strict";
import { netnsProblems, netnsSummary, netnsUnavailable, runNetns } from "./netns.ts";

const why = await netnsUnavailable();
const required = Deno.env.get("GIGQ_TEST_NETNS") === "required";
if (why !== undefined && !required) {
  console.log(`netns test ignored: ${why} (it needs root, ip netns and initdb; CI runs it)`);
}

Deno.test({
  name:
    "[postgres] workers on two hosts (network namespaces): 5,000 jobs each completed once; a host cut off mid-job loses its jobs to the other after their lease, and its late completions are fenced",
  ignore: why !== undefined && !required,
  fn: async () => {
    if (why !== undefined) throw new Error(`GIGQ_TEST_NETNS=required, but ${why}`);
    const report = await runNetns({ jobs: 5000, log: () => {} });
    console.log(netnsSummary(report));
    assert.deepEqual(netnsProblems(report), [], netnsSummary(report));
  },
});
