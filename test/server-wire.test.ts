/**
 * The Paddle Serving and KServe message layers of the bundle server, in process, for what the
 * uci_housing end-to-end test cannot reach: int64, int8 and bool tensors, LoD fetches, raw
 * tensor_content, camelCase JSON names, a LoD feed's -1 shape, and the protobuf encoder against
 * the wire bytes protobuf itself defines. The model here is a plain function standing in for the
 * inference pool (the real pool is exercised end to end in server-protocols.test.ts): ids -> their
 * doubles as int64, a mask as bool, a small int8 code, so every answer is computable by hand.
 */
import { describe, expect, it } from 'vitest';
// @ts-expect-error no typings for the template
import { createProtocols } from '../templates/server/protocols.mjs';
// @ts-expect-error no typings for the template
import { createServingProto, parseValueText, protoJson, generalSpec, GENERAL_PKG, toFeedArray } from '../templates/server/serving-proto.mjs';
// @ts-expect-error no typings for the template
import { createKserve, InferStats } from '../templates/server/kserve.mjs';
// @ts-expect-error no typings for the template
import { decode, encode } from '../templates/server/protobuf.mjs';

const model = {
  feeds: [{ name: 'words', alias: 'words', onnx: 'words', dtype: 'int64', shape: [-1, 1], lod: true }],
  fetches: [
    { name: 'double', alias: 'twice', onnx: 'double', dtype: 'int64', shape: [-1, 1], lod: true },
    { name: 'mask', alias: 'mask', onnx: 'mask', dtype: 'bool', shape: [-1, 1], lod: false },
    { name: 'code', alias: 'code', onnx: 'code', dtype: 'int8', shape: [-1, 1], lod: false },
  ],
};
const pool = {
  async run(input: { data: BigInt64Array; shape: number[] }[]) {
    const x = input[0]!.data;
    const dims = input[0]!.shape;
    return {
      double: { data: BigInt64Array.from(x, (v) => v * 2n), dims },
      mask: { data: Uint8Array.from(x, (v) => (v > 2n ? 1 : 0)), dims },
      code: { data: Int8Array.from(x, (v) => Number(-v)), dims },
    };
  },
};
const stats = new InferStats();
const protocols = createProtocols({ model, pool, defaultFetch: ['twice'], batchable: true, serviceName: 'm', stats });
const serving = createServingProto({ protocols, model, serviceName: 'm', defaultFetch: ['twice'] });

