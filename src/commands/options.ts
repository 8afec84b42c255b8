/** Shared zod helpers for validating command options: a failure is a usage error (exit 2). */
import { z } from 'zod/v3';
import { PserveError } from '../errors.js';

export function parseOptions<T extends z.ZodType>(schema: T, opts: Record<string, unknown>, command: string): z.infer<T> {
  const r = schema.safeParse(opts);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const where = issue.path.length ? `--${issue.path.join('.')}` : 'options';
    throw new PserveError('E_USAGE', `pserve ${command}: ${where}: ${issue.message}`, { kind: 'usage' });
  }
  return r.data;
}

export { z };
