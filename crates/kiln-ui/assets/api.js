// Connect client for Kiln's public query API. JSON for everything; the
// Connect *proto* codec only for the pprof download (raw profile bytes).

const SERVICE = '/querier.v1.QuerierService/';

// With multi-tenancy on, Kiln needs the tenant in `X-Scope-OrgID`.
let tenant = '';

/** Sets the tenant sent with every call ('' sends none). */
export function setTenant(id) {
  tenant = id || '';
}

function headers(contentType) {
  const h = { 'Content-Type': contentType, 'Connect-Protocol-Version': '1' };
  if (tenant) h['X-Scope-OrgID'] = tenant;
  return h;
}

/** An error answered by the API, carrying its Connect code and message. */
export class ApiError extends Error {
  constructor(method, code, message) {
    super(message);
    this.method = method;
    this.code = code;
  }
}

/** Calls one querier RPC with a JSON body and returns the parsed answer. */
export async function call(method, body, { signal } = {}) {
  let res;
  try {
    res = await fetch(SERVICE + method, {
      method: 'POST',
      headers: headers('application/json'),
      body: JSON.stringify(body),
      signal,
    });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(method, 'unavailable', `cannot reach Kiln: ${err.message}`);
  }
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    json = null;
  }
  if (!res.ok) {
    const message = json && json.message ? json.message : text.trim() || res.statusText;
    throw new ApiError(method, json && json.code ? json.code : String(res.status), message);
  }
  if (json === null) throw new ApiError(method, 'internal', `${method}: answer is not JSON`);
  return json;
}

// --- minimal protobuf writer for SelectMergeProfileRequest -----------------

function varint(out, n) {
  let v = BigInt(n);
  if (v < 0n) v += 1n << 64n;
  while (v >= 0x80n) {
    out.push(Number((v & 0x7fn) | 0x80n));
    v >>= 7n;
  }
  out.push(Number(v));
}

function stringField(out, field, s) {
  if (!s) return;
  const bytes = new TextEncoder().encode(s);
  varint(out, (field << 3) | 2);
  varint(out, bytes.length);
  for (const b of bytes) out.push(b);
}

function intField(out, field, n) {
  if (!n) return;
  varint(out, field << 3);
  varint(out, n);
}

/** Encodes a SelectMergeProfileRequest (fields 1–4) as protobuf bytes. */
export function encodeMergeProfileRequest({ profileTypeID, labelSelector, start, end }) {
  const out = [];
  stringField(out, 1, profileTypeID);
  stringField(out, 2, labelSelector);
  intField(out, 3, start);
  intField(out, 4, end);
  return new Uint8Array(out);
}

/** Fetches the merged profile as pprof bytes, gzipped as `go tool pprof` expects. */
export async function mergedPprof(request) {
  const res = await fetch(SERVICE + 'SelectMergeProfile', {
    method: 'POST',
    headers: headers('application/proto'),
    body: encodeMergeProfileRequest(request),
  });
  if (!res.ok) {
    let message = res.statusText;
    try {
      const json = await res.json();
      if (json.message) message = json.message;
    } catch {
      // Connect errors are JSON even on the proto codec; keep the status text otherwise.
    }
    throw new ApiError('SelectMergeProfile', String(res.status), message);
  }
  const raw = new Blob([await res.arrayBuffer()]);
  const gz = raw.stream().pipeThrough(new CompressionStream('gzip'));
  return new Uint8Array(await new Response(gz).arrayBuffer());
}
