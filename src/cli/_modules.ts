/** Loading task modules named on the command line. */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { isTask, type Task } from "../../mod.ts";
import { OperationError, UsageError } from "./_args.ts";

/**
 * The URL to import for `spec`: URLs and `jsr:`/`npm:` specifiers as given,
 * anything else as a file path relative to `cwd`.
 */
export function moduleUrl(spec: string, cwd: string): string {
  // Two or more letters before the colon, so `C:\tasks.ts` stays a path.
  if (/^[a-zA-Z][a-zA-Z\d+.-]+:/.test(spec)) return spec;
  return pathToFileURL(resolve(cwd, spec)).href;
}

/** Imports `spec`; a failure is one line naming the module. */
export async function importModule(spec: string, cwd: string): Promise<Record<string, unknown>> {
  if (spec.trim() === "") throw new UsageError(`the module path is empty`);
  try {
    return await import(moduleUrl(spec, cwd));
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    const line = text.split("\n").map((l) => l.trim()).filter((l) => l !== "")[0] ?? "";
    throw new OperationError(`cannot import ${JSON.stringify(spec)}: ${line}`);
  }
}

/** A module's export in a message: `42`, `"text"`, `function greet`, `an object`. */
function describe(value: unknown): string {
  if (typeof value === "string") {
    return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  }
  if (typeof value === "function") return `function ${value.name || "(anonymous)"}`;
  if (typeof value === "bigint") return `${value}n`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value !== null && typeof value === "object") {
    const name = Object.getPrototypeOf(value)?.constructor?.name;
    return name && name !== "Object" ? `a ${name}` : "an object";
  }
  return String(value);
}

/** The exports of `mod` that are tasks made by `task()`, by export name. */
export function tasksOf(mod: Record<string, unknown>): Map<string, Task> {
  const found = new Map<string, Task>();
  for (const [name, value] of Object.entries(mod)) if (isTask(value)) found.set(name, value);
  return found;
}

/**
 * Resolves `<module>#<export>` to a task. A missing `#`, a missing export
 * or an export that is not a task is a usage error that lists the module's
 * tasks.
 */
export async function importTask(
  target: string,
  cwd: string,
): Promise<{ module: string; task: Task }> {
  const hash = target.lastIndexOf("#");
  if (hash <= 0 || hash === target.length - 1) {
    throw new UsageError(
      `expected <module>#<export>, for example ./tasks.ts#greet, got ${JSON.stringify(target)}`,
    );
  }
  const spec = target.slice(0, hash);
  const name = target.slice(hash + 1);
  const mod = await importModule(spec, cwd);
  const tasks = tasksOf(mod);
  const known = [...tasks.keys()].join(", ") || "none";
  if (!Object.hasOwn(mod, name)) {
    throw new UsageError(
      `${JSON.stringify(spec)} has no export ${JSON.stringify(name)}; its tasks are: ${known}`,
    );
  }
  const task = tasks.get(name);
  if (task === undefined) {
    throw new UsageError(
      `${JSON.stringify(target)} is ${
        describe(mod[name])
      }, not a task made by task(); the module's tasks are: ${known}`,
    );
  }
  return { module: spec, task };
}

/** Every task exported by each of `specs`, without duplicates. */
export async function importTasks(specs: readonly string[], cwd: string): Promise<Task[]> {
  const all: Task[] = [];
  for (const spec of specs) {
    const tasks = [...tasksOf(await importModule(spec, cwd)).values()];
    if (tasks.length === 0) {
      throw new UsageError(
        `${JSON.stringify(spec)} exports no tasks (a task is a value made by task())`,
      );
    }
    for (const t of tasks) if (!all.includes(t)) all.push(t);
  }
  return all;
}
