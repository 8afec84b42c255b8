/** feed/data declare graph inputs and fetch declares graph outputs; the converter does both, so these map to nothing. */
import type { OpMapper } from '../mapper.js';

export const feedFetch: OpMapper = {
  types: ['feed', 'fetch', 'data'],
  note: 'graph inputs/outputs, named after the feed/fetch vars',
  map() { /* handled by the converter */ },
};
