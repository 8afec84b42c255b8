/**
 * What must be undone when the user interrupts a command (Ctrl-C, SIGTERM): temp outputs to remove,
 * child processes to stop. Registered by the layers that create them, run by the CLI's signal
 * handler just before it exits. Each cleanup is synchronous: a signal handler cannot wait.
 */
const cleanups = new Set<() => void>();

/** Register a cleanup; the returned function unregisters it (call it once the thing is committed). */
export function onInterrupt(fn: () => void): () => void {
  cleanups.add(fn);
  return () => { cleanups.delete(fn); };
}

/** Run every registered cleanup, newest first; a failing one does not stop the others. */
export function runInterruptCleanups(): void {
  const fns = [...cleanups].reverse();
  cleanups.clear();
  for (const fn of fns) {
    try { fn(); } catch { /* best effort: the process is exiting */ }
  }
}
