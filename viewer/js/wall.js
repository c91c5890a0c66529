// The control-room wall (/wall): 44 kecamatan tiles grouped by kota, each showing its recap
// site's latest keyframe, a status badge and how many of its TPS cameras are online.
//
// Tiles are images (revalidated each second by TileImages); only the kecamatan opened in the
// large view plays live (browsers cap live players per page). Status changes arrive over one
// SSE stream (recap cameras' status + kecamatan counts), never by polling every camera.
// Shareable state in the URL: ?buka=<kecamatan code> opens one, ?tur=<seconds> runs the tour.
// Signed-in operators also get the alert bar (alert-bar.js): a click on an alert opens its
// camera, a TPS camera too, in the same large view.

import {AlertBar} from './alert-bar.js';
import {alertKindLabel, alertWhere} from './alerts.js';
import {ApiError, getCamera, getWall, kecamatanPageUrl, stationUrl} from './api.js';
import {byTestId as $, el, formatCount, shortKota} from './dom.js';
import {LivePlayer} from './live-player.js';
import {currentSession, signIn, signOut} from './session.js';
import {subscribeCamera, subscribeEvents} from './status-events.js';
import {paintBadge, statusText} from './status-labels.js';
import {TileImages} from './tile-images.js';

const TOUR_CHOICES = [5, 10, 20, 30, 60];

const tiles = new TileImages();
const view = {
  kecamatan: new Map(), // code -> {code, name, kota, recap, tps, element}
  order: [],            // kecamatan codes in wall order
  byRecap: new Map(),   // recap camera id -> kecamatan code
  open: null,           // code shown in the large view
  camera: null,         // or an alert's camera shown there: {id, kind, alert, status}
  session: null,        // {label, role, csrf_token} when signed in
  tourTimer: null,
  tourSeconds: null,
};
let events = null;
const player = new LivePlayer($('focus-video'), {onChange: renderFocus});
const alertBar = new AlertBar({onOpen: openAlertCamera});
let cameraEvents = null; // status of the alert's camera in the large view

window.__pantau = {
  tiles, player, alertBar,
  get open() { return view.open; },
  get camera() { return view.camera && view.camera.id; },
  get touring() { return view.tourTimer != null; },
};

// ---- the grid ---------------------------------------------------------------------------

function buildWall(wall) {
  for (const entry of view.kecamatan.values()) tiles.detach(entry.img);
  view.kecamatan.clear();
  view.byRecap.clear();
  view.order = [];
  const sections = wall.kota.map((kota) => {
    const kotaName = shortKota(kota.name);
    const buttons = kota.kecamatan.map((kecamatan) => {
      const entry = {...kecamatan, kota: kotaName};
      entry.img = el('img', {alt: '', decoding: 'async', draggable: false});
      entry.badge = el('span', {class: 'badge', dataset: {testid: 'tile-badge'}});
      entry.counts = el('span', {class: 'tile-counts', dataset: {testid: 'tile-counts'}});
      entry.element = el('button', {
        type: 'button', class: 'kec-tile', dataset: {testid: 'tile', code: kecamatan.code},
        onclick: () => openKecamatan(kecamatan.code),
      },
      el('span', {class: 'tile-picture'}, entry.img),
      el('span', {class: 'tile-caption'}, el('span', {class: 'tile-name', title: kecamatan.name, dataset: {testid: 'tile-name'}}, kecamatan.name), entry.badge),
      entry.counts);
      view.kecamatan.set(kecamatan.code, entry);
      view.order.push(kecamatan.code);
      if (kecamatan.recap) {
        view.byRecap.set(kecamatan.recap.id, kecamatan.code);
        tiles.attach(entry.img, kecamatan.recap.id);
      }
      paintTile(entry);
      return entry.element;
    });
    return el('section', {class: 'kota', style: `--tiles: ${buttons.length}`, dataset: {testid: 'kota', code: kota.code}},
      el('h2', {class: 'kota-name'}, kotaName), el('div', {class: 'kota-tiles'}, buttons));
  });
  $('wall').replaceChildren(...sections);
  renderSummary();
}

