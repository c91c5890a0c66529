// The push page (/kirim/{camera_id}): a KPPS officer's phone sends its camera to Pantau over
// WHIP. The push key is typed (never in the URL, never stored); the page shows the preview
// and what is being sent (codec, size, frame rate, bitrate).

import {getCamera} from './api.js';
import {byTestId as $} from './dom.js';
import {publishWhip} from './whip-client.js';

const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
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

async function openCamera() {
  if (stream) return stream;
  stream = await navigator.mediaDevices.getUserMedia({
    audio: false,
    video: {facingMode: $('facing').value, width: {ideal: 1280}, height: {ideal: 720}, frameRate: {ideal: 25, max: 30}},
  });
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
  if (error.status === 404) return 'Kamera ini tidak terdaftar untuk kiriman (WHIP). Hubungi admin Pantau.';
  return error.message;
}

async function start(event) {
  event.preventDefault();
  showMessage(null);
  const key = $('key').value.trim();
  if (!key) return;
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

// Before anyone types a key: does this camera take a push at all (GET /whip/{id})?
async function takesPush() {
  let response;
  try {
    response = await fetch(`/whip/${encodeURIComponent(cameraId)}`);
  } catch {
    return true; // the server is not reachable now; sending will say so
  }
  if (response.status === 404) {
    $('title').textContent = 'Kamera ini tidak menerima kiriman';
    showMessage('Kamera ini tidak terdaftar untuk kiriman dari ponsel (WHIP). Periksa alamatnya, atau hubungi admin Pantau.');
    $('form').hidden = true;
    return false;
  }
  if (response.ok && (await response.json()).enabled === false) {
    showMessage('Kamera ini sedang dinonaktifkan oleh admin; kiriman belum bisa diterima.');
  }
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
  getCamera(cameraId).then((camera) => {
    $('camera').textContent = `${camera.name} (kode ${cameraId})`;
  }).catch(() => { /* a non-public camera: the code is enough */ });
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
