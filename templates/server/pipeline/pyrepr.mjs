/**
 * Python's str() of the values the seeds' pipeline servers return (FORMATS §8): their clients read
 * `value` strings such as "['daisy']", "[0.9341402053833008]" or
 * "[{'bbox': [345, 95, 524, 576], 'rec_docs': 'Red Bull-Enhanced', 'rec_scores': 0.79903316}]"
 * and `eval` them, so the text must be what CPython and numpy 1.x print.
 *
 * JS numbers have no int/float distinction: an integral JS number prints as a Python int; a value
 * that Python holds as a float is wrapped, PyFloat for a Python float (float64 repr), NpFloat32 for
 * a numpy.float32 scalar (numpy's shortest float32 digits).
 */

/** A Python float: prints as repr(float), e.g. 1.0, 0.9341402053833008, 1e-05. */
export class PyFloat {
  constructor(v) { this.v = Number(v); }
  toJSON() { return this.v; }
}

/** A numpy.float32 scalar: prints as numpy 1.x does, e.g. 0.79903316 (shortest float32 round trip). */
export class NpFloat32 {
  constructor(v) { this.v = Math.fround(Number(v)); }
  toJSON() { return this.v; }
}

/**
 * CPython's float formatting from a digit string and a decimal exponent (value = 0.d1d2... x 10^exp10
 * in the form d1.d2... x 10^e): positional for 1e-4 <= |x| < 1e16, else d.ddde+XX with at least two
 * exponent digits (float_repr_style 'short'); numpy's scalar str follows the same switch points.
 */
function formatDigits(negative, digits, e, scientific = e < -4 || e >= 16) {
  const sign = negative ? '-' : '';
  if (scientific) {
    const mant = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const ex = Math.abs(e) < 10 ? `0${Math.abs(e)}` : String(Math.abs(e));
    return `${sign}${mant}e${e < 0 ? '-' : '+'}${ex}`;
  }
  if (e < 0) return `${sign}0.${'0'.repeat(-e - 1)}${digits}`;
  if (digits.length <= e + 1) return `${sign}${digits}${'0'.repeat(e + 1 - digits.length)}.0`;
  return `${sign}${digits.slice(0, e + 1)}.${digits.slice(e + 1)}`;
}

/** digits and exponent of a number's decimal form with `sig` significant digits (undefined: shortest for float64) */
function splitExp(x, sig) {
  const s = sig === undefined ? Math.abs(x).toExponential() : Math.abs(x).toExponential(sig - 1);
  const m = /^(\d)(?:\.(\d+))?e([-+]\d+)$/.exec(s);
  const digits = (m[1] + (m[2] ?? '')).replace(/0+$/, '') || '0';
  return { digits, e: Number(m[3]) };
}

function special(x) {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  return null;
}

/** repr() of a Python float (float64): the shortest digits that read back to the same double. */
export function pyFloatRepr(x) {
  const sp = special(x);
  if (sp) return sp;
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const { digits, e } = splitExp(x);
  return formatDigits(x < 0, digits, e);
}

/** str() of a numpy.float32 scalar (numpy 1.x): the shortest digits that read back to the same float32. */
export function npFloat32Repr(x) {
  const f = Math.fround(x);
  const sp = special(f);
  if (sp) return sp;
  if (f === 0) return Object.is(f, -0) ? '-0.0' : '0.0';
  // numpy switches to scientific on the value (|x| < 1e-4 or >= 1e16), not on its shortest digits
  const a = Math.abs(f);
  const sci = a < 1e-4 || a >= 1e16;
  for (let sig = 1; sig <= 9; sig++) {
    const { digits, e } = splitExp(f, sig);
    if (Math.fround(Number(`${digits[0]}.${digits.slice(1) || '0'}e${e}`)) === a) return formatDigits(f < 0, digits, e, sci);
  }
  const { digits, e } = splitExp(f, 9);
  return formatDigits(f < 0, digits, e, sci);
}

/** repr() of a Python str: single quotes unless the text has ' and no ", escapes as CPython writes them. */
export function pyStrRepr(s) {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const c = ch.codePointAt(0);
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else if (c >= 0x80 && c < 0xa0) out += `\\x${c.toString(16)}`;
    else out += ch;
  }
  return out + quote;
}

/** Python's str() of a value built from lists, dicts (plain objects, keys in order), str, int, PyFloat, NpFloat32, bool, None. */
export function pyStr(v) {
  if (typeof v === 'string') return v;
  return pyRepr(v);
}

export function pyRepr(v) {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'string') return pyStrRepr(v);
  if (typeof v === 'bigint') return String(v);
  if (typeof v === 'number') {
    if (Number.isInteger(v)) return String(v);
    return pyFloatRepr(v);
  }
  if (v instanceof PyFloat) return pyFloatRepr(v.v);
  if (v instanceof NpFloat32) return npFloat32Repr(v.v);
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  if (ArrayBuffer.isView(v)) return `[${Array.from(v, (x) => pyRepr(x)).join(', ')}]`;
  if (typeof v === 'object') return `{${Object.entries(v).map(([k, x]) => `${pyStrRepr(k)}: ${pyRepr(x)}`).join(', ')}}`;
  throw new Error(`no Python repr for ${typeof v}`);
}

/** The same value as plain JSON (for pserve's own route): wrappers become numbers. */
export function toPlainJson(v) {
  if (v instanceof PyFloat || v instanceof NpFloat32) return v.v;
  if (Array.isArray(v)) return v.map(toPlainJson);
  if (ArrayBuffer.isView(v)) return Array.from(v, (x) => (typeof x === 'bigint' ? Number(x) : x));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toPlainJson(x)]));
  return v;
}
