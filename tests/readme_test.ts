/**
 * The README's code runs as written: every ```ts block type-checks and runs
 * (and prints what its `console.log(…); // …` comments say), the `deno.json`
 * it tells users to write holds the repository's permission flags, and the
 * `deno task …` commands of its sh and console blocks run, offline.
 */
import assert from "node:assert/strict";
import { POSTGRES_URL, withPostgres } from "./_backends.ts";
import { tempDb } from "./_helpers.ts";

const REPO = new URL("..", import.meta.url);
const README = await Deno.readTextFile(new URL("README.md", REPO));
const CONFIG = JSON.parse(await Deno.readTextFile(new URL("deno.json", REPO)));
const EXAMPLES_TEST = await Deno.readTextFile(new URL("tests/examples_test.ts", REPO));

/** The specifier the README's users run the CLI with, and the import map's target. */
const JSR = "jsr:@gigq/gigq@^0.1";

interface Block {
  lang: string;
  code: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The `##` heading the block is under. */
  section: string;
  /** Why it is not run, from a `<!-- readme-test: skip: … -->` line before it. */
  skip?: string;
}

function blocks(markdown: string): Block[] {
  const lines = markdown.split("\n");
  const found: Block[] = [];
  let section = "";
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].startsWith("## ")) section = lines[i].slice(3).trim();
    const open = lines[i].match(/^```(\S*)\s*$/);
    if (open === null) continue;
    let end = i + 1;
    while (end < lines.length && !/^```\s*$/.test(lines[end])) end++;
    let before = i - 1;
    while (before >= 0 && lines[before].trim() === "") before--;
    const skip = lines[before]?.match(/^<!-- readme-test: skip: (.+) -->$/)?.[1];
    found.push({
      lang: open[1],
      code: lines.slice(i + 1, end).join("\n") + "\n",
      line: i + 1,
      section,
      skip,
    });
    i = end;
  }
  return found;
}

const ALL = blocks(README);
const ts = ALL.filter((b) => b.lang === "ts");
const USER_SECTION = "Use it in your project";

/**
 * What a block prints, from its `console.log(x); // shown` lines: a comment
 * that is a JSON string is the text printed, anything else is what
 * `Deno.inspect` shows. Compared without whitespace (Deno breaks long objects
 * over lines).
 */
function expectedOutput(code: string): string | undefined {
  const shown: string[] = [];
  for (const line of code.split("\n")) {
    if (!/^\s*console\.log\(/.test(line)) continue;
    const comment = line.match(/\);\s*\/\/\s*(.+)$/)?.[1];
    if (comment === undefined) return undefined;
    shown.push(comment.startsWith('"') ? JSON.parse(comment) : comment);
  }
  return shown.join("\n");
}

const squash = (text: string) => text.replace(/\s+/g, "");

/** The server the README's PostgreSQL examples name; the tests swap in theirs. */
const README_SERVER = "postgres://postgres@127.0.0.1:5432/test";

/**
 * `code` (a block, or a command line) on the test server, every schema it
 * names replaced by `schema` — undefined when there is no server (the block
 * is then not run). Code that names no PostgreSQL URL is returned as it is.
 */
function onTestServer(code: string, schema: string): string | undefined {
  if (!code.includes("postgres://")) return code;
  if (POSTGRES_URL === undefined) return undefined;
  return code.replaceAll(README_SERVER, POSTGRES_URL)
    .replace(/schema=(\w+)/g, (_, name) => `schema=${schema}_${name}`)
    .replace(/const schema = "(\w+)"/g, (_, name) => `const schema = "${schema}_${name}"`);
}

