// Sign-in with an operator or admin token: the server keeps the session in an HttpOnly cookie;
// writes made with it must carry the CSRF value in X-CSRF-Token.
//
//   const who = await currentSession();     // {label, role, csrf_token} or null
//   await signIn(token);  await signOut(who.csrf_token);

import {ApiError, getJson} from './api.js';

export async function currentSession() {
  try {
    return await getJson('/api/session');
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return null;
    throw error;
  }
}

export async function signIn(token) {
  const response = await fetch('/api/session', {
    method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({token}),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new ApiError(response.status === 401 ? 'Token tidak dikenal.' : (body.message || 'Gagal masuk.'),
      response.status, body.error);
  }
  return body;
}

export async function signOut(csrfToken) {
  await fetch('/api/session', {method: 'DELETE', headers: {'X-CSRF-Token': csrfToken || ''}});
}
