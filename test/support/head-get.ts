// HEAD must answer as GET minus the body (RFC 9110 §9.3.2): same status, same headers. Shared by
// the app.request() test and the loopback-socket test so both hold the app to one rule.
import { assert } from '../assert.ts';

/**
 * Headers that describe the connection or the framing, not the resource: Node closes the
 * connection after a HEAD (`connection`, `keep-alive`), `date` ticks, and a streamed GET is
 * chunked while its HEAD has no body to frame (Deno then writes `content-length: 0`).
 */
const FRAMING_HEADERS = new Set(['connection', 'keep-alive', 'date', 'transfer-encoding']);

/**
 * Compare a GET and a HEAD answer for one path. `getBodyBytes` is the GET body's length (null
 * for a stream). HEAD's Content-Length must be that length; GET's too when it has one (a server
 * adds it; `app.request()` answers have none). Reads the HEAD body, which must be empty.
 */
export async function assertHeadMatchesGet(label: string, get: Response, getBodyBytes: number | null, head: Response): Promise<void> {
  const streamed = getBodyBytes === null;
  assert.equal(head.status, get.status, `${label}: HEAD status = GET status`);
  const pick = (r: Response): Record<string, string> => {
    const out: Record<string, string> = {};
    r.headers.forEach((value, name) => {
      if (FRAMING_HEADERS.has(name)) return;
      if (name === 'content-length') return;
      out[name] = value;
    });
    return out;
  };
  assert.deepEqual(pick(head), pick(get), `${label}: HEAD headers = GET headers`);
  if (!streamed) {
    assert.equal(head.headers.get('content-length'), String(getBodyBytes), `${label}: HEAD Content-Length = GET body length`);
    const getLength = get.headers.get('content-length');
    if (getLength !== null) assert.equal(getLength, String(getBodyBytes), `${label}: GET Content-Length`);
  }
  const body = new Uint8Array(await head.arrayBuffer());
  assert.equal(body.byteLength, 0, `${label}: HEAD has no body`);
}
