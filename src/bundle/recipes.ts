/**
 * The seeds' pipeline services as pipeline configs (FORMATS §8): classification (`imagenet`),
 * PP-ShiTu (`recognition`), PP-TSM and PP-TSN (both `video`). A recipe says which models go into the bundle,
 * which files it carries (labels, the vector index), the service name and port the seed clients
 * use, the body limit its requests need, and the DAG with every threshold written out, so that a
 * user edits config.yml rather than code.
 */
export const RECIPES = ['imagenet', 'ppshitu', 'pptsm', 'pptsn'] as const;
export type RecipeName = typeof RECIPES[number];

/** a model's feed and fetch aliases, read from its serving conf */
export interface ModelIo {
  feeds: string[];
  fetches: string[];
  /** the first feed's full shape (batch dim first, -1 when open), when known */
  inputShape?: number[];
}

export interface RecipeModel { name: string; role: string; batch: boolean }
export interface RecipeFile { role: 'labels' | 'index'; dest: string }

export interface Recipe {
  recipe: RecipeName;
  service: string;
  port: number;
  /** request body limit in bytes and how long a client may take to send it */
  maxBodyBytes: number;
  bodyTimeoutMs: number;
  /** peak memory per request, as a multiple of the body size (README) */
  memoryNote: string;
  models: RecipeModel[];
  pipeline: Record<string, unknown>;
  clientExample: string;
}

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];
const MiB = 1024 * 1024;

const normalize = (input: string, arithmetic: 'float32' | 'float64') => ({ op: 'normalize', in: input, div: 255, mean: MEAN, std: STD, arithmetic });
const modelEntry = (name: string, batch: boolean) => ({ onnx: `models/${name}/model.onnx`, serving_server: `models/${name}/serving_server`, batch });

/**
 * PaddleClas deploy/paddleserving classification: Resize(256) -> CenterCrop(224) -> RGB2BGR ->
 * Transpose -> Div(255) -> Normalize; label = imagenet.label line of the arg max, prob = the max.
 */
export function imagenetRecipe(io: ModelIo, labelsFile: string): Recipe {
  // ImageNet models take 224 (resize 256, crop 224, as upstream); a model that declares another
  // square input gets the same 256:224 proportion (fixtures/tiny_classifier: 37, then 32)
  const s = io.inputShape;
  const crop = s && s.length === 4 && s[2]! > 0 && s[2] === s[3] ? s[2]! : 224;
  const short = crop === 224 ? 256 : Math.round((crop * 256) / 224);
  return {
    recipe: 'imagenet',
    service: 'imagenet',
    port: 18080,
    maxBodyBytes: 32 * MiB,
    bodyTimeoutMs: 60000,
    memoryNote: 'about 6x the body (its chunks and their join, the JSON text, the parsed string, the decoded bytes) plus each decoded image (3 bytes a pixel, up to 16 images) and its 256-short-side copy',
    models: [{ name: 'imagenet', role: 'classifier', batch: true }],
    clientExample: 'PaddleClas deploy/paddleserving/pipeline_http_client.py (POST /imagenet/prediction, {"key":["image"],"value":[base64 JPEG]})',
    pipeline: {
      models: { imagenet: modelEntry('imagenet', true) },
      steps: {
        images: { op: 'request_base64', keys: [], max_values: 16 },
        decoded: { op: 'decode_image', in: 'images' },
        resized: { op: 'resize_short', in: 'decoded', size: short, library: 'cv2' },
        cropped: { op: 'center_crop', in: 'resized', size: crop, rounding: 'floor' },
        rgb: { op: 'channel_order', in: 'cropped' },
        normalized: normalize('rgb', 'float64'),
        chw: { op: 'to_chw', in: 'normalized' },
        batch: { op: 'stack', in: 'chw' },
        scores: { op: 'model', model: 'imagenet', feeds: { [io.feeds[0]!]: 'batch' }, fetch: [io.fetches[0]!] },
        top1: { op: 'topk', in: `scores.${io.fetches[0]}`, k: 1, labels: `labels/${labelsFile}`, label_format: 'strip_comma' },
      },
      response: { label: 'top1.labels', prob: 'top1.scores' },
    },
  };
}

/**
 * PaddleVideo deploy/python_serving PP-TSM: Sampler(8, 1, valid_mode) -> Scale(256) (PIL, 4:3) ->
 * CenterCrop(224) (PIL, round) -> Image2Array -> Normalization -> [1, 8, 3, 224, 224]; softmax,
 * label of the arg max (Kinetics-400_label_list.txt), prob = the max.
 */
