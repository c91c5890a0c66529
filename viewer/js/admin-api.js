// Requests of the admin page: the session cookie goes along by itself; every write carries the
// session's CSRF value in X-CSRF-Token. Errors become AdminApiError with the server's body
// ({error, message, errors: [{field|line, reason}]}), so forms can show them field by field.
//
//   setCsrf(session.csrf_token);
//   const camera = await adminJson('PUT', '/api/admin/cameras/x', body);
//   onSignedOut(() => showSignIn('Sesi berakhir…'));   // any 401 calls this

import {ApiError} from './api.js';

let csrf = '';
let signedOutHandler = null;

export const setCsrf = (value) => { csrf = value || ''; };
export const csrfHeaders = () => ({'X-CSRF-Token': csrf});
export const onSignedOut = (handler) => { signedOutHandler = handler; };

export class AdminApiError extends ApiError {
  constructor(status, body) {
    super((body && body.message) || `Permintaan gagal (kode ${status}).`, status, body && body.error);
    this.name = 'AdminApiError';
    this.body = body || {};
    this.errors = (body && body.errors) || [];
  }
}

// The parsed body of a finished request, or AdminApiError for a 4xx/5xx (0: no connection).
export function checkResponse(status, body) {
  if (status >= 200 && status < 300) return body;
  const error = new AdminApiError(status, body);
  if (status === 401 && signedOutHandler) signedOutHandler();
  throw error;
}

export async function adminJson(method, path, body = undefined) {
  const headers = {Accept: 'application/json'};
  if (method !== 'GET') Object.assign(headers, csrfHeaders());
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  } catch {
    throw new AdminApiError(0, {message: 'Server tidak dapat dihubungi.'});
  }
  let parsed = null;
  try {
    parsed = response.status === 204 ? null : await response.json();
  } catch { /* an empty or non-JSON body */ }
  return checkResponse(response.status, parsed);
}

export const cameraPath = (id) => `/api/admin/cameras/${encodeURIComponent(id)}`;