describe('Paddle Serving GeneralModelService messages', () => {
  it('int64 in (a LoD feed with shape [1,-1]), int64 + LoD, bool and raw int8 out', async () => {
    const req = serving.decodeGeneral(Buffer.from(JSON.stringify({ tensor: [{ int64_data: [1, 2, 3], elem_type: 0, shape: [1, -1], alias_name: 'words', lod: [0, 3] }] })), false);
    const res = await serving.general(req);
    const [twice, mask, code] = res.outputs[0].tensor;
    expect(twice).toMatchObject({ elem_type: 0, shape: [3, 1], name: 'double', alias_name: 'twice', lod: [0, 1, 2, 3] });
    expect(Array.from(twice.int64_data as BigInt64Array)).toEqual([2n, 4n, 6n]);
    expect(mask).toMatchObject({ elem_type: 9, bool_data: [false, false, true] });
    expect(mask.lod).toBeUndefined();
    expect(code.elem_type).toBe(8);
    expect(Array.from(new Int8Array(code.tensor_content.buffer, code.tensor_content.byteOffset, 3))).toEqual([-1, -2, -3]);
    // JSON: typed arrays as lists, 64-bit integers as numbers, bytes as base64
    const json = JSON.parse(protoJson(res));
    expect(json.outputs[0].tensor[0].int64_data).toEqual([2, 4, 6]);
    expect(json.outputs[0].tensor[2].tensor_content).toBe(Buffer.from([0xff, 0xfe, 0xfd]).toString('base64'));
  });

  it('reads protobuf\'s lowerCamel JSON names and fetches by alias', async () => {
    const req = serving.decodeGeneral(Buffer.from(JSON.stringify({ tensor: [{ int64Data: ['5'], elemType: 0, shape: [1, 1], aliasName: 'words' }], fetchVarNames: ['mask'], logId: '9' })), false);
    const res = await serving.general(req);
    expect(res.outputs[0].tensor).toHaveLength(1);
    expect(res.outputs[0].tensor[0]).toMatchObject({ alias_name: 'mask', bool_data: [true] });
    expect(res.log_id).toBe('9');
  });

  it('encodes a Response as protobuf\'s own wire bytes (fields in number order, packed, proto3 defaults left out)', async () => {
    const res = await serving.general(serving.decodeGeneral(Buffer.from(JSON.stringify({ tensor: [{ int64_data: [3], elem_type: 0, shape: [1, 1], alias_name: 'words' }], fetch_var_names: ['twice'] })), false));
    const bytes: Buffer = serving.encodeGeneral(res, true);
    // Response.outputs(1) { ModelOutput.tensor(1) { int64_data(1) packed [6], elem_type(10) 0 omitted, shape(11) packed [1,1], lod(12) packed [0,1], name(13) "double", alias_name(14) "twice" }, engine_name(2) "general_infer_0" }
    const tensor = Buffer.concat([
      Buffer.from([0x0a, 0x01, 0x06]),
      Buffer.from([0x5a, 0x02, 0x01, 0x01]),
      Buffer.from([0x62, 0x02, 0x00, 0x01]),
      Buffer.from([0x6a, 0x06]), Buffer.from('double'),
      Buffer.from([0x72, 0x05]), Buffer.from('twice'),
    ]);
    const output = Buffer.concat([Buffer.from([0x0a, tensor.length]), tensor, Buffer.from([0x12, 15]), Buffer.from('general_infer_0')]);
    expect(bytes.toString('hex')).toBe(Buffer.concat([Buffer.from([0x0a, output.length]), output]).toString('hex'));
    // and it decodes back
    const back = decode(generalSpec, `${GENERAL_PKG}.Response`, bytes);
    expect(back.outputs[0].tensor[0]).toMatchObject({ int64_data: [6], shape: [1, 1], lod: [0, 1], name: 'double', alias_name: 'twice' });
    expect(Buffer.from(encode(generalSpec, `${GENERAL_PKG}.Response`, back)).equals(bytes)).toBe(true);
  });

  it('refuses what it cannot read with a 400 and a reason', async () => {
    const bad = async (body: object) => {
      try { await serving.general(serving.decodeGeneral(Buffer.from(JSON.stringify(body)), false)); } catch (e) { return e as { status: number; message: string; errNo: number }; }
      throw new Error('accepted');
    };
    expect(await bad({ tensor: [] })).toMatchObject({ status: 400, message: expect.stringMatching(/one tensor per feed/) });
    expect(await bad({ tensor: [{ data: ['a'], elem_type: 20, alias_name: 'words' }] })).toMatchObject({ status: 400, message: expect.stringMatching(/strings\/bytes/) });
    expect(await bad({ tensor: [{ float_data: [1.5], elem_type: 1, shape: [1, 1], alias_name: 'words' }] })).toMatchObject({ status: 400, message: expect.stringMatching(/expected an integer \(int64\)/) });
    expect(await bad({ tensor: [{ tensor_content: Buffer.from([1, 2, 3]).toString('base64'), elem_type: 0, alias_name: 'words' }] })).toMatchObject({ message: expect.stringMatching(/3 bytes is not a whole number of int64 elements/) });
    expect(await bad({ tensor: [{ int64_data: [1], elem_type: 0, alias_name: 'words' }, { int64_data: [1], elem_type: 0, alias_name: 'words' }] })).toMatchObject({ message: expect.stringMatching(/given twice/) });
    expect(await bad({ tensor: [{ int64_data: [1], elem_type: 0, shape: [1, 1], alias_name: 'words' }], fetch_var_names: ['nope'] })).toMatchObject({ message: expect.stringMatching(/unknown fetch "nope"/) });
    // proto3 JSON carries int64 as decimal strings: one past either end of int64 is refused, never wrapped
    expect(await bad({ tensor: [{ int64_data: ['9223372036854775808'], elem_type: 0, shape: [1, 1], alias_name: 'words' }] })).toMatchObject({ status: 400, message: expect.stringMatching(/element 0 is 9223372036854775808, out of range for int64/) });
    expect(await bad({ tensor: [{ int64_data: ['1', '-9223372036854775809'], elem_type: 0, shape: [2, 1], alias_name: 'words' }] })).toMatchObject({ status: 400, message: expect.stringMatching(/element 1 is -9223372036854775809, out of range for int64/) });
    expect(await bad({ tensor: [{ int64_data: [`1${'0'.repeat(400)}`], elem_type: 0, shape: [1, 1], alias_name: 'words' }] })).toMatchObject({ status: 400, message: expect.stringMatching(/out of range for int64/) });
  });

  it('takes 64-bit integer strings up to both ends of the range exactly', async () => {
    expect(Array.from(toFeedArray('int64', ['9223372036854775807', '-9223372036854775808', '-0', 5], 'v'))).toEqual([2n ** 63n - 1n, -(2n ** 63n), 0n, 5n]);
    expect(Array.from(toFeedArray('uint64', ['18446744073709551615', '0'], 'v'))).toEqual([2n ** 64n - 1n, 0n]);
    expect(() => toFeedArray('uint64', ['-1'], 'v')).toThrow(/element 0 is -1, out of range for uint64/);
    expect(() => toFeedArray('uint64', [3, -1], 'v')).toThrow(/element 1 is -1, out of range for uint64/);
    expect(() => toFeedArray('uint64', ['18446744073709551616'], 'v')).toThrow(/out of range for uint64/);
    expect(() => toFeedArray('int64', ['1.5'], 'v')).toThrow(/expected an integer \(int64\)/);
    const res = await serving.general(serving.decodeGeneral(Buffer.from(JSON.stringify({ tensor: [{ int64_data: ['-4611686018427387904', '4611686018427387903', '007'], elem_type: 0, shape: [3, 1], alias_name: 'words' }], fetch_var_names: ['twice'] })), false));
    expect(Array.from(res.outputs[0].tensor[0].int64_data as BigInt64Array)).toEqual([-(2n ** 63n), 2n ** 63n - 2n, 14n]);
  });
});