function paintTile(entry) {
  const status = entry.recap ? entry.recap.status : null;
  entry.element.dataset.state = status ? status.state : 'none';
  if (status) {
    paintBadge(entry.badge, status);
    tiles.setLive(entry.recap.id, status.state === 'online');
  } else {
    entry.badge.textContent = 'Tanpa kamera';
    entry.badge.title = 'Belum ada kamera rekapitulasi untuk kecamatan ini';
    Object.assign(entry.badge.dataset, {badge: 'none', state: '', tone: 'idle'});
  }
  entry.element.classList.toggle('no-camera', !status);
  entry.counts.textContent = entry.tps.total
    ? `TPS ${formatCount(entry.tps.online)}/${formatCount(entry.tps.total)} online` : 'Belum ada kamera TPS';
  entry.counts.dataset.online = entry.tps.online;
  entry.counts.dataset.total = entry.tps.total;
  entry.element.setAttribute('aria-label',
    `Kecamatan ${entry.name}, ${entry.kota}: ${entry.badge.title || entry.badge.textContent}. ${entry.counts.textContent}`);
}

function renderSummary() {
  let tpsOnline = 0, tpsTotal = 0, recapOnline = 0, recapTotal = 0;
  for (const entry of view.kecamatan.values()) {
    tpsOnline += entry.tps.online;
    tpsTotal += entry.tps.total;
    if (entry.recap) {
      recapTotal += 1;
      if (entry.recap.status.state === 'online') recapOnline += 1;
    }
  }
  $('summary').textContent = `Rekap online ${recapOnline}/${recapTotal} · TPS online ${formatCount(tpsOnline)}/${formatCount(tpsTotal)}`
    + (view.session ? ` · masuk sebagai ${view.session.label}` : '');
}

// ---- live data --------------------------------------------------------------------------

async function loadWall() {
  try {
    buildWall(await getWall());
    showMessage(null);
    if (view.open) renderFocus();
  } catch (error) {
    showMessage(error instanceof ApiError ? error.message : 'Data dinding tidak dapat dimuat.');
  }
}

function listen() {
  if (events) events.close();
  events = subscribeEvents({kind: 'recap', counts: true, alerts: Boolean(view.session)}, {
    onStatus(id, status) {
      const entry = view.kecamatan.get(view.byRecap.get(id));
      if (!entry || !entry.recap || entry.recap.id !== id) return;
      entry.recap.status = {...entry.recap.status, ...status};
      paintTile(entry);
      renderSummary();
      if (view.open === entry.code) renderFocus();
    },
    onCounts({code, tps}) {
      const entry = view.kecamatan.get(code);
      if (!entry) return;
      entry.tps = tps;
      paintTile(entry);
      renderSummary();
      if (view.open === code) renderFocus();
    },
    onRegistry: () => {
      // Cameras added or removed: read the wall again (once for a burst of changes).
      clearTimeout(reloadTimer);
      reloadTimer = setTimeout(loadWall, 300);
    },
    onAlert: (alert) => alertBar.apply(alert),
    onReconnect: () => {
      loadWall();
      alertBar.reload();
    },
  });
}
let reloadTimer = null;

function showMessage(text) {
  $('message').hidden = !text;
  $('message').textContent = text || '';
}

// ---- the large view ---------------------------------------------------------------------

function openKecamatan(code) {
  const entry = view.kecamatan.get(code);
  if (!entry) return;
  stopCameraEvents();
  view.open = code;
  $('focus').hidden = false;
  if (entry.recap && entry.recap.status.state !== 'scheduled') player.play(entry.recap.id);
  else player.stop(); // no recap camera, or outside its public window (the focus text says from when)
  updateUrl();
  renderFocus();
}

// An alert's camera (any kind) in the large view; its status over its own SSE stream.
function openAlertCamera(alert) {
  stopTour();
  stopCameraEvents();
  view.open = null;
  view.camera = {id: alert.camera, kind: alert.camera_kind, alert, status: null};
  $('focus').hidden = false;
  player.play(alert.camera);
  updateUrl();
  renderFocus();
  const shown = view.camera;
  cameraEvents = subscribeCamera(alert.camera, {
    onStatus: (status) => {
      shown.status = {...shown.status, ...status};
      if (view.camera === shown) renderFocus();
    },
  });
  getCamera(alert.camera).then((camera) => {
    shown.status = {...camera.status, ...shown.status};
    if (view.camera === shown) renderFocus();
  }).catch(() => {});
}

