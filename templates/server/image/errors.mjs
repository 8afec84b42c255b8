// Errors and limits of the image code. This folder runs inside a bundle (no src/ there), so it has its own
// error class; `code` uses pserve's stable E_ codes and the CLI side maps it to a PserveError as is.

/**
 * Largest image accepted, in pixels (8192 x 8192: a 50-megapixel phone photo fits); checked before any pixel
 * buffer is allocated. Decoding one costs about 10 bytes a pixel at the peak (coefficients, planes, output).
 */
export const MAX_IMAGE_PIXELS = 8192 * 8192;
/** Largest width or height accepted. */
export const MAX_IMAGE_SIDE = 65535;

export class ImageError extends Error {
  /**
   * @param {string} code stable E_ code: E_IMAGE_FORMAT, E_IMAGE_TRUNCATED, E_IMAGE_CORRUPT, E_IMAGE_UNSUPPORTED,
   *   E_IMAGE_TOO_LARGE, E_IMAGE_ARG
   * @param {string} message
   * @param {number} [offset] byte offset in the encoded image, when known
   */
  constructor(code, message, offset) {
    super(message);
    this.name = 'ImageError';
    this.code = code;
    this.offset = offset;
  }
}

/**
 * Refuse sizes before allocating: a header may claim 100000 x 100000.
 * @param {string} format
 * @param {number} width
 * @param {number} height
 */
export function checkImageSize(format, width, height) {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new ImageError('E_IMAGE_CORRUPT', `${format}: image size ${width}x${height} is not a positive size`);
  }
  if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE || width * height > MAX_IMAGE_PIXELS) {
    throw new ImageError('E_IMAGE_TOO_LARGE', `${format}: image of ${width}x${height} pixels is over the limit of ${MAX_IMAGE_PIXELS} pixels (${MAX_IMAGE_SIDE} per side)`);
  }
}
