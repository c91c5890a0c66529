// The audit log, newest first: when, which token label, from where, what changed (the server
// masks secrets). "Lebih lama" appends the next page with the API's cursor.
//
//   const audit = auditLog();  audit.reload();

import {alertKindLabel} from './alerts.js';
import {byTestId, el, formatCount} from './dom.js';
import {adminJson} from './admin-api.js';
import {describeError, fieldLabel} from './admin-errors.js';

export const AUDIT_PAGE = 50;
const ACTIONS = {
  create: 'Tambah', update: 'Ubah', delete: 'Hapus', import: 'Impor CSV', rotate_push_key: 'Kunci kirim baru',
  sign_in: 'Masuk', end_session: 'Sesi diakhiri', token_refused: 'Token ditolak', revoke_token: 'Token dicabut',
  set_reference: 'Tampilan acuan ditetapkan', clear_reference: 'Tampilan acuan dihapus',
  probe: 'Tes koneksi', alert_ack: 'Peringatan ditindaklanjuti',
};
const SESSION_ENDS = {signed_out: 'keluar', ended_by_admin: 'diakhiri admin', token_revoked: 'token dicabut', replaced: 'masuk lagi'};

const formatTime = (iso) => {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString('id-ID', {dateStyle: 'medium', timeStyle: 'medium'});
};

const show = (value) => {
  if (value == null || value === '' || (Array.isArray(value) && !value.length)) return '—';
  if (Array.isArray(value)) return value.join('; ');
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
};

// [old, new] -> 'a → b'; a camera added or deleted shows only the side that exists.
function change(field, pair) {
  if (!Array.isArray(pair)) return `${fieldLabel(field)}: ${show(pair)}`;
  const [before, after] = pair;
  if (before == null) return `${fieldLabel(field)}: ${show(after)}`;
  if (after == null) return `${fieldLabel(field)}: ${show(before)}`;
  return `${fieldLabel(field)}: ${show(before)} → ${show(after)}`;
}

function summary(entry) {
  const details = entry.details || {};
  if (entry.action === 'import') {
    return `${formatCount(details.rows ?? 0)} baris: ${formatCount(details.created ?? 0)} baru, ${formatCount(details.updated ?? 0)} diperbarui`;
  }
  if (entry.action === 'end_session') {
    return `${details.label} (${details.role}), sesi ${String(details.session).slice(0, 8)}…: ${SESSION_ENDS[details.reason] || details.reason}`;
  }
  if (entry.action === 'sign_in') return `${details.role}, sesi ${String(details.session).slice(0, 8)}…`;
  if (entry.action === 'revoke_token') return `${details.label}: ${formatCount(details.sessions_ended ?? 0)} sesi diakhiri`;
  if (entry.action === 'token_refused') {
    return `${details.via === 'sign_in' ? 'saat masuk' : 'di header Authorization'}${details.blocked_s ? `; alamat diblokir ${details.blocked_s} detik` : ''}`;
  }
  if (entry.action === 'alert_ack') return `${alertKindLabel(details.kind)} sejak ${formatTime(details.started)}: ${show(details.note)}`;
  if (entry.action === 'set_reference') return `dari gambar ${formatTime(details.captured_at)}`;
  if (entry.action === 'probe') return `${show(details.source)} (${show(details.transport)}): ${show(details.result)}`;
  if (details.changes && typeof details.changes === 'object') {
    // A CSV import also writes one entry per camera it created or changed, marked "via".
    const via = details.via ? ` (lewat ${details.via.replace(/^import/, 'impor CSV')})` : '';
    return Object.entries(details.changes).map(([field, pair]) => change(field, pair)).join('; ') + via;
  }
  return Object.keys(details).length ? JSON.stringify(details) : '';
}

export function auditLog() {
  const rows = byTestId('audit-rows');
  const more = byTestId('audit-more');
  const message = byTestId('audit-message');
  let before = null;

  async function load(append) {
    more.disabled = true;
    try {
      const data = await adminJson('GET', `/api/admin/audit?limit=${AUDIT_PAGE}${append && before ? `&before=${encodeURIComponent(before)}` : ''}`);
      before = data.next_cursor;
      const made = data.entries.map((entry) => el('tr', {'data-testid': 'audit-row', dataset: {action: entry.action, camera: entry.camera || ''}},
        el('td', {}, formatTime(entry.at)),
        el('td', {}, entry.actor),
        el('td', {class: 'mono'}, entry.client || '—'),
        el('td', {}, ACTIONS[entry.action] || entry.action),
        el('td', {class: 'mono'}, entry.camera || '—'),
        el('td', {class: 'details'}, summary(entry))));
      if (append) rows.append(...made);
      else rows.replaceChildren(...made);
      message.hidden = rows.children.length > 0;
      message.textContent = 'Belum ada catatan.';
      more.hidden = !before;
    } catch (error) {
      message.hidden = false;
      message.textContent = describeError(error);
    } finally {
      more.disabled = false;
    }
  }

  more.addEventListener('click', () => load(true));
  byTestId('audit-reload').addEventListener('click', () => load(false));
  return {reload: () => load(false)};
}
