/**
 * Writes an ONNX ModelProto whose large initializers are copied straight from the Paddle params
 * file(s) to the output, a chunk at a time, so converting never holds the weights in memory.
 *
 * An encoded message is its fields' encodings one after the other (onnx-proto writes them in
 * field-number order), so the model is laid out as: ModelProto's fields numbered below 7; field 7
 * (graph) as one length-delimited GraphProto: the graph's nodes, name and in-memory initializers,
 * one field-5 (initializer) entry per streamed tensor (its TensorProto up to field 9, raw_data,
 * whose bytes come from the source file), then the graph's inputs and outputs; then ModelProto's
 * opset_import. That is byte for byte what encoding the whole model at once gives (a test checks
 * it), and every length is known before a byte is written. With external data the tensors carry
 * location/offset/length in the graph and the bytes go to the data file.
 */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import type { onnx as OnnxNs } from 'onnx-proto';
import { onnx } from './graph-builder.js';

/** an initializer whose bytes live in a file (a Paddle params file), read only while writing */
export interface StreamedTensor {
  /** the TensorProto without raw_data (or with external_data entries) */
  proto: OnnxNs.ITensorProto;
  file: string;
  offset: number;
  byteLength: number;
}

export interface ModelLayout {
  /** ModelProto without its graph, the graph field's header, the graph's fields up to its in-memory initializers */
  head: Uint8Array[];
  /** per streamed tensor inside the model: the initializer entry's header (with the tensor up to raw_data) */
  inline: { header: Uint8Array; src: StreamedTensor }[];
  /** the graph's fields after the initializers (inputs, outputs, value_info), then ModelProto's fields after graph */
  tail: Uint8Array;
  byteLength: number;
}

/**
 * Copy buffer size. Below glibc's initial mmap threshold (128 KiB) on purpose: freeing a larger,
 * mmapped buffer raises that threshold for the rest of the process, after which onnxruntime's
 * weight buffers (validation loads the model in this process) come from the heap and peak RSS
 * grows by a whole params-size (measured: 527 MB instead of 317 MB for 208 MiB of params).
 */
export const COPY_CHUNK = 64 * 1024;

function varint(n: number): Uint8Array {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) { out.push((v % 0x80) | 0x80); v = Math.floor(v / 0x80); }
  out.push(v);
  return Uint8Array.from(out);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const n = parts.reduce((s, p) => s + p.byteLength, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.byteLength; }
  return out;
}

/**
 * Lay a model out: `model` carries the graph without the streamed tensors; `inline` tensors get
 * their bytes in the model, `external` ones were already given external_data entries.
 */
export function layoutModel(model: OnnxNs.IModelProto, inline: StreamedTensor[], external: StreamedTensor[]): ModelLayout {
  const g = model.graph!;
  const graphHead = onnx.GraphProto.encode(onnx.GraphProto.create({
    node: g.node, name: g.name, initializer: [...(g.initializer ?? []), ...external.map((t) => t.proto)],
  })).finish();
  // the fields onnx.proto declares after `initializer` (the converter sets no others)
  const tail = onnx.GraphProto.encode(onnx.GraphProto.create({
    ...(g.sparseInitializer ? { sparseInitializer: g.sparseInitializer } : {}), ...(g.docString != null ? { docString: g.docString } : {}),
    input: g.input, output: g.output, ...(g.valueInfo ? { valueInfo: g.valueInfo } : {}),
  })).finish();
  const entries = inline.map((src) => {
    const t = onnx.TensorProto.encode(onnx.TensorProto.create(src.proto)).finish();
    const rawHeader = concat([Uint8Array.of(0x4a), varint(src.byteLength)]);
    const tensorLen = t.byteLength + rawHeader.byteLength + src.byteLength;
    return { header: concat([Uint8Array.of(0x2a), varint(tensorLen), t, rawHeader]), src };
  });
  const graphLen = graphHead.byteLength + entries.reduce((s, e) => s + e.header.byteLength + e.src.byteLength, 0) + tail.byteLength;
  // ModelProto's fields numbered below graph (7) go before it, the others (opset_import 8, ...) after
  const before = onnx.ModelProto.encode(onnx.ModelProto.create({
    irVersion: model.irVersion, producerName: model.producerName, producerVersion: model.producerVersion,
    ...(model.domain != null ? { domain: model.domain } : {}), ...(model.modelVersion != null ? { modelVersion: model.modelVersion } : {}),
    ...(model.docString != null ? { docString: model.docString } : {}),
  })).finish();
  const after = onnx.ModelProto.encode(onnx.ModelProto.create({
    opsetImport: model.opsetImport, ...(model.metadataProps ? { metadataProps: model.metadataProps } : {}),
  })).finish();
  const graphHeader = concat([Uint8Array.of(0x3a), varint(graphLen)]);
  const head = [before, graphHeader, graphHead];
  const byteLength = before.byteLength + graphHeader.byteLength + graphLen + after.byteLength;
  return { head, inline: entries, tail: concat([tail, after]), byteLength };
}

/** copy `length` bytes at `offset` of `file` to `fd` at `position`, a chunk at a time */
export function copyRange(file: string, offset: number, length: number, fd: number, position: number, buf: Buffer): void {
  const src = openSync(file, 'r');
  try {
    let done = 0;
    while (done < length) {
      const want = Math.min(buf.byteLength, length - done);
      let got = 0;
      while (got < want) {
        const n = readSync(src, buf, got, want - got, offset + done + got);
        if (n === 0) throw Object.assign(new Error(`${file} ended ${length - done - got} bytes early`), { code: 'EIO' });
        got += n;
      }
      writeAll(fd, buf.subarray(0, want), position + done);
      done += want;
    }
  } finally {
    closeSync(src);
  }
}

/** writeSync may write less than asked: keep going until all of it is down */
export function writeAll(fd: number, data: Uint8Array, position: number): void {
  let done = 0;
  while (done < data.byteLength) {
    const n = writeSync(fd, data, done, data.byteLength - done, position + done);
    if (n <= 0) throw Object.assign(new Error('no bytes written'), { code: 'EIO' });
    done += n;
  }
}

/** Write the laid-out model to an open file descriptor from position 0. */
export function writeModel(fd: number, l: ModelLayout): void {
  let pos = 0;
  const buf = Buffer.allocUnsafe(COPY_CHUNK);
  for (const p of l.head) { writeAll(fd, p, pos); pos += p.byteLength; }
  for (const e of l.inline) {
    writeAll(fd, e.header, pos);
    pos += e.header.byteLength;
    copyRange(e.src.file, e.src.offset, e.src.byteLength, fd, pos, buf);
    pos += e.src.byteLength;
  }
  writeAll(fd, l.tail, pos);
}

/** The whole model in memory (the library's in-memory result, tests). */
export function modelBytes(l: ModelLayout): Uint8Array {
  const out = new Uint8Array(l.byteLength);
  let pos = 0;
  for (const p of l.head) { out.set(p, pos); pos += p.byteLength; }
  for (const e of l.inline) {
    out.set(e.header, pos);
    pos += e.header.byteLength;
    const fd = openSync(e.src.file, 'r');
    try {
      let done = 0;
      while (done < e.src.byteLength) {
        const n = readSync(fd, out, pos + done, e.src.byteLength - done, e.src.offset + done);
        if (n === 0) throw Object.assign(new Error(`${e.src.file} ended early`), { code: 'EIO' });
        done += n;
      }
    } finally {
      closeSync(fd);
    }
    pos += e.src.byteLength;
  }
  out.set(l.tail, pos);
  return out;
}
