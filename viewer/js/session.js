// Sign-in with an operator or admin token: the server keeps the session in an HttpOnly cookie;
// writes made with it must carry the CSRF value in X-CSRF-Token.
//
//   const who = await currentSession();     // {label, role, csrf_token} or null
//   await signIn(token);  await signOut(who.csrf_token);

import {ApiError, getJson} from './api.js';

// The cookie is HttpOnly (scripts cannot read it); this hint spares pages that were never
// signed in a 401 on every load.
const HINT = 'pantau-signed-in';

export async function currentSession() {
  if (!localStorage.getItem(HINT)) return null;
  try {
    return await getJson('/api/session');
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      localStorage.removeItem(HINT);
      return null;
    }
    throw error;
  }
}

export async function signIn(token) {
  const response = await fetch('/api/session', {
    method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({token}),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const wait = response.headers.get('Retry-After');
    const message = response.status === 401 ? 'Token tidak dikenal.'
      : response.status === 429 ? `Terlalu banyak token salah dari alamat ini. Coba lagi dalam ${wait || 60} detik.`
        : (body.message || 'Gagal masuk.');
    throw new ApiError(message, response.status, body.error);
  }
  localStorage.setItem(HINT, '1');
  return body;
}

export async function signOut(csrfToken) {
  localStorage.removeItem(HINT);
  await fetch('/api/session', {method: 'DELETE', headers: {'X-CSRF-Token': csrfToken || ''}});
}
