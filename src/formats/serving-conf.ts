/**
 * Paddle Serving model configs (FORMATS.md section 4): `GeneralModelConfig` in protobuf text
 * format (`serving_*_conf.prototxt`) and binary (`serving_*_conf.stream.prototxt`).
 *
 * The printer writes what Python protobuf's `str(message)` writes, byte for byte: set fields in
 * field-number order, two-space indent, one line per repeated value, strings C-escaped with
 * non-ASCII bytes as octal. The parser is deliberately tolerant, because these files are edited by
 * hand: `#` comments, fields in any order, `<...>` blocks, `[a, b]` lists, CRLF, and the
 * non-standard `shape: -1 -1 3` / `shape: -1, -1, 3` lines seen in the wild. It also records where
 * each `alias_name` sits so that one alias can be changed without touching anything else.
 * Pure: strings and bytes in, objects out.
 */
import { PserveError } from '../errors.js';
import { schema as table } from './proto/general_model_config.gen.js';
import { decodeMessage, encodeMessage, loadSchema, type ProtoMessage } from './protobuf.js';

const schema = loadSchema(table);
export const GeneralModelConfigSpec = schema('baidu.paddle_serving.configure.GeneralModelConfig');

export type ServingVarKind = 'feed' | 'fetch';

/** One feed_var or fetch_var. Fields absent from a file stay absent (proto2 presence), so files print back as read. */
export interface ServingVar extends ProtoMessage {
  name?: string;
  alias_name?: string;
  is_lod_tensor?: boolean;
  feed_type?: number;
  fetch_type?: number;
  shape?: number[];
}

export interface GeneralModelConfig extends ProtoMessage {
  feed_var?: ServingVar[];
  fetch_var?: ServingVar[];
}

export const SERVER_CONF = 'serving_server_conf.prototxt';
export const SERVER_CONF_STREAM = 'serving_server_conf.stream.prototxt';
export const CLIENT_CONF = 'serving_client_conf.prototxt';
export const CLIENT_CONF_STREAM = 'serving_client_conf.stream.prototxt';

const FIELD_OF: Record<ServingVarKind, 'feed_var' | 'fetch_var'> = { feed: 'feed_var', fetch: 'fetch_var' };
const TYPE_OF: Record<ServingVarKind, 'feed_type' | 'fetch_type'> = { feed: 'feed_type', fetch: 'fetch_type' };

export function varsOf(conf: GeneralModelConfig, kind: ServingVarKind): ServingVar[] {
  return conf[FIELD_OF[kind]] ?? [];
}

export function typeCodeOf(v: ServingVar, kind: ServingVarKind): number | undefined {
  return v[TYPE_OF[kind]];
}

// ---------------------------------------------------------------------------------------------
// binary

export function decodeServingConf(bytes: Uint8Array, what = 'serving conf'): GeneralModelConfig {
  try {
    return decodeMessage(GeneralModelConfigSpec, bytes, what) as GeneralModelConfig;
  } catch (e) {
    if (e instanceof PserveError) {
      throw new PserveError(e.code === 'E_PROTO_TRUNCATED' ? 'E_SERVING_CONF_TRUNCATED' : 'E_SERVING_CONF_INVALID', e.message, { offset: e.offset });
    }
    throw e;
  }
}

export function encodeServingConf(conf: GeneralModelConfig): Uint8Array {
  return encodeMessage(GeneralModelConfigSpec, conf);
}

// ---------------------------------------------------------------------------------------------
// text printer

// C escaping as protobuf's text format does it without as_utf8: the named escapes, every other
// byte outside printable ASCII as three octal digits (UTF-8 names come out as \345\220\215...).
const NAMED_ESCAPES: Record<number, string> = { 9: '\\t', 10: '\\n', 13: '\\r', 34: '\\"', 39: "\\'", 92: '\\\\' };

export function escapeTextString(s: string): string {
  let out = '';
  for (const b of new TextEncoder().encode(s)) {
    const named = NAMED_ESCAPES[b];
    if (named) out += named;
    else if (b < 32 || b >= 127) out += `\\${b.toString(8).padStart(3, '0')}`;
    else out += String.fromCharCode(b);
  }
  return out;
}

