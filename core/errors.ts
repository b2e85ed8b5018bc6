// Two kinds of error (STYLE.md #6):
//  - misuse by our own code throws TypeError/RangeError naming the argument and the value;
//  - peer and protocol failures are returned values: a `ProtocolError` with a kebab-case code
//    and an origin. After the first one a connection is terminal.

/** Where a failure came from: `remote` = the peer sent something bad; `local` = our side
 * (timeout, limit, shutdown). */
export type ErrorOrigin = 'local' | 'remote';

export interface ProtocolError {
  /** Stable kebab-case code, e.g. `frame-too-large`, `decrypt-failed`, `truncated`. */
  readonly code: string;
  readonly origin: ErrorOrigin;
  /** Human-readable explanation; never contains secrets. */
  readonly message: string;
  /** Name of the field being decoded when the error happened, where one applies. */
  readonly field?: string;
}

export function protocolError(
  code: string,
  origin: ErrorOrigin,
  message: string,
  field?: string,
): ProtocolError {
  return field === undefined ? { code, origin, message } : { code, origin, message, field };
}

export type Result<T, E = ProtocolError> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: E };

export function ok<T>(value: T): { readonly ok: true; readonly value: T } {
  return { ok: true, value };
}

export function err<E = ProtocolError>(error: E): { readonly ok: false; readonly error: E } {
  return { ok: false, error };
}
