// JSON helpers for the public API (same origin; a signed-in session cookie goes along by itself).

export class ApiError extends Error {
  constructor(message, status, code = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status; // HTTP status, 0 when the server could not be reached
    this.code = code;     // the server's "error" field
  }
}

export async function getJson(path, params = null) {
  if (params) path += `?${query(params)}`;
  let response;
  try {
    response = await fetch(path, {headers: {Accept: 'application/json'}});
  } catch {
    throw new ApiError('Server tidak dapat dihubungi.', 0);
  }
  let body = null;
  try {
    body = await response.json();
  } catch { /* an empty or non-JSON body */ }
  if (!response.ok) {
    throw new ApiError((body && body.message) || `Permintaan gagal (kode ${response.status}).`, response.status,
      body && body.error);
  }
  return body;
}

export const cameraPath = (id) => `/api/cameras/${encodeURIComponent(id)}`;
export const getCamera = (id) => getJson(cameraPath(id));
export const tileUrl = (id) => `${cameraPath(id)}/tile.jpg`;
export const whepUrl = (id) => `/whep/${encodeURIComponent(id)}`;

// URL query from an object, leaving out null/undefined/'' values.
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value != null && value !== '') search.set(key, String(value));
  }
  return search.toString();
}

export const getWall = () => getJson('/api/wall');
export const getRegions = () => getJson('/api/regions');
export const searchRegions = (q) => getJson('/api/regions/search', {q});
// params: kota/kecamatan/kelurahan, kind, q, limit, cursor -> {cameras, total, next_cursor}
export const listCameras = (params) => getJson('/api/cameras', params);
export const stationUrl = (camera) => `/${camera.kind === 'tps' ? 'tps' : 'kamera'}/${encodeURIComponent(camera.id)}`;
export const kecamatanPageUrl = (code) => `/kecamatan/${encodeURIComponent(code)}`;