/** A fresh prefix for one test's PostgreSQL schemas, and their removal. */
function readmeSchema(): { name: string; drop(): Promise<void> } {
  const name = `gigq_readme_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  return {
    name,
    drop: async () => {
      if (POSTGRES_URL === undefined) return;
      await withPostgres(`${POSTGRES_URL}?schema=${name}`, async (sql) => {
        const rows =
          await sql`SELECT nspname FROM pg_namespace WHERE starts_with(nspname, ${name})`;
        for (const r of rows) await sql.unsafe(`DROP SCHEMA IF EXISTS "${r.nspname}" CASCADE`);
      });
    },
  };
}

/** A directory set up like a user's project: an import map naming this checkout. */
async function userProject(dir: string): Promise<void> {
  const config = {
    imports: {
      "@gigq/gigq": new URL("mod.ts", REPO).href,
      "@gigq/gigq/cli": new URL("src/cli/main.ts", REPO).href,
      "@gigq/gigq/postgres": new URL("postgres.ts", REPO).href,
      "@gigq/gigq/testing": new URL("testing.ts", REPO).href,
      "@gigq/gigq/kv": new URL("kv.ts", REPO).href,
    },
    compilerOptions: CONFIG.compilerOptions,
  };
  await Deno.writeTextFile(`${dir}/deno.json`, JSON.stringify(config, null, 2));
}

async function run(
  cmd: string,
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(cmd, {
    args,
    cwd,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("README.md: every ts block type-checks and runs, printing what its comments say", async (t) => {
  assert.ok(ts.length >= 4, `found only ${ts.length} ts blocks`);
  for (const block of ts) {
    await t.step(`the ts block at line ${block.line} (${block.section})`, async () => {
      if (block.skip !== undefined) {
        // A skipped block must be backed by an example the tests run.
        const example = block.skip.match(/examples\/\w+\.ts/)?.[0];
        assert.ok(example, `the skip at line ${block.line} names no examples/ file`);
        assert.ok(
          EXAMPLES_TEST.includes(example.slice("examples/".length)),
          `${example} is not run by tests/examples_test.ts`,
        );
        return;
      }
      const schema = readmeSchema();
      const code = onTestServer(block.code, schema.name);
      if (code === undefined) return; // a PostgreSQL example, and no server
      const db = await tempDb();
      try {
        await userProject(db.dir);
        await Deno.writeTextFile(`${db.dir}/block.ts`, code);
        const r = await run(
          Deno.execPath(),
          [
            "run",
            "--check",
            "--allow-read",
            "--allow-write",
            "--allow-env",
            "--allow-net",
            "block.ts",
          ],
          db.dir,
        );
        assert.equal(r.code, 0, `line ${block.line}:\n${r.stdout}${r.stderr}`);
        const expected = expectedOutput(block.code);
        if (expected !== undefined) {
          assert.equal(
            squash(r.stdout),
            squash(expected),
            `line ${block.line} printed:\n${r.stdout}`,
          );
        }
      } finally {
        await db.cleanup();
        await schema.drop();
      }
    });
  }
});

/** The README's deno.json for users, parsed. */
function userConfig(): { imports: Record<string, string>; tasks: Record<string, string> } {
  const json = ALL.filter((b) => b.lang === "json" && b.section === USER_SECTION);
  assert.equal(json.length, 1, "one deno.json in the section");
  return JSON.parse(json[0].code);
}

Deno.test("README.md: the deno.json it shows users has the repository's tasks and permission flags", () => {
  const user = userConfig();
  assert.deepEqual(user.imports, { "@gigq/gigq": JSR });
  const [major, minor] = CONFIG.version.split(".");
  assert.equal(
    `^${major}.${minor}`,
    JSR.split("@").at(-1),
    "the range matches deno.json's version",
  );
  for (const name of ["gigq", "worker"]) {
    assert.equal(
      user.tasks[name],
      CONFIG.tasks[name].replace("src/cli/main.ts", `${JSR}/cli`),
      `the ${name} task`,
    );
  }
  assert.equal(CONFIG.exports["./cli"], "./src/cli/main.ts");
});

/**
 * The runnable command lines of the sh and console blocks: `deno task` with a
 * task of this project, no placeholder (`<id>`, `[--db PATH]`, an id from an
 * example, `…`), no pipe or redirection, and no worker without `--once`,
 * dashboard or MCP server (they run until a signal).
 */
function commands(block: Block): string[] {
  const found: string[] = [];
  for (let line of block.code.split("\n")) {
    if (block.lang === "console") {
      if (!line.startsWith("$ ")) continue;
      line = line.slice(2);
    }
    line = line.replace(/\s+#\s.*$/, "").trim().replace(/^npx -y deno@[\d.]+ /, "deno ");
    const task = line.match(/^deno task (\S+)/)?.[1];
    if (task === undefined || !["demo", "gigq", "worker"].includes(task)) continue;
    if (/[<>[\]|…]|\$\(|[0-9a-f]{8}-[0-9a-f]{4}-/.test(line)) continue;
    if (task === "worker" && !line.includes("--once")) continue;
    // Servers that run until a signal.
    if (task === "gigq" && /\s(dashboard|mcp)(\s|$)/.test(line)) continue;
    found.push(line);
  }
  return found;
}

/** Splits a command line on spaces (the README quotes only whole words, in double quotes). */
const argv = (line: string) => line.split(/\s+/).slice(1).map((a) => a.replace(/^"(.*)"$/, "$1"));

Deno.test("README.md: the deno task commands of its sh and console blocks run", async (t) => {
  const shell = ALL.filter((b) => b.lang === "sh" || b.lang === "console");
  const project = await tempDb();
  const checkout = await tempDb();
  const schema = readmeSchema();
  try {
    // The user's project: the README's deno.json and tasks.ts, with JSR swapped for this checkout.
    const user = userConfig();
    const tasks = Object.fromEntries(
      Object.entries(user.tasks).map((
        [k, v],
      ) => [k, v.replace(`${JSR}/cli`, new URL("src/cli/main.ts", REPO).pathname)]),
    );
    await Deno.writeTextFile(
      `${project.dir}/deno.json`,
      JSON.stringify({ imports: { "@gigq/gigq": new URL("mod.ts", REPO).href }, tasks }),
    );
    const tasksTs = ts.find((b) => b.section === USER_SECTION && b.code.startsWith("// tasks.ts"));
    assert.ok(tasksTs, "the section shows a tasks.ts");
    await Deno.writeTextFile(`${project.dir}/tasks.ts`, tasksTs.code);
    // This repository, copied: `deno task` runs where deno.json is, and the
    // commands create files (gigq.db, backups) there.
    const entries = [...Deno.readDirSync(REPO)].filter((e) => e.isFile && e.name.endsWith(".ts"));
    for (const item of ["deno.json", ...entries.map((e) => e.name), "src", "examples"]) {
      await run("cp", ["-R", new URL(item, REPO).pathname, checkout.dir], checkout.dir);
    }
    let ran = 0;
    for (const block of shell) {
      const dir = block.section === USER_SECTION ? project.dir : checkout.dir;
      for (const shown of commands(block)) {
        const line = onTestServer(shown, schema.name);
        if (line === undefined) continue; // a PostgreSQL command, and no server
        await t.step(`line ${block.line}: ${shown}`, async () => {
          const r = await run(Deno.execPath(), argv(line), dir);
          assert.equal(r.code, 0, `${line}:\n${r.stdout}${r.stderr}`);
          // `deno task` names the task on stderr; nothing else may be there.
          const stderr = r.stderr.split("\n").filter((l) => l !== "" && !l.startsWith("Task "));
          assert.deepEqual(stderr, [], line);
        });
        ran++;
      }
    }
    assert.ok(ran >= 8, `only ${ran} commands ran`);
  } finally {
    await project.cleanup();
    await checkout.cleanup();
    await schema.drop();
  }
});
