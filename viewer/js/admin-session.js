// Signing in to the admin page with a token (POST /api/session -> HttpOnly cookie + CSRF value)
// and signing out. Only an admin token opens the admin functions; an operator token gets a
// clear message instead.
//
//   startSession({onAdmin: (session) => …, onLeave: () => …});

import {ApiError} from './api.js';
import {byTestId} from './dom.js';
import {currentSession, signIn, signOut} from './session.js';
import {onSignedOut, setCsrf} from './admin-api.js';

const VIEWS = ['sign-in', 'no-access', 'admin'];

function show(view) {
  document.body.dataset.view = view;
  for (const name of VIEWS) byTestId(`${name}-view`).hidden = name !== view;
  byTestId('session-bar').hidden = view === 'sign-in';
}

export function startSession({onAdmin, onLeave}) {
  const form = byTestId('sign-in-form');
  const tokenInput = byTestId('token');
  const error = byTestId('sign-in-error');
  const submit = byTestId('sign-in-submit');
  let session = null;

  const showError = (text) => {
    error.textContent = text;
    error.hidden = !text;
  };

  const enter = (who) => {
    session = who;
    setCsrf(who.csrf_token);
    byTestId('who').textContent = `${who.label} (${who.role === 'admin' ? 'admin' : 'operator'})`;
    if (who.role === 'admin') {
      show('admin');
      onAdmin(who);
    } else {
      show('no-access');
    }
  };

  const leave = (message = '') => {
    session = null;
    setCsrf('');
    onLeave();
    show('sign-in');
    showError(message);
    tokenInput.value = '';
    tokenInput.focus();
  };

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const token = tokenInput.value.trim();
    if (!token) {
      showError('Isi token admin.');
      return;
    }
    submit.disabled = true;
    showError('');
    try {
      const who = await signIn(token);
      tokenInput.value = '';
      enter(who);
    } catch (err) {
      showError(err instanceof ApiError && err.status === 401
        ? 'Token tidak dikenal. Periksa lagi token admin Anda.'
        : err.status === 429 ? err.message
          : (err.status === 0 || !err.status ? 'Server tidak dapat dihubungi.' : `Gagal masuk (kode ${err.status}).`));
    } finally {
      submit.disabled = false;
    }
  });

  for (const testid of ['sign-out', 'no-access-sign-out']) {
    byTestId(testid).addEventListener('click', async () => {
      await signOut(session && session.csrf_token).catch(() => {});  // the cookie may already be gone
      leave('Anda sudah keluar.');
    });
  }

  onSignedOut(() => leave('Sesi berakhir. Silakan masuk lagi.'));

  (async () => {
    try {
      const who = await currentSession();
      if (who) enter(who);
      else leave();
    } catch {
      leave('Server tidak dapat dihubungi.');
    }
  })();
}
