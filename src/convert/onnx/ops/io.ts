/** feed/data declare graph inputs and fetch declares graph outputs; the converter does both, so these map to nothing. */
import { defineOp } from '../declare.js';

export const feedFetch = defineOp({
  types: ['feed', 'fetch', 'data'],
  minOpset: 1,
  note: 'graph inputs/outputs, named after the feed/fetch vars',
  map() { /* handled by the converter */ },
});
