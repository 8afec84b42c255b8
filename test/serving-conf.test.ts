/**
 * The Paddle Serving conf codec: text printer and tolerant parser, binary encode/decode, alias
 * surgery. Property tests run over every conf in ../shared/fixtures and over generated configs.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  decodeServingConf, diffServingConf, encodeServingConf, escapeTextString, parseServingConf, printServingConf, replaceAliasInText,
  type GeneralModelConfig, type ServingVar,
} from '../src/formats/serving-conf.js';
import { PserveError } from '../src/errors.js';
import { HAVE_SHARED, SHARED, describeShared, shared } from './helpers.js';

function confFiles(): { text: string[]; binary: string[] } {
  if (!HAVE_SHARED) return { text: [], binary: [] };
  const all = (readdirSync(SHARED, { recursive: true }) as string[]).filter((f) => /serving_(server|client)_conf(\.stream)?\.prototxt$/.test(f)).sort();
  return { text: all.filter((f) => !f.includes('.stream.')), binary: all.filter((f) => f.includes('.stream.')) };
}

function codeOf(fn: () => unknown): string {
  try { fn(); } catch (e) { if (e instanceof PserveError) return e.code; throw e; }
  return 'no error';
}

/** Byte-wise form of a config without codec bookkeeping, for deep comparison. */
function plain(c: GeneralModelConfig): unknown {
  return JSON.parse(JSON.stringify(c, (k, v) => (k === '$packed' || k === '$unknown' ? undefined : v)));
}

const UCI = `feed_var {
  name: "x"
  alias_name: "x"
  is_lod_tensor: false
  feed_type: 1
  shape: 13
}
fetch_var {
  name: "fc_0.tmp_1"
  alias_name: "price"
  is_lod_tensor: false
  fetch_type: 1
  shape: 1
}
`;

describeShared('serving confs in ../shared/fixtures', () => {
  const { text, binary } = confFiles();

  it('finds the fixtures (11 text, 7 binary)', () => {
    expect(text.length).toBeGreaterThanOrEqual(11);
    expect(binary.length).toBeGreaterThanOrEqual(7);
  });

  it.each(text)('text print(parse(x)) == x: %s', (f) => {
    const raw = readFileSync(join(SHARED, f), 'utf8');
    const conf = parseServingConf(raw);
    const printed = printServingConf(conf);
    // two files were touched by hand after Paddle Serving wrote them: CRLF line ends, extra blank lines
    const canonical = raw.replace(/\r\n/g, '\n').replace(/\n+$/, '\n');
    expect(printed).toBe(canonical);
    if (canonical === raw) expect(printed).toBe(raw);
    expect(plain(parseServingConf(printed))).toEqual(plain(conf));
  });

  it.each(binary)('binary encode(decode(x)) == x: %s', (f) => {
    const raw = new Uint8Array(readFileSync(join(SHARED, f)));
    const conf = decodeServingConf(raw);
    expect(Buffer.from(encodeServingConf(conf)).equals(Buffer.from(raw))).toBe(true);
    expect(plain(decodeServingConf(encodeServingConf(conf)))).toEqual(plain(conf));
  });

  it.each(binary)('the text beside %s says the same, except in the LAC fixture', (f) => {
    const bin = decodeServingConf(new Uint8Array(readFileSync(join(SHARED, f))));
    const txt = parseServingConf(readFileSync(join(SHARED, f.replace('.stream.prototxt', '.prototxt')), 'utf8'));
    const d = diffServingConf(txt, bin);
    if (f.startsWith('lac_')) expect(d).toEqual(['feed_var[0] name "word" vs "words"', 'fetch_var[0] fetch_type 0 vs 1']);
    else expect(d).toEqual([]);
    expect(printServingConf(txt)).toBe(printServingConf(txt));
  });

  it('reads the hand-edited PaddleClas conf with its negative dims', () => {
    const c = parseServingConf(readFileSync(shared('serving_conf_only', 'PaddleClas_picodet_PPLCNet_x2_5_mainbody_lite_v1.0_serving', 'serving_server_conf.prototxt'), 'utf8'));
    expect(c.feed_var![1]).toEqual({ name: 'image', alias_name: 'image', is_lod_tensor: false, feed_type: 7, shape: [-1, -1, 3] });
    expect(c.fetch_var![1]!.shape).toBeUndefined();
  });
});