export function pptsmRecipe(io: ModelIo, labelsFile: string): Recipe {
  return videoRecipe(io, labelsFile, {
    recipe: 'pptsm',
    memoryNote: 'about 6x the body (its chunks and their join, the JSON text, the parsed string, the raw frames): example.avi (131 frames of 320x240) is a 40 MB body and raised the peak RSS by 234 MB (measured); the 8 sampled frames after that are small',
    sampled: { num_seg: 8, seg_len: 1, select_left: false },
    scaled: { short_size: 256, library: 'pil' },
    cropped: { op: 'center_crop', size: 224, rounding: 'round' },
    crops: 8,
  });
}

/**
 * PaddleVideo deploy/python_serving PP-TSN (recognition_web_service.py -n PPTSN, configs/PP-TSN.yaml:
 * op `video`, http 18080, fetch `outputs`): Sampler(25, 1, valid_mode, select_left) ->
 * Scale(256, fixed_ratio, do_round, backend cv2) (341x256 whatever the aspect; cv2 INTER_LINEAR) ->
 * TenCrop(224) (4 corners + centre at multiples of (dim-224)//4, each group followed by its flips:
 * 250 crops) -> Image2Array -> Normalization (float32) -> [1, 250, 3, 224, 224] (the exported
 * ppTSN's input spec); softmax, label of the arg max, prob = the max, as PP-TSM.
 */
export function pptsnRecipe(io: ModelIo, labelsFile: string): Recipe {
  return videoRecipe(io, labelsFile, {
    recipe: 'pptsn',
    memoryNote: 'about 6x the body (its chunks and their join, the JSON text, the parsed string, the raw frames) plus the model input, 250 crops of 3x224x224 float32 (150 MB), and its intermediate copies: example.avi (131 frames of 320x240, a 40 MB body) raised the peak RSS by 545 MB (measured)',
    sampled: { num_seg: 25, seg_len: 1, select_left: true },
    scaled: { short_size: 256, library: 'cv2' },
    cropped: { op: 'ten_crop', size: 224 },
    crops: 250,
  });
}

/** What PaddleVideo's video services differ in; the request, model and answer steps are the same. */
interface VideoVariant {
  recipe: 'pptsm' | 'pptsn';
  memoryNote: string;
  sampled: { num_seg: number; seg_len: number; select_left: boolean };
  scaled: { short_size: number; library: 'pil' | 'cv2' };
  cropped: { op: string; size: number; rounding?: string };
  /** crops per video: the model's second dim */
  crops: number;
}

/** PaddleVideo deploy/python_serving: service `video` on 18080, raw frames in, label + prob out. */
function videoRecipe(io: ModelIo, labelsFile: string, v: VideoVariant): Recipe {
  const { op: cropOp, ...crop } = v.cropped;
  return {
    recipe: v.recipe,
    service: 'video',
    port: 18080,
    maxBodyBytes: 256 * MiB,
    bodyTimeoutMs: 300000,
    memoryNote: v.memoryNote,
    models: [{ name: 'video', role: 'classifier', batch: true }],
    clientExample: 'PaddleVideo deploy/python_serving/pipeline_http_client.py (POST /video/prediction, {"key":["frames","frames_shape"],"value":[base64 raw RGB frames, "(T, H, W, C)"]})',
    pipeline: {
      models: { video: modelEntry('video', true) },
      steps: {
        frames: { op: 'request_frames', data_key: 'frames', shape_key: 'frames_shape', channel_order: 'rgb', strict_keys: true, max_frames: 100000 },
        sampled: { op: 'sample_frames', in: 'frames', ...v.sampled },
        scaled: { op: 'scale_fixed_ratio', in: 'sampled', ...v.scaled },
        cropped: { op: cropOp, in: 'scaled', ...crop },
        normalized: normalize('cropped', 'float32'),
        chw: { op: 'to_chw', in: 'normalized' },
        batch: { op: 'stack', in: 'chw', shape: [-1, v.crops, 3, 224, 224] },
        logits: { op: 'model', model: 'video', feeds: { [io.feeds[0]!]: 'batch' }, fetch: [io.fetches[0]!] },
        probs: { op: 'softmax', in: `logits.${io.fetches[0]}` },
        top1: { op: 'topk', in: 'probs', k: 1, labels: `labels/${labelsFile}`, label_format: 'index_name' },
      },
      response: { label: 'top1.labels', prob: 'top1.scores' },
    },
  };
}

/**
 * PaddleClas deploy/paddleserving/recognition: DetOp (BGR2RGB, Div, Normalize, Resize 640x640 of the
 * float image, Transpose; boxes sorted, first 5, score >= 0.2) then RecOp (whole image appended,
 * crops, BGR2RGB, Resize 224x224, Div, Normalize; L2-normalised features searched with k=1, score
 * >= 0.5, NMS at IoU 0.05 with +1 areas).
 */