function printVar(v: ServingVar, kind: ServingVarKind): string {
  const lines: string[] = [];
  if (v.name !== undefined) lines.push(`  name: "${escapeTextString(v.name)}"`);
  if (v.alias_name !== undefined) lines.push(`  alias_name: "${escapeTextString(v.alias_name)}"`);
  if (v.is_lod_tensor !== undefined) lines.push(`  is_lod_tensor: ${v.is_lod_tensor ? 'true' : 'false'}`);
  const t = v[TYPE_OF[kind]];
  if (t !== undefined) lines.push(`  ${TYPE_OF[kind]}: ${t}`);
  for (const d of v.shape ?? []) lines.push(`  shape: ${d}`);
  return `${FIELD_OF[kind]} {\n${lines.map((l) => `${l}\n`).join('')}}\n`;
}

/** The text form, exactly as Paddle Serving writes it (and as `--show_proto` prints it). */
export function printServingConf(conf: GeneralModelConfig): string {
  return [...(conf.feed_var ?? []).map((v) => printVar(v, 'feed')), ...(conf.fetch_var ?? []).map((v) => printVar(v, 'fetch'))].join('');
}

// ---------------------------------------------------------------------------------------------
// text parser

type TokKind = 'ident' | 'number' | 'string' | 'punct';
interface Token { kind: TokKind; text: string; start: number; end: number; line: number; col: number; value?: string }

function textError(msg: string, t: { line: number; col: number; start: number }): PserveError {
  return new PserveError('E_SERVING_CONF_INVALID', `serving conf text, line ${t.line} column ${t.col}: ${msg}`, { offset: t.start });
}

function unescape(body: string, tok: Token): string {
  const bytes: number[] = [];
  const enc = new TextEncoder();
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== '\\') {
      const cp = body.codePointAt(i)!;
      if (cp > 0xffff) i++;
      bytes.push(...enc.encode(String.fromCodePoint(cp)));
      continue;
    }
    const n = body[++i];
    if (n === undefined) throw textError('string ends in a lone backslash', tok);
    const simple: Record<string, number> = { n: 10, t: 9, r: 13, a: 7, b: 8, f: 12, v: 11, '\\': 92, "'": 39, '"': 34, '?': 63 };
    if (simple[n] !== undefined) { bytes.push(simple[n]!); continue; }
    if (/[0-7]/.test(n)) {
      let digits = n;
      while (digits.length < 3 && /[0-7]/.test(body[i + 1] ?? '')) digits += body[++i];
      const v = parseInt(digits, 8);
      if (v > 255) throw textError(`octal escape \\${digits} is above \\377`, tok);
      bytes.push(v);
      continue;
    }
    if (n === 'x' || n === 'X') {
      let digits = '';
      while (digits.length < 2 && /[0-9a-fA-F]/.test(body[i + 1] ?? '')) digits += body[++i];
      if (!digits) throw textError('\\x escape without hex digits', tok);
      bytes.push(parseInt(digits, 16));
      continue;
    }
    if (n === 'u' || n === 'U') {
      const len = n === 'u' ? 4 : 8;
      const digits = body.slice(i + 1, i + 1 + len);
      if (!/^[0-9a-fA-F]+$/.test(digits) || digits.length !== len) throw textError(`\\${n} escape needs ${len} hex digits`, tok);
      const cp = parseInt(digits, 16);
      if (cp > 0x10ffff) throw textError(`\\${n}${digits} is not a Unicode code point`, tok);
      bytes.push(...enc.encode(String.fromCodePoint(cp)));
      i += len;
      continue;
    }
    throw textError(`unknown escape \\${n} in string`, tok);
  }
  return new TextDecoder('utf-8', { fatal: false }).decode(Uint8Array.from(bytes));
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === '\n') { i++; line++; lineStart = i; continue; }
    if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v' || c === '\ufeff') { i++; continue; }
    if (c === '#') { while (i < src.length && src[i] !== '\n') i++; continue; }
    const start = i;
    const col = i - lineStart + 1;
    if (/[A-Za-z_]/.test(c)) {
      while (i < src.length && /[A-Za-z0-9_.]/.test(src[i]!)) i++;
      out.push({ kind: 'ident', text: src.slice(start, i), start, end: i, line, col });
      continue;
    }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(src[i + 1] ?? ''))) {
      while (i < src.length && /[0-9A-Za-z_.+-]/.test(src[i]!) && !((src[i] === '-' || src[i] === '+') && !/[eE]/.test(src[i - 1]!))) i++;
      out.push({ kind: 'number', text: src.slice(start, i), start, end: i, line, col });
      continue;
    }
    if (c === '"' || c === "'") {
      i++;
      while (i < src.length && src[i] !== c) {
        if (src[i] === '\n') throw textError('string runs past the end of its line', { line, col, start });
        if (src[i] === '\\') i++;
        i++;
      }
      if (i >= src.length) throw textError('string is not closed', { line, col, start });
      i++;
      const tok: Token = { kind: 'string', text: src.slice(start, i), start, end: i, line, col };
      tok.value = unescape(src.slice(start + 1, i - 1), tok);
      out.push(tok);
      continue;
    }
    if ('{}<>[]:,;-'.includes(c)) {
      i++;
      out.push({ kind: 'punct', text: c, start, end: i, line, col });
      continue;
    }
    throw textError(`unexpected character ${JSON.stringify(c)}`, { line, col, start });
  }
  return out;
}

