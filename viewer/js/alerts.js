// Alerts for signed-in operators (GET /api/alerts, POST /api/alerts/{id}/ack): how they read in
// Bahasa Indonesia, and the two requests the wall and the kecamatan page make.
//
//   const alerts = await openAlerts({region: '31.71.01'});   // newest first
//   alertKindLabel('black') -> 'Gambar gelap/tertutup';  alertWhere(alert) -> 'TPS 001 · Kel. Gambir · Kec. Gambir'
//   await acknowledgeAlert(alert.id, 'Petugas dihubungi', session.csrf_token);

import {ApiError, getJson} from './api.js';

export const ALERT_KINDS = {
  offline: 'Kamera terputus', black: 'Gambar gelap/tertutup', frozen: 'Gambar beku',
  moved: 'Kamera bergeser', blurred: 'Gambar kabur', obstructed: 'Lensa terhalang',
};

// A picture signal without a name here yet still reads as one (new detectors need no change).
export const alertKindLabel = (kind) => ALERT_KINDS[kind] || `Gangguan gambar (${kind})`;

export function alertWhere(alert) {
  const where = alert.location || {};
  const kecamatan = where.kecamatan ? `Kec. ${where.kecamatan.name}` : alert.region;
  if (alert.camera_kind === 'recap') return `Rekapitulasi · ${kecamatan}`;
  const parts = [alert.tps != null ? `TPS ${String(alert.tps).padStart(3, '0')}` : alert.name];
  if (where.kelurahan) parts.push(`Kel. ${where.kelurahan.name}`);
  parts.push(kecamatan);
  return parts.join(' · ');
}

export const formatWib = (iso) => new Date(iso).toLocaleTimeString('id-ID', {timeZone: 'Asia/Jakarta', hour12: false}) + ' WIB';

export function formatSince(iso, now = Date.now()) {
  const minutes = Math.floor((now - new Date(iso).getTime()) / 60000);
  if (minutes < 1) return 'baru saja';
  if (minutes < 60) return `${minutes} menit`;
  const hours = Math.floor(minutes / 60);
  return `${hours} jam ${minutes % 60} menit`;
}

// Every open (unacknowledged) alert matching the filters (region, kind, camera), newest first.
export async function openAlerts(filters = {}) {
  const alerts = [];
  let cursor = null;
  do {
    const page = await getJson('/api/alerts', {open: 'true', limit: 500, ...filters, cursor});
    alerts.push(...page.alerts);
    cursor = page.next_cursor;
  } while (cursor && alerts.length < 2000);
  return alerts;
}

const ACK_ERRORS = {
  401: 'Sesi berakhir. Masuk lagi sebagai operator.', 403: 'Sesi tidak sah lagi. Muat ulang halaman dan masuk lagi.',
  404: 'Peringatan ini tidak ada lagi.',
};

export async function acknowledgeAlert(id, note, csrfToken) {
  let response;
  try {
    response = await fetch(`/api/alerts/${encodeURIComponent(id)}/ack`, {
      method: 'POST', body: JSON.stringify({note}),
      headers: {'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRF-Token': csrfToken || ''},
    });
  } catch {
    throw new ApiError('Server tidak dapat dihubungi.', 0);
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    // 400 and 409 carry a message in Bahasa Indonesia (the note, "sudah ditindaklanjuti oleh …").
    const message = ACK_ERRORS[response.status] || (body && body.message) || `Gagal menyimpan (kode ${response.status}).`;
    throw new ApiError(message, response.status, body && body.error);
  }
  return body;
}