describe('pipeline text values and KServe gRPC typed contents', () => {
  it('parses upstream\'s comma/semicolon form and refuses ragged or non-numeric text', () => {
    expect(parseValueText(' 1, 2 ,3 ', 'v')).toEqual([1, 2, 3]);
    expect(parseValueText('1,2;3,4;', 'v')).toEqual([[1, 2], [3, 4]]);
    expect(parseValueText('-1e-3', 'v')).toEqual([-0.001]);
    expect(() => parseValueText('1,2;3', 'v')).toThrow(/different lengths/);
    expect(() => parseValueText('1,,2', 'v')).toThrow(/item 1 is "", not a number/);
    expect(() => parseValueText('', 'v')).toThrow(/empty value/);
    expect(() => parseValueText('1, Infinity', 'v')).toThrow(/not a number/);
  });

  it('ModelInfer with int64_contents, raw int8 out, and a version that does not exist', async () => {
    const kserve = createKserve({ protocols, model, serviceName: 'm', stats, metrics: { runs: 0, runRows: 0 }, maxBatch: 8, batchable: true, workers: 2, ep: 'cpu' });
    const res = await kserve.grpcInfer({ model_name: 'm', inputs: [{ name: 'words', datatype: 'INT64', shape: [2, 1], contents: { int64_contents: [4, 5] } }], outputs: [{ name: 'code' }, { name: 'twice' }] });
    expect(res.outputs).toEqual([{ name: 'code', datatype: 'INT8', shape: [2, 1] }, { name: 'twice', datatype: 'INT64', shape: [2, 1] }]);
    expect(Array.from(new Int8Array(res.raw_output_contents[0].buffer, res.raw_output_contents[0].byteOffset, 2))).toEqual([-4, -5]);
    expect(res.raw_output_contents[1].readBigInt64LE(8)).toBe(10n);
    await expect(kserve.grpcInfer({ model_name: 'm', model_version: '2', inputs: [] })).rejects.toMatchObject({ status: 404 });
    await expect(kserve.grpcInfer({ model_name: 'm', inputs: [{ name: 'words', datatype: 'INT64', shape: [1, 1], contents: { fp32_contents: [1] } }] })).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/no contents\.int64_contents/) });
    // typed contents given as numeric strings (proto3 JSON's int64 form) are range-checked
    await expect(kserve.grpcInfer({ model_name: 'm', inputs: [{ name: 'words', datatype: 'INT64', shape: [1, 1], contents: { int64_contents: ['18446744073709551615'] } }] })).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/element 0 is 18446744073709551615, out of range for int64/) });
    await expect(kserve.grpcInfer({ model_name: 'm', inputs: [{ name: 'words', datatype: 'INT64', shape: [1, 1], contents: { int64_contents: [2n ** 63n] } }] })).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/out of range for int64/) });
    expect(kserve.modelConfig()).toMatchObject({ max_batch_size: 8, input: [{ name: 'words', data_type: 'TYPE_INT64', dims: [1] }], output: [{ data_type: 'TYPE_INT64' }, { data_type: 'TYPE_BOOL' }, { data_type: 'TYPE_INT8' }] });
    expect(stats.success.count).toBeGreaterThan(0);
  });
});
