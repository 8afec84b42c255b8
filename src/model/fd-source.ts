import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { fsError } from '../errors.js';
import type { RandomAccess } from '../formats/pdiparams.js';

/** RandomAccess over an open file: positioned reads, nothing loaded that is not asked for. */
export class FdSource implements RandomAccess {
  readonly fd: number;
  readonly size: number;

  constructor(readonly file: string) {
    try {
      this.fd = openSync(file, 'r');
      this.size = fstatSync(this.fd).size;
    } catch (e) {
      throw fsError(e, file, 'params file');
    }
  }

  read(offset: number, length: number): Uint8Array {
    const out = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, out, done, length - done, offset + done);
      if (n === 0) break;
      done += n;
    }
    return done === length ? out : out.subarray(0, done);
  }

  close(): void {
    closeSync(this.fd);
  }
}

export function withSource<T>(file: string, fn: (src: FdSource) => T): T {
  const src = new FdSource(file);
  try {
    return fn(src);
  } finally {
    src.close();
  }
}
