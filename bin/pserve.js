#!/usr/bin/env node
// Thin entry: everything else is loaded lazily by the command table. Until the command table has
// installed its own handler, an interrupt has nothing to undo: say so and exit as shells expect.
const early = (sig) => {
  if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify({ ok: false, command: null, error: { code: 'E_INTERRUPTED', message: 'interrupted; nothing was written', kind: 'transient', signal: sig } })}\n`);
  process.stderr.write('pserve: interrupted; nothing was written\n');
  process.exit(sig === 'SIGINT' ? 130 : 143);
};
process.once('SIGINT', early);
process.once('SIGTERM', early);
const { main } = await import('../dist/cli/main.js');
process.off('SIGINT', early);
process.off('SIGTERM', early);
main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