/** Where one var's pieces sit in the source text, for in-place edits. */
export interface VarSpan {
  /** [start, end) of the alias_name value token(s), when the field is present (last occurrence) */
  alias?: [number, number];
  /** end of the name value, when present: an alias_name can be inserted after it */
  nameEnd?: number;
  /** offset just past the opening brace */
  open: number;
}

export interface ParsedServingConf {
  conf: GeneralModelConfig;
  spans: { feed_var: VarSpan[]; fetch_var: VarSpan[] };
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

class Parser {
  private i = 0;
  constructor(private readonly toks: Token[], private readonly src: string) {}

  private peek(o = 0): Token | undefined { return this.toks[this.i + o]; }
  private eofTok(): { line: number; col: number; start: number } {
    const lines = this.src.split('\n');
    return { line: lines.length, col: (lines[lines.length - 1]?.length ?? 0) + 1, start: this.src.length };
  }
  private next(what: string): Token {
    const t = this.toks[this.i];
    if (!t) throw textError(`file ends where ${what} was expected`, this.eofTok());
    this.i++;
    return t;
  }
  private isPunct(t: Token | undefined, p: string): boolean { return t !== undefined && t.kind === 'punct' && t.text === p; }

  parseTop(): ParsedServingConf {
    const conf: GeneralModelConfig = {};
    const spans: ParsedServingConf['spans'] = { feed_var: [], fetch_var: [] };
    while (this.i < this.toks.length) {
      const t = this.next('a field name');
      if (t.kind === 'punct' && (t.text === ',' || t.text === ';')) continue;
      if (t.kind !== 'ident') throw textError(`expected feed_var or fetch_var, found ${JSON.stringify(t.text)}`, t);
      if (t.text !== 'feed_var' && t.text !== 'fetch_var') throw textError(`unknown field ${JSON.stringify(t.text)} in GeneralModelConfig (expected feed_var or fetch_var)`, t);
      const kind: ServingVarKind = t.text === 'feed_var' ? 'feed' : 'fetch';
      if (this.isPunct(this.peek(), ':')) this.i++;
      const { v, span } = this.parseVar(kind);
      ((conf[t.text] ??= []) as ServingVar[]).push(v);
      spans[t.text].push(span);
    }
    return { conf, spans };
  }