function stopCameraEvents() {
  if (cameraEvents) cameraEvents.close();
  cameraEvents = null;
  view.camera = null;
}

function closeFocus() {
  stopTour();
  stopCameraEvents();
  view.open = null;
  player.stop();
  $('focus').hidden = true;
  updateUrl();
  const entry = view.kecamatan.get(document.activeElement?.dataset?.code);
  if (entry) entry.element.focus();
}

function renderAlertCamera() {
  const {alert, status} = view.camera;
  $('focus-title').textContent = alertWhere(alert);
  $('focus').dataset.code = (alert.location.kecamatan || {}).code || '';
  $('focus').dataset.camera = alert.camera;
  const badge = $('focus-badge');
  badge.hidden = !status;
  if (status) paintBadge(badge, status);
  $('focus-counts').textContent = `Peringatan: ${alertKindLabel(alert.kind)}`;
  $('focus-kecamatan').href = kecamatanPageUrl($('focus').dataset.code);
  $('focus-station').hidden = false;
  $('focus-station').href = stationUrl({kind: alert.camera_kind, id: alert.camera});
  let text = null;
  if (status && status.state !== 'online') text = statusText(status);
  else if (player.state === 'connecting') text = 'Memuat video…';
  else if (player.state === 'unavailable' || player.state === 'failed') text = player.message || 'Video tidak dapat diputar.';
  $('focus-overlay').hidden = !text;
  $('focus-overlay').textContent = text || '';
}

function renderFocus() {
  if (view.camera) {
    renderAlertCamera();
    return;
  }
  delete $('focus').dataset.camera;
  const entry = view.kecamatan.get(view.open);
  if (!entry) return;
  $('focus-title').textContent = `Kecamatan ${entry.name} · ${entry.kota}`;
  $('focus').dataset.code = entry.code;
  const badge = $('focus-badge');
  badge.hidden = !entry.recap;
  if (entry.recap) paintBadge(badge, entry.recap.status);
  $('focus-counts').textContent = entry.counts.textContent;
  $('focus-kecamatan').href = kecamatanPageUrl(entry.code);
  $('focus-station').hidden = !entry.recap;
  if (entry.recap) $('focus-station').href = stationUrl({kind: 'recap', id: entry.recap.id});
  const overlay = $('focus-overlay');
  let text = null;
  if (!entry.recap) text = 'Belum ada kamera rekapitulasi untuk kecamatan ini.';
  else if (entry.recap.status.state !== 'online') text = statusText(entry.recap.status);
  else if (player.state === 'connecting') text = 'Memuat video…';
  else if (player.state === 'unavailable' || player.state === 'failed') text = player.message || 'Video tidak dapat diputar.';
  overlay.hidden = !text;
  overlay.textContent = text || '';
}

function step(delta) {
  const withCamera = view.order.filter((code) => view.kecamatan.get(code).recap);
  if (!withCamera.length) return;
  const at = withCamera.indexOf(view.open);
  const next = at < 0 ? (delta > 0 ? 0 : withCamera.length - 1) : (at + delta + withCamera.length) % withCamera.length;
  openKecamatan(withCamera[next]);
}

// ---- tour -------------------------------------------------------------------------------

function startTour(seconds) {
  stopTour();
  view.tourSeconds = seconds;
  $('tour-interval').value = String(seconds);
  view.tourTimer = setInterval(() => step(1), seconds * 1000);
  if (!view.open) step(1);
  renderTourButton();
  updateUrl();
}

function stopTour() {
  clearInterval(view.tourTimer);
  view.tourTimer = null;
  renderTourButton();
  updateUrl();
}

function renderTourButton() {
  const on = view.tourTimer != null;
  $('tour').textContent = on ? 'Hentikan tur' : 'Mulai tur';
  $('tour').setAttribute('aria-pressed', String(on));
}

