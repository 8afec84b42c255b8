/**
 * Named caps on everything a file can claim. Each is checked, together with the bytes actually
 * left, before anything is allocated for it.
 */
export const LIMITS = {
  /** nested protobuf messages (ProgramDesc -> Block -> Op -> Attr -> Scalar -> Complex is 6) */
  protoDepth: 32,
  /** one tensor's rank */
  maxRank: 16,
  /** LoD levels of one tensor in a params stream */
  maxLodLevels: 16,
  /** bytes of one serialized TensorDesc inside a params stream */
  maxTensorDescBytes: 1 << 16,
  /** elements of one tensor (2^40, far beyond any real model, below 2^53) */
  maxElements: 2 ** 40,
  /** blocks in one program */
  maxBlocks: 1 << 16,
  /** bytes of one program file we are willing to decode */
  maxProgramBytes: 2 ** 31 - 1,
  /** JSON nesting for PIR programs */
  pirDepth: 64,
} as const;