describe('text printer', () => {
  it('prints what Paddle Serving writes (FORMATS.md example)', () => {
    const c: GeneralModelConfig = {
      feed_var: [{ name: 'x', alias_name: 'x', is_lod_tensor: false, feed_type: 1, shape: [13] }],
      fetch_var: [{ name: 'fc_0.tmp_1', alias_name: 'price', is_lod_tensor: false, fetch_type: 1, shape: [1] }],
    };
    expect(printServingConf(c)).toBe(UCI);
  });

  it('escapes like protobuf text format: named escapes, octal for everything else', () => {
    expect(escapeTextString('a"b\\c\'d\ne\tf\r')).toBe('a\\"b\\\\c\\\'d\\ne\\tf\\r');
    expect(escapeTextString('名')).toBe('\\345\\220\\215');
    expect(escapeTextString('\u0001\u007f')).toBe('\\001\\177');
    const c: GeneralModelConfig = { feed_var: [{ name: 'x"名\\', alias_name: "it's" }] };
    const t = printServingConf(c);
    expect(t).toBe('feed_var {\n  name: "x\\"\\345\\220\\215\\\\"\n  alias_name: "it\\\'s"\n}\n');
    expect(parseServingConf(t)).toEqual(c);
  });

  it('prints only fields that are present, in field-number order', () => {
    expect(printServingConf({ fetch_var: [{ shape: [2], name: 'a' }] })).toBe('fetch_var {\n  name: "a"\n  shape: 2\n}\n');
    expect(printServingConf({})).toBe('');
  });
});

describe('tolerant text parser', () => {
  it('takes comments, reordered fields, CRLF, <> blocks, lists and one-line shapes', () => {
    const hand = [
      '# edited by hand\r',
      'fetch_var <',
      '  shape: [-1, 6]  # list form',
      '  fetch_type: 1; alias_name: \'boxes\' name: "multi" "class"',
      '>',
      'feed_var: {',
      '  is_lod_tensor: False',
      '  shape: -1 -1 3',
      '  shape: 4, 5',
      '  feed_type: 0x7',
      '  name: "image"',
      '}',
    ].join('\n');
    const c = parseServingConf(hand);
    expect(c.feed_var).toEqual([{ is_lod_tensor: false, shape: [-1, -1, 3, 4, 5], feed_type: 7, name: 'image' }]);
    expect(c.fetch_var).toEqual([{ shape: [-1, 6], fetch_type: 1, alias_name: 'boxes', name: 'multiclass' }]);
    // printed canonically: field order by number, feeds before fetches
    expect(printServingConf(c)).toBe('feed_var {\n  name: "image"\n  is_lod_tensor: false\n  feed_type: 7\n  shape: -1\n  shape: -1\n  shape: 3\n  shape: 4\n  shape: 5\n}\n' +
      'fetch_var {\n  name: "multiclass"\n  alias_name: "boxes"\n  fetch_type: 1\n  shape: -1\n  shape: 6\n}\n');
  });

  it('does not swallow the next line into a shape', () => {
    const c = parseServingConf('feed_var {\n  shape: 3\n  shape: 224\n}\n');
    expect(c.feed_var![0]!.shape).toEqual([3, 224]);
  });

  it.each([
    ['unknown field', 'feed_var {\n  nam: "x"\n}\n'],
    ['unknown top-level field', 'feed_vars {\n}\n'],
    ['wrong type field', 'feed_var {\n  fetch_type: 1\n}\n'],
    ['unterminated string', 'feed_var {\n  name: "x\n}\n'],
    ['unclosed block', 'feed_var {\n  name: "x"\n'],
    ['int32 overflow', 'feed_var {\n  shape: 2147483648\n}\n'],
    ['not a number', 'feed_var {\n  shape: abc\n}\n'],
    ['string for bool', 'feed_var {\n  is_lod_tensor: "yes"\n}\n'],
    ['bad escape', 'feed_var {\n  name: "\\q"\n}\n'],
    ['missing colon', 'feed_var {\n  name "x"\n}\n'],
    ['stray character', 'feed_var {\n  name: @\n}\n'],
    ['binary bytes', '\n\u000c\n\u0001x\u0012\u0001x'],
  ])('rejects %s with E_SERVING_CONF_INVALID and a line number', (_n, text) => {
    expect(codeOf(() => parseServingConf(text))).toBe('E_SERVING_CONF_INVALID');
    try { parseServingConf(text); } catch (e) { expect((e as Error).message).toMatch(/line \d+ column \d+/); }
  });
});

