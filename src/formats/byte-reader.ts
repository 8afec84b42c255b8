import { PserveError } from '../errors.js';

/**
 * A little-endian reader over bytes that checks bounds BEFORE every read and always knows its
 * offset, so that every error can say where the file went wrong.
 */
export class ByteReader {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  pos: number;
  readonly end: number;
  /** added to `pos` in messages, when these bytes are a window into a larger file */
  readonly base: number;
  readonly what: string;

  constructor(bytes: Uint8Array, what: string, start = 0, end = bytes.length, base = 0) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = start;
    this.end = end;
    this.base = base;
    this.what = what;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  get offset(): number {
    return this.base + this.pos;
  }

  need(n: number, field: string): void {
    if (n < 0 || n > this.end - this.pos) {
      throw new PserveError('E_TRUNCATED', `${this.what}: ${field} needs ${n} bytes but only ${this.end - this.pos} remain`, { offset: this.offset });
    }
  }

  u8(field: string): number {
    this.need(1, field);
    return this.bytes[this.pos++]!;
  }

  u32(field: string): number {
    this.need(4, field);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  i32(field: string): number {
    this.need(4, field);
    const v = this.view.getInt32(this.pos, true);
    this.pos += 4;
    return v;
  }

  u64(field: string): bigint {
    this.need(8, field);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** A view (not a copy) of the next n bytes. */
  take(n: number, field: string): Uint8Array {
    this.need(n, field);
    const v = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
}
