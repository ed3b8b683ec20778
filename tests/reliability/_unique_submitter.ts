/**
 * One of several processes submitting jobs with unique keys at once:
 *
 *   deno run -A tests/reliability/_unique_submitter.ts DB DRIVER COUNT KEYS SEED
 *
 * submits COUNT `noop` jobs one by one, each keyed `key:<k>` with k drawn
 * from KEYS keys, and prints a JSON line `{ "inserted": n, "ids": {key: id} }`
 * (the id each submit was given, per key: one id per key across every
 * process if the keys hold).
 */
import { JobQueue } from "../../mod.ts";
import { noop } from "../_tasks.ts";
import { Random } from "./_common.ts";

const [db, driver, count, keys, seed] = Deno.args;
const queue = new JobQueue(db, driver === "" ? {} : { driver: driver as "node" | "ffi" });
const random = new Random(Number(seed));
let inserted = 0;
const ids: Record<string, string[]> = {};
for (let i = 0; i < Number(count); i++) {
  const key = `key:${Math.floor(random.next() * Number(keys))}`;
  const r = await queue.trySubmit(noop.toJob({ n: i }, { uniqueKey: key }));
  if (r.inserted) inserted++;
  (ids[key] ??= []).includes(r.id) || ids[key].push(r.id);
}
queue.close();
console.log(JSON.stringify({ inserted, ids }));
