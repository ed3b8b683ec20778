/**
 * The options {@linkcode Worker} and {@linkcode WorkerPool} share, checked in
 * one place so that both refuse the same bad values with the same words.
 *
 * @module
 */
import { DEFAULT_MAX_PAYLOAD_BYTES } from "./_json.ts";
import { integer, MAX_TIMEOUT_SECONDS, queueName, seconds } from "./_validate.ts";
import { describe } from "./job_status.ts";
import type { Logger } from "./worker.ts";

/** The shared options as given. */
export interface SharedWorkerOptions {
  concurrency?: number;
  pollInterval?: number;
  lease?: number;
  timeoutGrace?: number;
  watch?: boolean;
  maxPayloadBytes?: number;
  logger?: Logger;
  queues?: readonly string[];
  prune?: boolean;
  pruneInterval?: number;
}

/** The shared options, checked, with their defaults, in milliseconds where timed. */
export interface CheckedWorkerOptions {
  concurrency: number;
  pollMs: number;
  leaseMs: number;
  graceMs: number;
  watch: boolean;
  maxPayload: number;
  /** `undefined`: the caller's default logger. */
  logger: Logger | undefined;
  /** `undefined`: every queue. */
  queues: readonly string[] | undefined;
  /** Whether to delete ended jobs past their queue's retention, in the background. */
  prune: boolean;
  /** How often, in milliseconds (each time within ±50% of it). */
  pruneMs: number;
}

/** The queues a worker serves, checked: a non-empty array of queue names, each once. */
export function checkQueues(context: string, queues: unknown): readonly string[] | undefined {
  if (queues === undefined) return undefined;
  if (!Array.isArray(queues) || queues.length === 0) {
    throw new TypeError(
      `${context}: queues must be a non-empty array of queue names (leave it out for every ` +
        `queue), got ${describe(queues)}`,
    );
  }
  const names = queues.map((q, i) => queueName(context, `queues[${i}]`, q));
  return Object.freeze([...new Set(names)]);
}

/** Checks the shared options; throws a RangeError or TypeError naming the bad value. */
export function checkWorkerOptions(
  context: string,
  options: SharedWorkerOptions,
): CheckedWorkerOptions {
  const watch = options.watch ?? true;
  if (typeof watch !== "boolean") {
    throw new TypeError(`${context}: watch must be true or false, got ${describe(watch)}`);
  }
  const prune = options.prune ?? true;
  if (typeof prune !== "boolean") {
    throw new TypeError(`${context}: prune must be true or false, got ${describe(prune)}`);
  }
  const logger = options.logger;
  if (logger !== undefined && typeof logger !== "function") {
    throw new TypeError(`${context}: logger must be a function, got ${describe(logger)}`);
  }
  return {
    concurrency: integer(context, "concurrency", options.concurrency ?? 1, 1, 10_000),
    pollMs: 1000 * seconds(context, "pollInterval", options.pollInterval ?? 5, {
      min: 0,
      max: 86_400,
      minExclusive: true,
    }),
    leaseMs: 1000 * seconds(context, "lease", options.lease ?? 30, {
      min: 0,
      max: 86_400,
      minExclusive: true,
    }),
    graceMs: 1000 * seconds(context, "timeoutGrace", options.timeoutGrace ?? 5, {
      min: 0,
      max: MAX_TIMEOUT_SECONDS,
      minExclusive: false,
    }),
    watch,
    maxPayload: integer(
      context,
      "maxPayloadBytes",
      options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
      2,
      1_073_741_824,
    ),
    logger,
    queues: checkQueues(context, options.queues),
    prune,
    pruneMs: 1000 * seconds(context, "pruneInterval", options.pruneInterval ?? 60, {
      min: 0,
      max: 86_400,
      minExclusive: true,
    }),
  };
}