function updateUrl() {
  const params = new URLSearchParams();
  if (view.open) params.set('buka', view.open);
  if (view.tourTimer != null) params.set('tur', String(view.tourSeconds));
  const search = params.toString();
  history.replaceState(null, '', search ? `/wall?${search}` : '/wall');
}

// ---- operator sign-in -------------------------------------------------------------------

function renderSession() {
  $('sign-in').textContent = view.session ? 'Keluar' : 'Masuk operator';
  renderSummary();
  alertBar.setSession(view.session); // the public never sees alerts
}

async function afterSessionChange() {
  listen(); // a new stream: the cookie decides which cameras (and alerts) it tells us about
  if (view.camera && !view.session) closeFocus(); // an alert's camera may not be public
  renderSession();
  await loadWall();
}

function setUpSignIn() {
  const dialog = $('sign-in-dialog');
  const form = $('sign-in-form');
  $('sign-in').addEventListener('click', async () => {
    if (view.session) {
      await signOut(view.session.csrf_token);
      view.session = null;
      await afterSessionChange();
      return;
    }
    $('sign-in-error').hidden = true;
    form.reset();
    dialog.showModal();
  });
  $('sign-in-cancel').addEventListener('click', () => dialog.close());
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      view.session = await signIn(form.elements.token.value);
      form.reset();
      dialog.close();
      await afterSessionChange();
    } catch (error) {
      $('sign-in-error').textContent = error.message;
      $('sign-in-error').hidden = false;
    }
  });
}

// ---- controls ---------------------------------------------------------------------------

// The large view's sound: off until asked, one camera at a time (the large view is the wall's
// only live player, and it mutes again whenever it plays another camera).
function renderSound() {
  const video = $('focus-video');
  const button = $('focus-sound');
  const stream = video.srcObject;
  button.hidden = !(stream && stream.getAudioTracks().length);
  button.textContent = video.muted ? 'Nyalakan suara' : 'Matikan suara';
  button.setAttribute('aria-pressed', String(!video.muted));
}

function setUpControls() {
  $('focus-close').addEventListener('click', closeFocus);
  const video = $('focus-video');
  $('focus-sound').addEventListener('click', () => {
    video.muted = !video.muted;
    renderSound();
  });
  for (const event of ['tracks', 'volumechange', 'emptied']) video.addEventListener(event, renderSound);
  $('tour').addEventListener('click', () => {
    if (view.tourTimer != null) stopTour();
    else startTour(Number($('tour-interval').value));
  });
  $('tour-interval').addEventListener('change', () => {
    if (view.tourTimer != null) startTour(Number($('tour-interval').value));
  });
  $('fullscreen').hidden = !document.fullscreenEnabled;
  $('fullscreen').addEventListener('click', () => {
    if (document.fullscreenElement) document.exitFullscreen();
    else document.documentElement.requestFullscreen().catch(() => {});
  });
  document.addEventListener('fullscreenchange', () => {
    $('fullscreen').textContent = document.fullscreenElement ? 'Keluar layar penuh' : 'Layar penuh';
  });
  document.addEventListener('keydown', (event) => {
    if ($('sign-in-dialog').open) return;
    if ($('ack-dialog').open) return;
    if (event.key === 'Escape' && (view.open || view.camera)) closeFocus();
    else if (event.key === 'ArrowRight' && view.open) step(1);
    else if (event.key === 'ArrowLeft' && view.open) step(-1);
  });
  const clock = $('clock');
  const tick = () => {
    clock.textContent = new Date().toLocaleTimeString('id-ID', {timeZone: 'Asia/Jakarta', hour12: false}) + ' WIB';
  };
  tick();
  setInterval(tick, 1000);
}

async function main() {
  setUpControls();
  setUpSignIn();
  listen(); // subscribe before the first read, so no change in between is missed
  view.session = await currentSession().catch(() => null);
  if (view.session) listen(); // again, now asking for alerts
  renderSession();
  await loadWall();
  const params = new URLSearchParams(location.search);
  if (params.get('buka')) openKecamatan(params.get('buka'));
  const tour = Number(params.get('tur'));
  if (TOUR_CHOICES.includes(tour)) startTour(tour);
  addEventListener('pagehide', () => player.stop());
}

main();
