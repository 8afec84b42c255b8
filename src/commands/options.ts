/** Shared zod helpers for validating command options: a failure is a usage error (exit 2). */
import { z } from 'zod/v3';
import { PserveError } from '../errors.js';

export function parseOptions<T extends z.ZodType>(schema: T, opts: Record<string, unknown>, command: string): z.infer<T> {
  const r = schema.safeParse(opts);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const where = issue.path.length ? `--${issue.path.join('.')}` : 'options';
    throw new PserveError('E_USAGE', `pserve ${command}: ${where}: ${wording(issue)}`, { kind: 'usage' });
  }
  return r.data;
}

export { z };

/** zod's default wording, said the way a CLI user thinks of flags; custom messages pass through. */
function wording(issue: z.ZodIssue): string {
  if (issue.code === 'invalid_type') {
    if (issue.received === 'undefined') return issue.message === 'Required' ? 'is required' : issue.message;
    if (issue.received === 'nan') return 'expected a number';
    if (/^Expected /.test(issue.message)) return `expected ${issue.expected}, got ${issue.received}`;
  }
  if (issue.code === 'invalid_enum_value' && /^Invalid enum value/.test(issue.message)) return `expected one of ${issue.options.join(', ')}, got "${String(issue.received)}"`;
  return issue.message;
}