  private parseVar(kind: ServingVarKind): { v: ServingVar; span: VarSpan } {
    const open = this.next('{');
    const close = open.kind === 'punct' && open.text === '{' ? '}' : open.kind === 'punct' && open.text === '<' ? '>' : undefined;
    if (!close) throw textError(`expected { after ${FIELD_OF[kind]}, found ${JSON.stringify(open.text)}`, open);
    const v: ServingVar = {};
    const span: VarSpan = { open: open.end };
    for (;;) {
      const t = this.next(`a field of ${FIELD_OF[kind]} or ${close}`);
      if (t.kind === 'punct' && t.text === close) break;
      if (t.kind === 'punct' && (t.text === ',' || t.text === ';')) continue;
      if (t.kind !== 'ident') throw textError(`expected a field name in ${FIELD_OF[kind]}, found ${JSON.stringify(t.text)}`, t);
      const field = t.text;
      const colon = this.next(`: after ${field}`);
      if (!this.isPunct(colon, ':')) throw textError(`expected : after ${field}, found ${JSON.stringify(colon.text)}`, colon);
      switch (field) {
        case 'name': { const s = this.parseString(field); v.name = s.value; span.nameEnd = s.end; break; }
        case 'alias_name': { const s = this.parseString(field); v.alias_name = s.value; span.alias = [s.start, s.end]; break; }
        case 'is_lod_tensor': v.is_lod_tensor = this.parseBool(field); break;
        case 'feed_type': case 'fetch_type':
          if (field !== TYPE_OF[kind]) throw textError(`${field} does not belong in ${FIELD_OF[kind]} (expected ${TYPE_OF[kind]})`, t);
          v[field] = this.parseInt32(field);
          break;
        case 'shape': (v.shape ??= []).push(...this.parseInt32List(field)); break;
        default: throw textError(`unknown field ${JSON.stringify(field)} in ${FIELD_OF[kind]} (known: name, alias_name, is_lod_tensor, ${TYPE_OF[kind]}, shape)`, t);
      }
    }
    return { v, span };
  }

  private parseString(field: string): { value: string; start: number; end: number } {
    const t = this.next(`a string for ${field}`);
    if (t.kind !== 'string') throw textError(`${field} must be a quoted string, found ${JSON.stringify(t.text)}`, t);
    let value = t.value!;
    let end = t.end;
    // adjacent string literals concatenate, as in C
    while (this.peek()?.kind === 'string') { const n = this.next('string'); value += n.value!; end = n.end; }
    return { value, start: t.start, end };
  }

  private parseBool(field: string): boolean {
    const t = this.next(`true or false for ${field}`);
    if (t.kind === 'ident' && ['true', 'True', 't'].includes(t.text)) return true;
    if (t.kind === 'ident' && ['false', 'False', 'f'].includes(t.text)) return false;
    if (t.kind === 'number' && (t.text === '1' || t.text === '0')) return t.text === '1';
    throw textError(`${field} must be true or false, found ${JSON.stringify(t.text)}`, t);
  }

  private parseInt32(field: string): number {
    let neg = false;
    let t = this.next(`an integer for ${field}`);
    if (this.isPunct(t, '-')) { neg = true; t = this.next(`an integer for ${field}`); }
    if (t.kind !== 'number') throw textError(`${field} must be an integer, found ${JSON.stringify(t.text)}`, t);
    let n: number;
    if (/^0[xX][0-9a-fA-F]+$/.test(t.text)) n = parseInt(t.text.slice(2), 16);
    else if (/^0[0-7]+$/.test(t.text)) n = parseInt(t.text.slice(1), 8);
    else if (/^(0|[1-9][0-9]*)$/.test(t.text)) n = Number(t.text);
    else throw textError(`${field} must be an integer, found ${JSON.stringify(t.text)}`, t);
    if (neg) n = -n;
    if (!Number.isSafeInteger(n) || n < INT32_MIN || n > INT32_MAX) throw textError(`${field} ${neg ? '-' : ''}${t.text} is outside the int32 range`, t);
    return n;
  }

  private startsNumber(t: Token | undefined, line: number): boolean {
    if (!t || t.line !== line) return false;
    return t.kind === 'number' || (this.isPunct(t, '-') && this.toks[this.i + 1]?.kind === 'number');
  }

