/**
 * Paddle ProgramDesc (`__model__`, `*.pdmodel`): decode and encode with our own schema.
 * Pure: bytes in, objects out.
 */
import { PserveError } from '../errors.js';
import { schema as table } from './proto/paddle_framework.gen.js';
import { decodeMessage, encodeMessage, loadSchema, type ProtoMessage } from './protobuf.js';

const schema = loadSchema(table);
export const ProgramDescSpec = schema('paddle.framework.proto.ProgramDesc');
export const TensorDescSpec = schema('paddle.framework.proto.VarType.TensorDesc');

/** The decoded program keeps protobuf field names (snake_case) so that it encodes back byte for byte. */
export interface ProgramDesc extends ProtoMessage {
  blocks?: BlockDesc[];
  version?: ProtoMessage & { version?: number | bigint };
  op_version_map?: ProtoMessage;
}
export interface BlockDesc extends ProtoMessage {
  idx?: number; parent_idx?: number; vars?: VarDesc[]; ops?: OpDesc[]; forward_block_idx?: number;
}
export interface TensorDesc extends ProtoMessage { data_type?: number; dims?: (number | bigint)[] }
export interface VarTypeDesc extends ProtoMessage {
  type?: number;
  lod_tensor?: ProtoMessage & { tensor?: TensorDesc; lod_level?: number };
  selected_rows?: TensorDesc;
  tensor_array?: ProtoMessage & { tensor?: TensorDesc; lod_level?: number };
}
export interface VarDesc extends ProtoMessage {
  name?: string; type?: VarTypeDesc; persistable?: boolean; is_parameter?: boolean; stop_gradient?: boolean;
}
export interface OpVar extends ProtoMessage { parameter?: string; arguments?: string[] }
export interface OpAttr extends ProtoMessage {
  name?: string; type?: number; i?: number; f?: number; s?: string; ints?: number[]; floats?: number[]; strings?: string[];
  b?: boolean; bools?: boolean[]; block_idx?: number; l?: number | bigint; blocks_idx?: number[]; longs?: (number | bigint)[];
  float64s?: number[]; var_name?: string; vars_name?: string[]; float64?: number; scalar?: ProtoMessage; scalars?: ProtoMessage[];
}
export interface OpDesc extends ProtoMessage { type?: string; inputs?: OpVar[]; outputs?: OpVar[]; attrs?: OpAttr[]; is_target?: boolean }

/**
 * Does this look like a serialized ProgramDesc? Every real one starts with field 1 (blocks, LEN)
 * or, for an empty program, field 4 (version).
 */
export function sniffProgram(head: Uint8Array): boolean {
  return head.length > 1 && (head[0] === 0x0a || head[0] === 0x22);
}

export function decodeProgram(bytes: Uint8Array, file: string): ProgramDesc {
  if (bytes.length === 0) throw new PserveError('E_PROGRAM_EMPTY', 'program file is empty', { file, offset: 0 });
  if (!sniffProgram(bytes)) {
    throw new PserveError('E_PROGRAM_INVALID', `not a Paddle program: expected a ProgramDesc protobuf (first byte 0x0a), found 0x${bytes[0]!.toString(16).padStart(2, '0')}`, { file, offset: 0 });
  }
  let prog: ProgramDesc;
  try {
    prog = decodeMessage(ProgramDescSpec, bytes, 'Paddle program') as ProgramDesc;
  } catch (e) {
    if (e instanceof PserveError) throw new PserveError(e.code === 'E_PROTO_TRUNCATED' ? 'E_PROGRAM_TRUNCATED' : 'E_PROGRAM_INVALID', e.message, { file, offset: e.offset });
    throw e;
  }
  if (!prog.blocks || prog.blocks.length === 0) {
    throw new PserveError('E_PROGRAM_INVALID', 'Paddle program has no blocks', { file, offset: 0 });
  }
  return prog;
}

export function encodeProgram(prog: ProgramDesc): Uint8Array {
  return encodeMessage(ProgramDescSpec, prog);
}

/** major*1e6 + minor*1e3 + patch (FORMATS.md section 1) */
export function versionString(v: number | bigint): string {
  const n = BigInt(v);
  return `${n / 1000000n}.${(n / 1000n) % 1000n}.${n % 1000n}`;
}
