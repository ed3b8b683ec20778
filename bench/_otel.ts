/**
 * The telemetry case's workload, run in a subprocess (Deno's built-in
 * OpenTelemetry is switched on by the environment, `OTEL_DENO=true`, as a
 * process starts): submits `n` no-op jobs one by one, then one Worker
 * (concurrency 1) runs them all; prints as JSON the seconds both took and
 * the CPU seconds the process spent meanwhile (every thread: the exporter's
 * too), which a shared machine's load disturbs far less.
 *
 * ```sh
 * deno run --allow-all bench/_otel.ts PATH node|ffi|postgres N plain|off|on
 * ```
 *
 * `plain` gives no telemetry option (the code path every existing case
 * runs), `off` gives `telemetry: false`, `on` gives `telemetry: true` (with
 * `OTEL_DENO=true` in the environment, spans and metrics go to its OTLP
 * exporter).
 *
 * @module
 */
import process from "node:process";
import { JobQueue, type JobQueueOptions, Worker } from "../mod.ts";
import { countTo, noop } from "./_tasks.ts";

const [path, driver, count, mode] = Deno.args;
const n = Number(count);
const storage: JobQueueOptions = driver === "postgres" ? {} : { driver: driver as "node" | "ffi" };
const telemetry = mode === "on" ? { telemetry: true } : mode === "off" ? { telemetry: false } : {};

const queue = new JobQueue(path, { ...storage, ...telemetry });
await queue.stats(); // the queue made (and the telemetry module loaded) before the clock starts
const worker = new Worker(path, { tasks: [noop], ...storage, ...telemetry, logger: () => {} });
const t0 = performance.now();
const cpu0 = process.cpuUsage();
for (let i = 0; i < n; i++) await queue.submit(noop.toJob({}));
const all = countTo(n);
const loop = worker.start();
await all;
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
worker.stop();
await loop;
worker.close();
queue.close();
console.log(JSON.stringify({ seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 }));
