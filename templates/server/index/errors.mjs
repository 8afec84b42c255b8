/**
 * The index code runs inside bundles (no access to src/errors.ts), so it throws this small error
 * with a stable `E_` code and the byte offset; the CLI turns it into a PserveError with the file.
 */
export class IndexFormatError extends Error {
  /**
   * @param {string} code stable code (E_INDEX_*, E_PICKLE_*, E_NPY_*)
   * @param {string} message what was expected and what was found
   * @param {number} [offset] byte offset in the file, when known
   */
  constructor(code, message, offset) {
    super(message);
    this.name = 'IndexFormatError';
    this.code = code;
    this.offset = offset;
  }
}
