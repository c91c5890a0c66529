// SDP offer/answer over HTTP, as WHEP (playback) and WHIP (publishing) both do it: the offer
// is sent once ICE gathering is done (no trickle: the answer carries all server candidates).
//
//   const {answer, location} = await exchangeSdp(pc, url, {token});   // throws WhepError
//   await pc.setRemoteDescription({type: 'answer', sdp: answer});
//   fetch(location, {method: 'DELETE'})                                 // ends the session

const GATHER_TIMEOUT_MS = 2000; // wait at most this long for ICE gathering

// The server's refusal (or 0 when it could not be reached), with its reason.
export class WhepError extends Error {
  constructor(message, {status = 0, code = null, retryAfterS = null} = {}) {
    super(message);
    this.name = 'WhepError';
    this.status = status;          // HTTP status, 0 for a network failure
    this.code = code;              // the server's "error" field
    this.retryAfterS = retryAfterS;
  }

  // 4xx other than 408/429 will not heal by retrying the same request.
  get permanent() {
    return this.status >= 400 && this.status < 500 && this.status !== 408 && this.status !== 429;
  }
}

// The STUN/TURN servers the site gives browsers (GET /api/ice-servers; none unless configured),
// read once per page. [] when they cannot be read: a reachable relay needs none.
let siteIceServers = null;
export function iceServersForPage() {
  siteIceServers ??= fetch('/api/ice-servers')
    .then((response) => (response.ok ? response.json() : {}))
    .then((body) => (Array.isArray(body.iceServers) ? body.iceServers : []))
    .catch(() => []);
  return siteIceServers;
}

export async function exchangeSdp(pc, url, {token = null, failure = 'Video tidak dapat dimulai'} = {}) {
  await pc.setLocalDescription(await pc.createOffer());
  await iceGatheringDone(pc, GATHER_TIMEOUT_MS);
  const headers = {'Content-Type': 'application/sdp'};
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(url, {method: 'POST', headers, body: pc.localDescription.sdp});
  } catch {
    throw new WhepError('Server tidak dapat dihubungi.', {status: 0});
  }
  if (response.status !== 201) throw await errorFrom(response, failure);
  const sessionUrl = response.headers.get('Location');
  return {answer: await response.text(), location: sessionUrl ? new URL(sessionUrl, url).href : null};
}

async function errorFrom(response, what) {
  let body = {};
  try {
    body = await response.json();
  } catch { /* not JSON */ }
  const retryAfter = Number.parseInt(response.headers.get('Retry-After') || '', 10);
  const message = body.message || (response.status === 503
    ? 'Server sedang penuh. Coba lagi sebentar lagi.'
    : `${what} (kode ${response.status}).`);
  return new WhepError(message, {
    status: response.status, code: body.error || null, retryAfterS: Number.isFinite(retryAfter) ? retryAfter : null,
  });
}

function iceGatheringDone(pc, timeoutMs) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    };
    const check = () => { if (pc.iceGatheringState === 'complete') done(); };
    const timer = setTimeout(done, timeoutMs); // send what we have: the server's candidates suffice
    pc.addEventListener('icegatheringstatechange', check);
  });
}

