/**
 * Every mapper of the native ONNX engine has a test of its own (issue 10): at least one of its op
 * spellings is named, quoted, in some test file. A mapper added without one fails here, listed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAPPERS } from '../src/convert/onnx/registry.js';

const here = fileURLToPath(new URL('.', import.meta.url));

describe('native ONNX mapper coverage', () => {
  it('every registered mapper has one of its op spellings named in a test file', () => {
    const self = fileURLToPath(import.meta.url);
    const text = readdirSync(here).filter((f) => f.endsWith('.ts')).map((f) => join(here, f)).filter((f) => f !== self)
      .map((f) => readFileSync(f, 'utf8')).join('\n');
    const quoted = (op: string) => new RegExp(`['"\`]${op.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}['"\`]`).test(text);
    expect(MAPPERS.length).toBeGreaterThan(100);
    const untested = MAPPERS.filter((m) => !m.types.some(quoted)).map((m) => m.types.join('/'));
    expect(untested, `mappers no test names: ${untested.join(', ')}`).toEqual([]);
  });
});
