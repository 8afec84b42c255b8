#!/usr/bin/env node
// Prints the README's ONNX op-coverage table (markdown) from the native engine's mapper registry,
// so the table can never drift from the code. Needs a build (dist/): `npx tsc -p . && node scripts/op-coverage.mjs`.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const registry = fileURLToPath(new URL('../dist/convert/onnx/registry.js', import.meta.url));
if (!existsSync(registry)) {
  process.stderr.write('op-coverage: dist/ is missing; run `npx tsc -p .` first\n');
  process.exit(1);
}
const { MAPPERS, KNOWN_UNSUPPORTED } = await import(registry);

const rows = MAPPERS.map((m) => ({
  ops: [...m.types].sort(),
  opset: m.minOpset ?? 11,
  note: m.note ?? '',
})).sort((a, b) => (a.ops[0] < b.ops[0] ? -1 : 1));

const lines = [];
lines.push(`Native engine (\`pserve onnx --engine native\`): ${rows.reduce((s, r) => s + r.ops.length, 0)} Paddle op spellings (legacy and PIR) in ${rows.length} mappers; opsets 11-17, default 13.`);
lines.push('');
lines.push('| Paddle ops | min opset | Paddle semantics handled |');
lines.push('|---|---|---|');
for (const r of rows) lines.push(`| ${r.ops.map((o) => `\`${o}\``).join(', ')} | ${r.opset} | ${r.note.replace(/\|/g, '\\|')} |`);
lines.push('');
lines.push('Reported, not converted (the error lists every such op with its count, and nothing is written):');
lines.push('');
lines.push('| Paddle op | why |');
lines.push('|---|---|');
for (const [op, why] of Object.entries(KNOWN_UNSUPPORTED).sort()) lines.push(`| \`${op}\` | ${why} |`);
process.stdout.write(`${lines.join('\n')}\n`);
