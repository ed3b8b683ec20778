/** Making a directory read-only for the tests of read-only directories. */

function canCreateIn(dir: string): boolean {
  const probe = `${dir}/.gigq-probe-${crypto.randomUUID()}`;
  try {
    Deno.writeTextFileSync(probe, "");
  } catch {
    return false;
  }
  Deno.removeSync(probe);
  return true;
}

/**
 * Makes `dir` read-only: no file can be created in it (its files stay
 * writable). Root ignores file modes, so for root the directory is made
 * immutable (`chattr +i`) instead. Returns how to undo it, or why it cannot
 * be done here (the caller skips its test and says so).
 */
export async function makeDirReadOnly(
  dir: string,
): Promise<{ undo: () => Promise<void> } | string> {
  await Deno.chmod(dir, 0o555);
  const undoMode = () => Deno.chmod(dir, 0o755);
  if (!canCreateIn(dir)) return { undo: undoMode };
  let chattr: Deno.CommandOutput;
  try {
    chattr = await new Deno.Command("chattr", { args: ["+i", dir], stderr: "piped" }).output();
  } catch (error) {
    await undoMode();
    return `running as root, where chmod 0555 does not stop writes, and chattr is missing (${
      (error as Error).message
    })`;
  }
  const undo = async () => {
    await new Deno.Command("chattr", { args: ["-i", dir] }).output();
    await undoMode();
  };
  if (!chattr.success || canCreateIn(dir)) {
    await undo();
    return `running as root, where chmod 0555 does not stop writes, and chattr +i failed (${
      new TextDecoder().decode(chattr.stderr).trim()
    })`;
  }
  return { undo };
}
