/**
 * Small readers for the bundle's two config files: config.yml (the YAML subset it needs) and
 * serving_server_conf.prototxt (protobuf text format). No dependencies, no file access: the
 * server reads the files and hands the text here.
 */

/** The YAML that config.yml needs: nested maps, scalars, [a, b] lists, "- x" lists, # comments. */
export function parseYaml(text) {
  const lines = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const s = stripYamlComment(raw).replace(/\s+$/, '');
    if (s.trim() === '' || s.trim() === '---') return;
    if (/^\s*\t/.test(s)) throw new Error(`config.yml line ${i + 1}: tabs are not allowed for indentation`);
    lines.push({ n: i + 1, indent: s.length - s.trimStart().length, text: s.trim() });
  });
  let pos = 0;
  const block = (indent) => {
    const first = lines[pos];
    if (first.text === '-' || first.text.startsWith('- ')) {
      const list = [];
      while (pos < lines.length && lines[pos].indent === indent && (lines[pos].text === '-' || lines[pos].text.startsWith('- '))) {
        list.push(yamlScalar(lines[pos].text.slice(1).trim()));
        pos += 1;
      }
      return list;
    }
    const map = {};
    while (pos < lines.length && lines[pos].indent === indent) {
      const { n, text: t } = lines[pos];
      const m = /^("[^"]*"|'[^']*'|[^:]+?)\s*:(?:\s+(.*))?$/.exec(t) ?? /^([^:]+?):$/.exec(t);
      if (!m) throw new Error(`config.yml line ${n}: expected "key: value", found "${t}"`);
      const key = String(yamlScalar(m[1]));
      pos += 1;
      if (m[2] !== undefined && m[2] !== '') map[key] = yamlScalar(m[2]);
      else if (pos < lines.length && lines[pos].indent > indent) map[key] = block(lines[pos].indent);
      else if (pos < lines.length && lines[pos].indent === indent && lines[pos].text.startsWith('- ')) map[key] = block(indent);
      else map[key] = null;
    }
    if (pos < lines.length && lines[pos].indent > indent) throw new Error(`config.yml line ${lines[pos].n}: unexpected indentation`);
    return map;
  };
  return lines.length ? block(lines[0].indent) : {};
}

function stripYamlComment(line) {
  let q = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (q) { if (c === q) q = ''; continue; }
    if (c === '"' || c === "'") q = c;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]))) return line.slice(0, i);
  }
  return line;
}

function yamlScalar(s) {
  if (s.startsWith('[') && s.endsWith(']')) {
    const inner = s.slice(1, -1).trim();
    return inner === '' ? [] : inner.split(',').map((x) => yamlScalar(x.trim()));
  }
  if (/^"(.*)"$/.test(s)) return JSON.parse(s);
  if (/^'(.*)'$/.test(s)) return s.slice(1, -1).replace(/''/g, "'");
  if (/^(true|True|TRUE)$/.test(s)) return true;
  if (/^(false|False|FALSE)$/.test(s)) return false;
  if (/^(null|Null|NULL|~)$/.test(s) || s === '') return null;
  if (/^[-+]?(\d+\.?\d*([eE][-+]?\d+)?|\.\d+)$/.test(s)) return Number(s);
  return s;
}

/** serving_server_conf.prototxt: feed_var / fetch_var blocks (protobuf text format). */
export function parseServingConf(text) {
  const tokens = [];
  const re = /\s+|#[^\n]*|("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|([A-Za-z_][\w.]*)|([-+]?[\d.][\w.+-]*)|([{}:<>;,\[\]])/y;
  let m;
  while (re.lastIndex < text.length) {
    const at = re.lastIndex;
    m = re.exec(text);
    if (!m) throw new Error(`serving conf: unexpected character at offset ${at}`);
    if (m[1] !== undefined) tokens.push({ s: JSON.parse(m[1].startsWith("'") ? `"${m[1].slice(1, -1).replace(/"/g, '\\"')}"` : m[1]) });
    else if (m[2] !== undefined) tokens.push({ id: m[2] });
    else if (m[3] !== undefined) tokens.push({ num: Number(m[3]) });
    else if (m[4] !== undefined) tokens.push({ p: m[4] });
  }
  let i = 0;
  const msg = (close) => {
    const out = {};
    while (i < tokens.length && !(close && tokens[i].p === close)) {
      const key = tokens[i++].id;
      if (key === undefined) throw new Error('serving conf: expected a field name');
      if (tokens[i]?.p === ':') i++;
      let v;
      const t = tokens[i];
      if (t?.p === '{' || t?.p === '<') { i++; v = msg(t.p === '{' ? '}' : '>'); i++; }
      else if (t?.id !== undefined) { i++; v = t.id === 'true' ? true : t.id === 'false' ? false : t.id; }
      else if (t?.num !== undefined) { i++; v = t.num; }
      else if (t?.s !== undefined) { i++; v = t.s; }
      else throw new Error(`serving conf: field ${key} has no value`);
      (out[key] ??= []).push(v);
      if (tokens[i]?.p === ';' || tokens[i]?.p === ',') i++;
    }
    return out;
  };
  const root = msg(null);
  const vars = (list, typeKey) => (list ?? []).map((v) => ({
    name: v.name?.[0] ?? '',
    alias: v.alias_name?.[0] ?? v.name?.[0] ?? '',
    type: v[typeKey]?.[0] ?? 0,
    lod: v.is_lod_tensor?.[0] === true,
    shape: v.shape ?? [],
  }));
  return { feeds: vars(root.feed_var, 'feed_type'), fetches: vars(root.fetch_var, 'fetch_type') };
}
