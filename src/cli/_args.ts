/** Command-line parsing for the CLI, on `node:util` parseArgs. */
import { parseArgs } from "node:util";

/** A bad command line: the CLI exits 2. */
export class UsageError extends Error {
  /** @param message what is wrong and what is allowed */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** An operation that could not be done (unknown job, nothing to cancel): the CLI exits 1. */
export class OperationError extends Error {
  /** @param message what failed */
  constructor(message: string) {
    super(message);
    this.name = "OperationError";
  }
}

/** One option a command accepts. */
export interface OptionSpec {
  /** A flag (`boolean`) or an option with a value (`string`). */
  type: "string" | "boolean";
  /** A one-letter alias. */
  short?: string;
  /** May be given several times; the values are collected in order. */
  multiple?: boolean;
}

/** Options by long name (kebab-case, without the dashes). */
export type OptionSpecs = Record<string, OptionSpec>;

/** A parsed command line. */
export interface Parsed {
  /** Option values by long name; `string[]` for `multiple` options. */
  values: Record<string, string | boolean | string[] | undefined>;
  /** The positional arguments, in order. */
  positionals: string[];
}

/**
 * Parses `args` against `specs`. Unlike parseArgs' strict mode, every error
 * is one line that names the option and the command's help.
 */
export function parseOptions(args: string[], specs: OptionSpecs, where: string): Parsed {
  const { tokens } = parseArgs({
    args,
    options: specs,
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  const values: Parsed["values"] = {};
  const positionals: string[] = [];
  for (const token of tokens) {
    if (token.kind === "positional") {
      positionals.push(token.value);
      continue;
    }
    if (token.kind !== "option") continue;
    const spec = Object.hasOwn(specs, token.name) ? specs[token.name] : undefined;
    if (spec === undefined) {
      throw new UsageError(
        `unknown option ${JSON.stringify(token.rawName)} (see ${where} --help for the options)`,
      );
    }
    if (spec.type === "boolean") {
      if (token.value !== undefined) {
        throw new UsageError(
          `option --${token.name} takes no value, got ${JSON.stringify(token.value)}`,
        );
      }
      values[token.name] = true;
      continue;
    }
    if (token.value === undefined) {
      throw new UsageError(`option --${token.name} needs a value (see ${where} --help)`);
    }
    if (spec.multiple) {
      const list = (values[token.name] as string[] | undefined) ?? [];
      list.push(token.value);
      values[token.name] = list;
    } else {
      values[token.name] = token.value;
    }
  }
  return { values, positionals };
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Reads a number for `name` (an option like `--priority` or an environment
 * variable). Only decimal notation; the library checks most ranges itself.
 */
export function parseNumber(
  name: string,
  text: string,
  range?: { min: number; max: number; minExclusive?: boolean; integer?: boolean; unit?: string },
): number {
  const value = NUMBER.test(text.trim()) ? Number(text) : NaN;
  let allowed = range?.integer
    ? "a whole number"
    : `a number${range?.unit ? ` of ${range.unit}` : ""}`;
  if (range !== undefined) {
    allowed += range.minExclusive
      ? ` greater than ${range.min} and at most ${range.max}`
      : ` from ${range.min} to ${range.max}`;
  }
  const bad = !Number.isFinite(value) ||
    (range !== undefined && (
      (range.minExclusive ? value <= range.min : value < range.min) || value > range.max ||
      (range.integer === true && !Number.isInteger(value))
    ));
  if (bad) throw new UsageError(`${name} must be ${allowed}, got ${JSON.stringify(text)}`);
  return value;
}

/**
 * Decodes a `--param` value: JSON when it parses, otherwise the text itself.
 * A number is kept only when it prints back as the same text, so `1.10`,
 * `1.0`, `1e5`, `007` and `12345678901234567890` stay strings (a version, an
 * id) instead of becoming `1.1`, `1`, `100000`, ... .
 */
export function parseParamValue(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return text;
  }
  return typeof value === "number" && String(value) !== text ? text : value;
}

/** Collects `KEY=VALUE` pairs into params; a repeated key keeps its last value. */
export function parseParams(pairs: readonly string[]): Record<string, unknown> {
  const entries = new Map<string, unknown>();
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) {
      throw new UsageError(
        `--param needs KEY=VALUE with a non-empty KEY, got ${JSON.stringify(pair)}`,
      );
    }
    const key = pair.slice(0, eq);
    entries.set(key, parseParamValue(pair.slice(eq + 1)));
  }
  return Object.fromEntries(entries);
}

/** The longest queue name the library takes (its `queueName` check). */
const MAX_QUEUE_NAME = 128;
/** The longest unique key the library takes. */
const MAX_UNIQUE_KEY = 1000;

/** A value in a message: quoted, or its length when it is long. */
function shown(text: string): string {
  return text.length > 200 ? `a text of ${text.length} characters` : JSON.stringify(text);
}

/**
 * Checks a queue name given as `name` (`--queue`, `<queue>`) as the library
 * would, so that a bad one is a usage error naming where it came from, before
 * any database is opened.
 */
export function parseQueueName(name: string, text: string): string {
  if (
    text.trim() === "" || text.length > MAX_QUEUE_NAME || text.includes("\0") ||
    !text.isWellFormed()
  ) {
    throw new UsageError(
      `${name} must be a queue name of 1 to ${MAX_QUEUE_NAME} characters, not blank, without ` +
        `a NUL (\\u0000) or a lone surrogate, got ${shown(text)}`,
    );
  }
  return text;
}

/** Checks a `--unique-key` value as the library would (1 to 1,000 characters, no NUL). */
export function parseUniqueKey(name: string, text: string): string {
  if (
    text === "" || text.length > MAX_UNIQUE_KEY || text.includes("\0") || !text.isWellFormed()
  ) {
    throw new UsageError(
      `${name} must be 1 to ${MAX_UNIQUE_KEY} characters, without a NUL (\\u0000) or a lone ` +
        `surrogate, got ${shown(text)}`,
    );
  }
  return text;
}
