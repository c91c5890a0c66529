// Sign-in sessions (who is signed in with which token label, since when, last seen, from
// where), newest first, each with "Akhiri" to end it at once. The list shows a handle, never
// the cookie. Ending one's own session signs this page out.
//
//   const sessions = sessionList();  sessions.reload();

import {byTestId, el} from './dom.js';
import {adminJson} from './admin-api.js';
import {describeError} from './admin-errors.js';

const formatTime = (iso) => {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString('id-ID', {dateStyle: 'medium', timeStyle: 'short'});
};

export function sessionList() {
  const rows = byTestId('session-rows');
  const message = byTestId('sessions-message');

  const say = (text) => {
    message.textContent = text;
    message.hidden = !text;
  };

  async function end(session, button) {
    button.disabled = true;
    try {
      await adminJson('DELETE', `/api/admin/sessions/${encodeURIComponent(session.id)}`);
      say(`Sesi ${session.label} diakhiri.`);
    } catch (error) {
      say(error.status === 404 ? 'Sesi itu sudah berakhir.' : describeError(error));
    }
    await load(false);
  }

  async function load(clearMessage = true) {
    try {
      const data = await adminJson('GET', '/api/admin/sessions');
      rows.replaceChildren(...data.sessions.map((session) => {
        const button = el('button', {type: 'button', class: 'danger', 'data-testid': 'end-session'}, 'Akhiri');
        button.addEventListener('click', () => end(session, button));
        return el('tr', {'data-testid': 'session-row', dataset: {label: session.label}},
          el('td', {}, session.label),
          el('td', {}, session.role === 'admin' ? 'Admin' : 'Operator'),
          el('td', {}, formatTime(session.created_at)),
          el('td', {}, formatTime(session.last_seen_at)),
          el('td', {class: 'mono'}, session.client || '—'),
          el('td', {}, button));
      }));
      if (clearMessage || !data.sessions.length) say(data.sessions.length ? '' : 'Tidak ada sesi aktif.');
    } catch (error) {
      say(describeError(error));
    }
  }

  byTestId('sessions-reload').addEventListener('click', () => load());
  return {reload: () => load()};
}
