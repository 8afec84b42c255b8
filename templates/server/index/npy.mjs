/**
 * NumPy `.npy` (format versions 1-3) for feature vectors: little-endian float32 or float64, C
 * order, read into a Float32Array. The header is a Python dict literal, parsed by a strict pattern
 * (never evaluated). The writer emits what `numpy.save` writes for a float32 array.
 */
import { IndexFormatError } from './errors.mjs';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
/** Largest array read (4 GiB of float32). */
export const MAX_NPY_ELEMENTS = 2 ** 30;

/**
 * @param {Uint8Array} bytes
 * @returns {{ shape: number[], data: Float32Array, dtype: 'float32' | 'float64' }}
 */
export function readNpy(bytes) {
  const fail = (code, msg, at) => { throw new IndexFormatError(code, msg, at); };
  if (bytes.length < 10 || MAGIC.some((m, i) => bytes[i] !== m)) fail('E_NPY_FORMAT', 'not a .npy file (no \\x93NUMPY magic)', 0);
  const major = bytes[6];
  if (major < 1 || major > 3) fail('E_NPY_FORMAT', `.npy format version ${major} (1 to 3 are read)`, 6);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lenSize = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lenSize) fail('E_NPY_TRUNCATED', '.npy ends inside its header length', 8);
  const hlen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const start = 8 + lenSize;
  if (hlen > 1 << 20 || start + hlen > bytes.length) fail('E_NPY_TRUNCATED', `.npy header of ${hlen} bytes does not fit the file`, 8);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + hlen));
  const m = /^\{\s*'descr':\s*'([<>|=]?)(f4|f8)',\s*'fortran_order':\s*(False|True),\s*'shape':\s*\(([\d,\s]*)\),?\s*\}\s*$/.exec(header);
  if (!m) fail('E_NPY_DTYPE', `.npy header ${JSON.stringify(header.trim().slice(0, 120))}: expected a float32 or float64 array ({'descr': '<f4', 'fortran_order': False, 'shape': (...)})`, start);
  if (m[1] === '>') fail('E_NPY_DTYPE', 'big-endian .npy arrays are not read', start);
  if (m[3] === 'True') fail('E_NPY_DTYPE', 'Fortran-order .npy arrays are not read (save with numpy.ascontiguousarray)', start);
  const shape = m[4].split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  if (!Number.isSafeInteger(count) || count > MAX_NPY_ELEMENTS) fail('E_NPY_TOO_LARGE', `.npy array of shape (${shape.join(', ')}) is above the limit of ${MAX_NPY_ELEMENTS} elements`, start);
  const size = m[2] === 'f4' ? 4 : 8;
  const off = start + hlen;
  if (bytes.length - off !== count * size) fail('E_NPY_TRUNCATED', `.npy of shape (${shape.join(', ')}) needs ${count * size} data bytes, has ${bytes.length - off}`, off);
  const data = new Float32Array(count);
  if (size === 4) for (let i = 0; i < count; i++) data[i] = dv.getFloat32(off + 4 * i, true);
  else for (let i = 0; i < count; i++) data[i] = dv.getFloat64(off + 8 * i, true);
  return { shape, data, dtype: size === 4 ? 'float32' : 'float64' };
}

/**
 * numpy.save of a C-order float32 array (format 1.0, header padded to 64 bytes).
 * @param {Float32Array} data @param {number[]} shape
 * @returns {Uint8Array}
 */
export function writeNpy(data, shape) {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new RangeError(`shape (${shape.join(', ')}) holds ${count} values, data has ${data.length}`);
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + 4 * count);
  out.set(MAGIC, 0); out[6] = 1; out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  const dv = new DataView(out.buffer, 10 + header.length);
  for (let i = 0; i < count; i++) dv.setFloat32(4 * i, data[i], true);
  return out;
}