export function ppshituRecipe(det: ModelIo, rec: ModelIo): Recipe {
  const detFeeds: Record<string, string> = {};
  for (const f of det.feeds) {
    if (f === 'im_shape') detFeeds[f] = 'det_info.im_shape';
    else if (f === 'scale_factor') detFeeds[f] = 'det_info.scale_factor';
    else detFeeds[f] = 'det_batch';
  }
  const rows = det.fetches[0]!;
  // upstream resizes to the mainbody detector's 640x640; a detector that declares another fixed
  // input (PP-YOLO tiny: 320x320) gets its own size, for the resize and for im_shape/scale_factor
  const s = det.inputShape;
  const [dh, dw] = s && s.length === 4 && s[2]! > 0 && s[3]! > 0 ? [s[2]!, s[3]!] : [640, 640];
  return {
    recipe: 'ppshitu',
    service: 'recognition',
    port: 18081,
    maxBodyBytes: 32 * MiB,
    bodyTimeoutMs: 60000,
    memoryNote: 'about 6x the body plus the decoded image, its float64 copy for the detector (24 bytes a pixel) and one 224x224 crop per box',
    models: [{ name: 'det', role: 'detector', batch: false }, { name: 'rec', role: 'feature extractor', batch: true }],
    clientExample: 'PaddleClas deploy/paddleserving/recognition/pipeline_http_client.py (POST /recognition/prediction, {"key":["image"],"value":[base64 JPEG]})',
    pipeline: {
      models: { det: modelEntry('det', false), rec: modelEntry('rec', true) },
      steps: {
        images: { op: 'request_base64', keys: [], max_values: 16 },
        decoded: { op: 'decode_image', in: 'images' },
        det_rgb: { op: 'channel_order', in: 'decoded' },
        det_norm: normalize('det_rgb', 'float64'),
        det_resized: { op: 'resize', in: 'det_norm', width: dw, height: dh, library: 'cv2' },
        det_chw: { op: 'to_chw', in: 'det_resized' },
        det_batch: { op: 'stack', in: 'det_chw' },
        ...(det.feeds.some((f) => f === 'im_shape' || f === 'scale_factor') ? { det_info: { op: 'image_info', in: 'decoded', target: [dh, dw] } } : {}),
        detection: { op: 'model', model: 'det', feeds: detFeeds, fetch: det.fetches },
        boxes: {
          op: 'det_boxes', in: `detection.${rows}`, image: 'decoded',
          ...(det.fetches[1] ? { counts: `detection.${det.fetches[1]}` } : {}),
          score_threshold: 0.2, top_k: 5, append_whole_image: true,
        },
        crops: { op: 'crop_boxes', in: 'decoded', boxes: 'boxes' },
        rec_rgb: { op: 'channel_order', in: 'crops' },
        rec_resized: { op: 'resize', in: 'rec_rgb', width: 224, height: 224, library: 'cv2' },
        rec_norm: normalize('rec_resized', 'float64'),
        rec_chw: { op: 'to_chw', in: 'rec_norm' },
        rec_batch: { op: 'stack', in: 'rec_chw' },
        features: { op: 'model', model: 'rec', feeds: { [rec.feeds[0]!]: 'rec_batch' }, fetch: [rec.fetches[0]!] },
        unit: { op: 'l2_normalize', in: `features.${rec.fetches[0]}` },
        hits: { op: 'vector_search', in: 'unit', index: 'index', k: 1 },
        results: { op: 'recognition_results', boxes: 'boxes', hits: 'hits', score_threshold: 0.5, doc_field: 'split_1' },
        kept: { op: 'nms', in: 'results', iou_threshold: 0.05, score_key: 'rec_scores', box_key: 'bbox' },
      },
      response: { result: 'kept' },
    },
  };
}

/** YAML for config.yml's pipeline section (maps, scalars and flow lists: what the server's reader takes) */
export function renderYaml(value: Record<string, unknown>, indent = 0): string[] {
  const pad = ' '.repeat(indent);
  const scalar = (v: unknown): string => {
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    if (v === null) return 'null';
    const s = String(v);
    return /^[A-Za-z_][\w./-]*$/.test(s) && !/^(true|false|null|yes|no|on|off)$/i.test(s) ? s : JSON.stringify(s);
  };
  const lines: string[] = [];
  for (const [k, v] of Object.entries(value)) {
    if (Array.isArray(v)) lines.push(`${pad}${k}: [${v.map(scalar).join(', ')}]`);
    else if (v && typeof v === 'object') lines.push(`${pad}${k}:`, ...renderYaml(v as Record<string, unknown>, indent + 2));
    else lines.push(`${pad}${k}: ${scalar(v)}`);
  }
  return lines;
}
