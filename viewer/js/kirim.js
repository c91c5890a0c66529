// The push page (/kirim/{camera_id}): a KPPS officer's phone sends its camera to Pantau over
// WHIP. The push key is typed (never in the URL, never stored); the page shows the preview
// and what is being sent (codec, size, frame rate, bitrate).
//
// Before sending, the page asks whether the camera takes a push (GET /whip/{id}). A camera
// that is not public answers that only to its push key, and exactly like an unknown code to
// anyone else: so when the first check says "unknown" (and the code is not a public camera
// that takes no push), the page keeps the key field and checks again with the typed key.

import {getCamera} from './api.js';
import {byTestId as $} from './dom.js';
import {publishWhip} from './whip-client.js';

const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const NOT_WITH_THIS_KEY = 'Kamera ini tidak terdaftar untuk kiriman dengan kunci ini: kodenya bukan kamera kiriman dari ponsel '
  + '(WHIP), atau kuncinya salah. Periksa alamat dan kunci kirimnya, atau hubungi admin Pantau.';
const DISABLED = 'Kamera ini sedang dinonaktifkan oleh admin; kiriman belum bisa diterima.';
const STATE_TEXT = {
  connecting: 'Menyambung…', connected: 'Terkirim — langsung', disconnected: 'Sambungan terganggu…',
  reconnecting: 'Menyambung ulang…', failed: 'Gagal', stopped: 'Berhenti',
};
const cameraId = decodeURIComponent(location.pathname.replace(/^\/kirim\//, '').replace(/\/$/, ''));
const preview = $('preview');
let stream = null;
let publish = null;
let statsTimer = null;
let wakeLock = null;
let checkWithKey = false; // the camera is unknown without its key: check with the key before sending
let publicCameraRequest = null;
const publicCamera = () => (publicCameraRequest ??= getCamera(cameraId).catch(() => null)); // null: unknown to the public

window.__pantau = {get publish() { return publish; }};

function showMessage(text) {
  $('message').hidden = !text;
  $('message').textContent = text || '';
}

function setState(state) {
  $('state').textContent = STATE_TEXT[state] || state;
  $('state').dataset.state = state;
  const sending = publish != null || state === 'connecting';
  $('start').hidden = sending;
  $('stop').hidden = !sending;
  $('key').disabled = sending;
  $('facing').disabled = sending;
}

// The microphone too: at a TPS the count is spoken. A phone that refuses it (or has none) still
// sends the picture.
async function openCamera() {
  if (stream) return stream;
  const video = {facingMode: $('facing').value, width: {ideal: 1280}, height: {ideal: 720}, frameRate: {ideal: 25, max: 30}};
  try {
    stream = await navigator.mediaDevices.getUserMedia({audio: true, video});
  } catch (error) {
    if (!['NotAllowedError', 'NotFoundError', 'NotReadableError', 'OverconstrainedError'].includes(error.name)) throw error;
    stream = await navigator.mediaDevices.getUserMedia({audio: false, video});
  }
  preview.srcObject = stream;
  $('overlay').hidden = true;
  return stream;
}

function cameraError(error) {
  if (error.name === 'NotAllowedError') return 'Izin kamera ditolak. Izinkan kamera untuk situs ini, lalu coba lagi.';
  if (error.name === 'NotFoundError') return 'Ponsel ini tidak punya kamera yang bisa dipakai.';
  return `Kamera tidak dapat dibuka (${error.message}).`;
}

function sendError(error) {
  if (error.status === 401) return 'Kunci kirim salah. Periksa kembali kunci dari admin Pantau.';
  if (error.status === 409) return error.message || 'Kamera ini sedang menerima kiriman dari perangkat lain.';
  if (error.status === 404) return NOT_WITH_THIS_KEY;
  return error.message;
}

async function start(event) {
  event.preventDefault();
  showMessage(null);
  const key = $('key').value.trim();
  if (!key) return;
  if (checkWithKey) {
    const response = await describeWhip(key);
    if (response && response.status === 404) {
      showMessage(NOT_WITH_THIS_KEY);
      return;
    }
    if (response && response.ok && (await response.json()).enabled === false) showMessage(DISABLED);
  }
  try {
    await openCamera();
  } catch (error) {
    showMessage(cameraError(error));
    return;
  }
  setState('connecting');
  try {
    publish = await publishWhip(`/whip/${encodeURIComponent(cameraId)}`, stream, {
      token: key,
      onState: (state, detail) => {
        setState(state);
        if (state === 'failed') showMessage(sendError(detail));
      },
    });
    statsTimer = setInterval(showStats, 1000);
    wakeLock = await navigator.wakeLock?.request('screen').catch(() => null);
  } catch (error) {
    publish = null;
    setState('failed');
    showMessage(sendError(error));
  }
}

async function stop() {
  clearInterval(statsTimer);
  const current = publish;
  publish = null;
  if (current) await current.stop();
  wakeLock?.release().catch(() => {});
  setState('stopped');
}

async function showStats() {
  const stats = publish && await publish.stats();
  if (!stats) return;
  $('codec').textContent = stats.codec || '–';
  $('size').textContent = stats.width ? `${stats.width}×${stats.height}` : '–';
  $('fps').textContent = stats.fps != null ? String(Math.round(stats.fps)) : '–';
  $('bitrate').textContent = stats.kbps != null ? `${stats.kbps.toLocaleString('id-ID')} kbit/s` : '–';
}

// GET /whip/{id}, with the push key when one is given; null when the server is not reachable.
async function describeWhip(key = null) {
  try {
    return await fetch(`/whip/${encodeURIComponent(cameraId)}`, key ? {headers: {Authorization: `Bearer ${key}`}} : {});
  } catch {
    return null; // sending will say so
  }
}

// Before anyone types a key: does this camera take a push at all?
async function takesPush() {
  const response = await describeWhip();
  if (response && response.status === 404) {
    const camera = await publicCamera();
    if (camera && camera.public) { // a public camera that is not pushed: say so at once
      $('title').textContent = 'Kamera ini tidak menerima kiriman';
      showMessage('Kamera ini tidak terdaftar untuk kiriman dari ponsel (WHIP). Periksa alamatnya, atau hubungi admin Pantau.');
      $('form').hidden = true;
      return false;
    }
    // Unknown to the public: a wrong code, or a camera that is not public. Its key tells.
    checkWithKey = true;
    showMessage('Kode kamera ini tidak tercantum untuk umum. Masukkan kunci kirim dari admin Pantau: '
      + 'dengan kunci itu halaman ini memeriksa apakah kamera ini menerima kiriman.');
    return true;
  }
  if (response && response.ok && (await response.json()).enabled === false) showMessage(DISABLED);
  return true;
}

async function main() {
  if (!ID_PATTERN.test(cameraId)) {
    $('title').textContent = 'Alamat tidak benar';
    showMessage('Alamat halaman ini tidak memuat kode kamera yang benar.');
    $('form').hidden = true;
    return;
  }
  $('camera').textContent = `Kode kamera: ${cameraId}`;
  if (!await takesPush()) return;
  publicCamera().then((camera) => {
    if (camera) $('camera').textContent = `${camera.name} (kode ${cameraId})`;
  }); // null: a non-public camera, the code is enough
  if (!window.isSecureContext || !navigator.mediaDevices) {
    // Browsers give the camera only to HTTPS pages (and to localhost).
    showMessage('Kamera hanya bisa dipakai lewat alamat HTTPS. Buka halaman ini dengan https:// (tanyakan admin Pantau).');
  }
  $('form').addEventListener('submit', start);
  $('stop').addEventListener('click', stop);
  $('facing').addEventListener('change', () => {
    stream?.getTracks().forEach((track) => track.stop());
    stream = null;
    openCamera().catch((error) => showMessage(cameraError(error)));
  });
  addEventListener('pagehide', () => { if (publish) publish.stop(); });
  setState('stopped');
  $('state').textContent = 'Belum mengirim';
}

main();
