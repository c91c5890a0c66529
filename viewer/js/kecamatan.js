// The kecamatan page (/kecamatan/{code}): its recap site live, then its TPS cameras as tiles,
// by kelurahan, a page at a time, badges kept current over SSE.
// Shareable state in the URL: ?kelurahan=<code> and ?mulai=<cursor> (the page's start).
// Signed in (the operator's session cookie), cameras with an open alert are marked, kept
// current by `event: alert`.

import {alertKindLabel, openAlerts} from './alerts.js';
import {ApiError, getRegions, listCameras, stationUrl} from './api.js';
import {CameraTiles} from './camera-tile.js';
import {byTestId as $, el, formatCount, shortKota} from './dom.js';
import {LivePlayer} from './live-player.js';
import {currentSession} from './session.js';
import {subscribeEvents} from './status-events.js';
import {paintBadge, statusText} from './status-labels.js';
import {TileImages} from './tile-images.js';

const PAGE_SIZE = 24;
const code = decodeURIComponent(location.pathname.replace(/^\/kecamatan\//, '').replace(/\/$/, ''));

const tileImages = new TileImages();
const grid = new CameraTiles($('tps-tiles'), tileImages);
const player = new LivePlayer($('video'), {onChange: renderRecap});
const view = {
  kecamatan: null, kota: null,
  recap: null,         // the recap camera (with status) or null
  kelurahan: null,     // selected kelurahan code, or null for all
  cursors: [],         // cursors of the pages before this one (for "previous")
  cursor: null,        // this page's cursor
  next: null,          // next page's cursor
  total: 0,
  session: null,       // signed in: open alerts are marked
  alerts: new Map(),   // alert id -> open alert of a camera in this kecamatan
};
window.__pantau = {player, tiles: tileImages, grid};

function findKecamatan(tree) {
  for (const kota of tree.kota) {
    for (const kecamatan of kota.kecamatan) if (kecamatan.code === code) return {kota, kecamatan};
  }
  return null;
}

function showMessage(text) {
  $('message').hidden = !text;
  $('message').textContent = text || '';
}

// ---- recap site -------------------------------------------------------------------------

// Not played: disabled, or outside its public window (status 'scheduled': the tile says from when).
const OFF_AIR = ['disabled', 'scheduled'];

async function loadRecap() {
  // At most one enabled recap camera per kecamatan; disabled ones (a standby) may be listed too.
  const page = await listCameras({kecamatan: code, kind: 'recap', limit: 100});
  view.recap = page.cameras.find((camera) => camera.enabled) || page.cameras[0] || null;
  if (view.recap && !OFF_AIR.includes(view.recap.status.state)) player.play(view.recap.id);
  else player.stop();
  renderRecap();
}

function renderRecap() {
  const recap = view.recap;
  $('recap-badge').hidden = !recap;
  $('recap-link').hidden = !recap;
  let text = null;
  if (!recap) text = 'Belum ada kamera rekapitulasi untuk kecamatan ini.';
  else {
    paintBadge($('recap-badge'), recap.status);
    $('recap-link').href = stationUrl(recap);
    if (recap.status.state !== 'online') text = statusText(recap.status);
    else if (player.state === 'connecting') text = 'Memuat video…';
    else if (player.state === 'unavailable' || player.state === 'failed') text = player.message;
  }
  const alert = recap && alertTextOf(recap.id);
  $('recap-alert').hidden = !alert;
  $('recap-alert').textContent = alert ? `⚠ Peringatan: ${alert}` : '';
  $('overlay').hidden = !text;
  $('overlay').querySelector('.overlay-title').textContent = text || '';
}

// ---- TPS tiles --------------------------------------------------------------------------

function renderKelurahan() {
  const chip = (label, value, count) => el('button', {
    type: 'button', class: 'chip', 'aria-pressed': String(view.kelurahan === value),
    dataset: {testid: 'kelurahan-chip', code: value || ''},
    onclick: () => selectKelurahan(value),
  }, label, el('span', {class: 'chip-count'}, formatCount(count)));
  $('kelurahan').replaceChildren(
    chip('Semua kelurahan', null, view.kecamatan.tps),
    ...view.kecamatan.kelurahan.map((k) => chip(k.name, k.code, k.tps)));
}

function selectKelurahan(value) {
  view.kelurahan = value;
  view.cursors = [];
  view.cursor = null;
  renderKelurahan();
  loadTps();
}

async function loadTps() {
  const area = view.kelurahan ? {kelurahan: view.kelurahan} : {kecamatan: code};
  try {
    const page = await listCameras({...area, kind: 'tps', limit: PAGE_SIZE, cursor: view.cursor});
    view.next = page.next_cursor;
    view.total = page.total;
    grid.show(page.cameras, {groupBy: (camera) => camera.location?.kelurahan ? `Kelurahan ${camera.location.kelurahan.name}` : null});
    markAlerts();
    const first = view.cursors.length * PAGE_SIZE;
    $('page-info').textContent = page.total
      ? `Menampilkan ${formatCount(first + 1)}–${formatCount(first + page.cameras.length)} dari ${formatCount(page.total)} kamera TPS`
      : 'Belum ada kamera TPS di sini.';
    $('prev').disabled = !view.cursors.length;
    $('next').disabled = !view.next;
    updateUrl();
  } catch (error) {
    showMessage(error instanceof ApiError ? error.message : 'Daftar TPS tidak dapat dimuat.');
  }
}

function updateUrl() {
  const params = new URLSearchParams();
  if (view.kelurahan) params.set('kelurahan', view.kelurahan);
  if (view.cursor) params.set('mulai', view.cursor);
  const search = params.toString();
  history.replaceState(null, '', location.pathname + (search ? `?${search}` : ''));
}

// ---- open alerts (operators) --------------------------------------------------------------

function alertTextOf(cameraId) {
  const kinds = [...view.alerts.values()].filter((alert) => alert.camera === cameraId).map((alert) => alertKindLabel(alert.kind));
  return kinds.length ? [...new Set(kinds)].join(', ') : null;
}

function markAlerts() {
  for (const id of grid.entries.keys()) grid.setAlert(id, alertTextOf(id));
  renderRecap();
}

async function loadAlerts() {
  if (!view.session) return;
  try {
    view.alerts = new Map((await openAlerts({region: code})).map((alert) => [alert.id, alert]));
  } catch {
    return; // a session that ended: the page works on without marks
  }
  markAlerts();
}

function applyAlert(alert) {
  if (alert.open) view.alerts.set(alert.id, alert);
  else view.alerts.delete(alert.id);
  markAlerts();
}

// ---- start ------------------------------------------------------------------------------

async function loadAll() {
  await Promise.all([loadRecap(), loadTps()]);
}

async function main() {
  $('prev').addEventListener('click', () => {
    view.cursor = view.cursors.pop() ?? null;
    loadTps();
  });
  $('next').addEventListener('click', () => {
    if (!view.next) return;
    view.cursors.push(view.cursor);
    view.cursor = view.next;
    loadTps();
  });
  let found;
  try {
    found = findKecamatan(await getRegions());
  } catch (error) {
    showMessage(error.message);
    return;
  }
  if (!found) {
    $('title').textContent = 'Kecamatan tidak ditemukan';
    showMessage(`Tidak ada kecamatan dengan kode ${code} di DKI Jakarta.`);
    $('recap').hidden = true;
    document.querySelector('.tps').hidden = true;
    return;
  }
  view.kota = found.kota;
  view.kecamatan = found.kecamatan;
  document.title = `Kecamatan ${view.kecamatan.name} — Pantau`;
  $('title').textContent = `Kecamatan ${view.kecamatan.name}`;
  $('path').replaceChildren(
    el('li', {}, el('a', {href: '/'}, 'DKI Jakarta')),
    el('li', {}, el('a', {href: `/?wilayah=${view.kota.code}`}, shortKota(view.kota.name))),
    el('li', {}, `Kec. ${view.kecamatan.name}`));
  const params = new URLSearchParams(location.search);
  const kelurahan = params.get('kelurahan');
  if (kelurahan && view.kecamatan.kelurahan.some((k) => k.code === kelurahan)) view.kelurahan = kelurahan;
  view.cursor = params.get('mulai') || null;
  renderKelurahan();
  view.session = await currentSession().catch(() => null);
  subscribeEvents({region: code, alerts: Boolean(view.session)}, {
    onStatus(id, status) {
      grid.update(id, status);
      if (view.recap && view.recap.id === id) {
        const wasOff = OFF_AIR.includes(view.recap.status.state);
        view.recap.status = {...view.recap.status, ...status};
        if (status.state === 'scheduled') player.stop(); // its public window closed
        else if (wasOff && status.state !== 'disabled') player.play(id);
        renderRecap();
      }
    },
    onAlert: applyAlert,
    onReconnect: () => {
      loadAll();
      loadAlerts();
    },
  });
  await Promise.all([loadAll(), loadAlerts()]);
  addEventListener('pagehide', () => player.stop());
}

main();
