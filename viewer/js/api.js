// JSON helpers for the public API (same origin, no credentials needed).

export class ApiError extends Error {
  constructor(message, status, code = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status; // HTTP status, 0 when the server could not be reached
    this.code = code;     // the server's "error" field
  }
}

export async function getJson(path) {
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
