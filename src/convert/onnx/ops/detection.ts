/** Detection post-processing ops (PaddleDetection exports), one file each; the registry takes this list. */
import type { OpMapper } from '../mapper.js';
import { multiclassNms } from './nms.js';
import { matrixNms } from './matrix-nms.js';
import { yoloBox } from './yolo-box.js';
import { anchorGenerator, densityPriorBox, priorBox } from './prior-box.js';
import { boxCoder } from './box-coder.js';

export const DETECTION_MAPPERS: OpMapper[] = [multiclassNms, matrixNms, yoloBox, priorBox, densityPriorBox, anchorGenerator, boxCoder];