  /** `shape: 3`, `shape: [3, 224]`, and the hand-written `shape: -1 -1 3` / `shape: -1, -1, 3` (same line only). */
  private parseInt32List(field: string): number[] {
    if (this.isPunct(this.peek(), '[')) {
      this.i++;
      const out: number[] = [];
      if (this.isPunct(this.peek(), ']')) { this.i++; return out; }
      for (;;) {
        out.push(this.parseInt32(field));
        const t = this.next(`, or ] in the ${field} list`);
        if (this.isPunct(t, ']')) return out;
        if (!this.isPunct(t, ',')) throw textError(`expected , or ] in the ${field} list, found ${JSON.stringify(t.text)}`, t);
      }
    }
    const out = [this.parseInt32(field)];
    const line = this.toks[this.i - 1]!.line;
    for (;;) {
      const t = this.peek();
      if (this.startsNumber(t, line)) { out.push(this.parseInt32(field)); continue; }
      if (this.isPunct(t, ',') && t!.line === line) {
        const save = this.i;
        this.i++;
        if (this.startsNumber(this.peek(), line)) { out.push(this.parseInt32(field)); continue; }
        this.i = save;
      }
      break;
    }
    return out;
  }
}

/** Parse the text form, keeping where each alias sits. */
export function parseServingConfText(text: string): ParsedServingConf {
  return new Parser(tokenize(text), text).parseTop();
}

export function parseServingConf(text: string): GeneralModelConfig {
  return parseServingConfText(text).conf;
}

/**
 * Change one var's alias inside the text, leaving every other byte as it was (comments, order,
 * line endings). A var without an alias_name line gets one after its name.
 */
export function replaceAliasInText(text: string, kind: ServingVarKind, index: number, alias: string): string {
  const parsed = parseServingConfText(text);
  const span = parsed.spans[FIELD_OF[kind]][index];
  if (!span) throw new PserveError('E_VAR_NOT_FOUND', `serving conf text has no ${FIELD_OF[kind]} number ${index} (it has ${parsed.spans[FIELD_OF[kind]].length})`);
  const quoted = `"${escapeTextString(alias)}"`;
  if (span.alias) return text.slice(0, span.alias[0]) + quoted + text.slice(span.alias[1]);
  const nl = text.includes('\r\n') ? '\r\n' : '\n';
  const at = span.nameEnd ?? span.open;
  return `${text.slice(0, at)}${nl}  alias_name: ${quoted}${text.slice(at)}`;
}

// ---------------------------------------------------------------------------------------------
// comparison

function same(a: ServingVar, b: ServingVar, kind: ServingVarKind): string | undefined {
  const fields: (keyof ServingVar)[] = ['name', 'alias_name', 'is_lod_tensor', TYPE_OF[kind]];
  for (const f of fields) {
    if (a[f] !== b[f]) return `${String(f)} ${JSON.stringify(a[f] ?? null)} vs ${JSON.stringify(b[f] ?? null)}`;
  }
  const sa = (a.shape ?? []).join(' ');
  const sb = (b.shape ?? []).join(' ');
  if (sa !== sb) return `shape [${sa}] vs [${sb}]`;
  return undefined;
}

/** The first few differences between two configs, each naming the var; empty when they agree. */
export function diffServingConf(a: GeneralModelConfig, b: GeneralModelConfig, max = 5): string[] {
  const out: string[] = [];
  for (const kind of ['feed', 'fetch'] as const) {
    const va = varsOf(a, kind);
    const vb = varsOf(b, kind);
    if (va.length !== vb.length) out.push(`${va.length} vs ${vb.length} ${FIELD_OF[kind]} entries`);
    for (let i = 0; i < Math.min(va.length, vb.length); i++) {
      const d = same(va[i]!, vb[i]!, kind);
      if (d) out.push(`${FIELD_OF[kind]}[${i}] ${d}`);
    }
  }
  return out.slice(0, max);
}
