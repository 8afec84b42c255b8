/** Detection post-processing ops (PaddleDetection exports), one file each; the registry takes this list. */
import type { OpMapper } from '../mapper.js';
import { multiclassNms } from './nms.js';

export const DETECTION_MAPPERS: OpMapper[] = [multiclassNms];
