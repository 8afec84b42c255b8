// The EXIF orientation tag (0x0112), which cv2.imdecode applies to JPEG (APP1) and PNG (eXIf) images.

/**
 * Orientation 1..8 from EXIF data at d[p..end): "Exif\0\0" then a TIFF header (JPEG APP1), or the TIFF header
 * directly (PNG eXIf). null when absent or malformed (never an error: OpenCV ignores a bad EXIF block too).
 * @param {Uint8Array} d @param {number} p @param {number} end
 * @returns {number | null}
 */
export function exifOrientation(d, p, end) {
  let t = p;
  if (end - p >= 6 && d[p] === 0x45 && d[p + 1] === 0x78 && d[p + 2] === 0x69 && d[p + 3] === 0x66 && d[p + 4] === 0 && d[p + 5] === 0) t = p + 6;
  if (end - t < 8) return null;
  const le = d[t] === 0x49 && d[t + 1] === 0x49;
  if (!le && !(d[t] === 0x4d && d[t + 1] === 0x4d)) return null;
  const r16 = (/** @type {number} */ o) => (le ? d[o] | (d[o + 1] << 8) : (d[o] << 8) | d[o + 1]);
  const r32 = (/** @type {number} */ o) => (le ? (d[o] | (d[o + 1] << 8) | (d[o + 2] << 16)) + d[o + 3] * 16777216 : d[o] * 16777216 + ((d[o + 1] << 16) | (d[o + 2] << 8) | d[o + 3]));
  const ifd = t + r32(t + 4);
  if (ifd + 2 > end) return null;
  const n = r16(ifd);
  for (let k = 0; k < n; k++) {
    const e = ifd + 2 + 12 * k;
    if (e + 12 > end) return null;
    if (r16(e) === 0x0112) {
      const v = r16(e + 8);
      return v >= 1 && v <= 8 ? v : null;
    }
  }
  return null;
}
