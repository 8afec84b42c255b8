/**
 * The one error type of pserve. `code` is stable (scripts match on it); `kind` tells the CLI
 * which exit status to use and whether a retry could help.
 */
export type ErrorKind = 'permanent' | 'transient' | 'usage';

export interface ErrorDetails {
  file?: string;
  offset?: number;
  hint?: string;
  kind?: ErrorKind;
  cause?: unknown;
}

export class PserveError extends Error {
  readonly code: string;
  readonly file?: string;
  readonly offset?: number;
  readonly hint?: string;
  readonly kind: ErrorKind;

  constructor(code: string, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'PserveError';
    this.code = code;
    this.file = details.file;
    this.offset = details.offset;
    this.hint = details.hint;
    this.kind = details.kind ?? 'permanent';
  }

  /** One line for a person: code, where, what. */
  oneLine(): string {
    const where = this.file === undefined ? '' : ` (${this.file}${this.offset === undefined ? '' : ` @ byte ${this.offset}`})`;
    const hint = this.hint ? `; ${this.hint}` : '';
    return `${this.code}: ${this.message}${where}${hint}`;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, file: this.file, offset: this.offset, hint: this.hint, kind: this.kind };
  }
}

export function isPserveError(e: unknown): e is PserveError {
  return e instanceof PserveError;
}

/** Re-throw an error with a file name attached when the thrower could not know it. */
export function withFile(e: unknown, file: string): unknown {
  if (e instanceof PserveError && e.file === undefined) {
    return new PserveError(e.code, e.message, { file, offset: e.offset, hint: e.hint, kind: e.kind, cause: e });
  }
  return e;
}

/** Map a Node fs error to a PserveError naming the file. */
export function fsError(e: unknown, file: string, what: string): PserveError {
  const err = e as NodeJS.ErrnoException;
  if (err && err.code === 'ENOENT') return new PserveError('E_NOT_FOUND', `${what} not found`, { file });
  if (err && err.code === 'EACCES') return new PserveError('E_ACCESS', `${what}: permission denied`, { file });
  if (err && err.code === 'ENOSPC') return new PserveError('E_DISK_FULL', `${what}: no space left on device`, { file });
  if (err && err.code === 'EISDIR') return new PserveError('E_IS_DIR', `${what} is a directory, expected a file`, { file });
  if (err && err.code === 'ENOTDIR') return new PserveError('E_NOT_DIR', `${what}: a path component is not a directory`, { file });
  return new PserveError('E_IO', `${what}: ${err?.message ?? String(e)}`, { file });
}