describe('binary codec', () => {
  it('writes shape unpacked with 10-byte negative varints', () => {
    const b = encodeServingConf({ fetch_var: [{ name: 'a', alias_name: 'a', is_lod_tensor: true, fetch_type: 1, shape: [-1] }] });
    expect(Buffer.from(b).toString('hex')).toBe('1215' + '0a0161' + '120161' + '1801' + '2001' + '28ffffffffffffffffff01');
  });

  it('keeps a packed shape packed, and unknown fields, on the way back', () => {
    const raw = Uint8Array.from([0x0a, 0x09, 0x0a, 0x01, 0x78, 0x2a, 0x02, 0x03, 0x04, 0x38, 0x01]);
    const c = decodeServingConf(raw);
    expect(c.feed_var![0]!.shape).toEqual([3, 4]);
    expect(Buffer.from(encodeServingConf(c)).equals(Buffer.from(raw))).toBe(true);
  });

  it.each([
    ['truncated length', [0x0a, 0x10, 0x0a], 'E_SERVING_CONF_TRUNCATED'],
    ['truncated varint', [0x0a, 0x02, 0x20, 0x80], 'E_SERVING_CONF_TRUNCATED'],
    ['field number 0', [0x00, 0x01], 'E_SERVING_CONF_INVALID'],
    ['bad wire type', [0x0f], 'E_SERVING_CONF_INVALID'],
  ])('rejects %s', (_n, bytes, code) => {
    expect(codeOf(() => decodeServingConf(Uint8Array.from(bytes as number[])))).toBe(code);
  });
});

describe('alias surgery in text', () => {
  it('changes only the alias bytes, keeping comments and CRLF', () => {
    const text = '# keep me\r\nfeed_var {\r\n  name: "x"\r\n  alias_name: "x"  # and me\r\n}\r\nfetch_var {\r\n  name: "y"\r\n}\r\n';
    expect(replaceAliasInText(text, 'feed', 0, 'input')).toBe(text.replace('alias_name: "x"', 'alias_name: "input"'));
    expect(replaceAliasInText(text, 'fetch', 0, 'out"put')).toBe(text.replace('name: "y"', 'name: "y"\r\n  alias_name: "out\\"put"'));
    expect(codeOf(() => replaceAliasInText(text, 'fetch', 1, 'z'))).toBe('E_VAR_NOT_FOUND');
  });

  it('agrees with printing the changed config on canonical text', () => {
    const c = parseServingConf(UCI);
    c.fetch_var![0]!.alias_name = 'value';
    expect(replaceAliasInText(UCI, 'fetch', 0, 'value')).toBe(printServingConf(c));
  });
});

describe('generated configs (property)', () => {
  // a small deterministic PRNG so failures reproduce
  let seed = 12345;
  const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  const chars = ['a', 'Z', '_', '.', '/', '0', '"', '\\', "'", '\n', '\t', 'é', '名', '😀', ' ', '\u0001'];
  const str = () => Array.from({ length: rnd(8) }, () => chars[rnd(chars.length)]).join('');
  const int32 = () => [0, 1, -1, 3, 224, 2147483647, -2147483648, rnd(100000) - 50000][rnd(8)]!;
  const variable = (kind: 'feed' | 'fetch'): ServingVar => {
    const v: ServingVar = {};
    if (rnd(5)) v.name = str();
    if (rnd(5)) v.alias_name = str();
    if (rnd(5)) v.is_lod_tensor = rnd(2) === 1;
    if (rnd(5)) v[kind === 'feed' ? 'feed_type' : 'fetch_type'] = int32();
    if (rnd(3)) v.shape = Array.from({ length: 1 + rnd(4) }, int32);
    return v;
  };
  const configs: GeneralModelConfig[] = Array.from({ length: 300 }, () => {
    const c: GeneralModelConfig = {};
    if (rnd(4)) c.feed_var = Array.from({ length: 1 + rnd(3) }, () => variable('feed'));
    if (rnd(4)) c.fetch_var = Array.from({ length: 1 + rnd(3) }, () => variable('fetch'));
    return c;
  });

  it('parse(print(c)) == c for 300 generated configs', () => {
    for (const c of configs) expect(parseServingConf(printServingConf(c))).toEqual(c);
  });

  it('decode(encode(c)) == c and encode(decode(b)) == b for 300 generated configs', () => {
    for (const c of configs) {
      const b = encodeServingConf(c);
      expect(plain(decodeServingConf(b))).toEqual(plain(c));
      expect(Buffer.from(encodeServingConf(decodeServingConf(b))).equals(Buffer.from(b))).toBe(true);
    }
  });
});
