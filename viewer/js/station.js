// The station page (/kamera/{id}, /tps/{id}; ?embed=1 for an iframe): one camera, live.
// The public plays LL-HLS or WHEP first as the site says (GET /api/player, relay.public_player);
// "Langsung" switches to WHEP, and a WHEP 503 or failed connection falls back to HLS by itself;
// HLS that keeps failing while the camera is online (a broken cache or proxy on the way) falls
// back to WHEP. Automatic switches are at most one per SWITCH_GUARD_MS, so a viewer whom neither
// path serves waits on one of them (with its own retries) instead of bouncing between the two.
// Signed-in operators always play WHEP.
//
// Everything on screen is drawn by render() from `view`; the camera JSON, the SSE events, the
// WHEP client and the video element only update `view` and call render().

import {ApiError, getCamera, getJson, tileUrl, whepUrl} from './api.js';
import {hlsUnavailableReason, hlsUrl, playHls} from './hls-player.js';
import {currentSession} from './session.js';
import {subscribeCamera} from './status-events.js';
import {REASON_LABELS, badgeTone, publicFromLabel, statusText} from './status-labels.js';
import {playWhep} from './whep-client.js';

const NO_PICTURE_AFTER_MS = 3000; // no new frame for this long: the picture has stalled
const HLS_FAILURES_BEFORE_WHEP = 2; // fatal HLS errors since HLS last played, camera online
const SWITCH_GUARD_MS = 30000;
const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);
const video = $('video');
const embed = new URLSearchParams(location.search).get('embed') === '1';
const cameraId = cameraIdFromPath(location.pathname);

const view = {
  camera: null,
  status: {state: 'connecting', reason: null, picture: null},
  viewers: null,
  notFound: false,
  player: 'idle', // idle | connecting | connected | reconnecting | unavailable | failed
  message: null,
  lastFrameAt: 0,
  stalled: true, // the last render() saw no recent frame
};
let session = null; // the WHEP session, or the HLS one (mode says which)
let mode = 'webrtc'; // 'hls' | 'webrtc': what plays now
let hlsBlocked = null; // why HLS cannot play in this browser/node, or null
let player = {public_player: 'hls', hls_js: null, hls_js_missing: null}; // GET /api/player
let operator = false; // signed in: WHEP only
let webrtcConnected = false; // this WHEP attempt reached 'connected'
let hlsFailures = 0; // fatal HLS errors since HLS last played
let lastSwitchAt = -Infinity; // performance.now() of the last automatic switch of mode
let whepNote = null; // why WHEP plays though the site prefers HLS, kept once WHEP connects
let starting = false; // a first playWhep() is under way
let retryTimer = null;
let startFailures = 0;
let events = null; // the SSE subscription
let openCheck = null; // outside the public window: when to look again

// For tests and for curious people with devtools: the live peer connection and timings.
window.__pantau = {
  cameraId,
  get session() { return session; },
  get mode() { return mode; },
  get pc() { return (session && session.pc) || null; },
  get hls() { return mode === 'hls' && session ? session.hls : null; },
  latencyS: () => (mode === 'hls' && session ? session.latencyS() : null),
  trackAt: null,      // performance.now() of the first track
  firstFrameAt: null, // performance.now() of the first frame shown
};

function cameraIdFromPath(pathname) {
  const match = /^\/(?:kamera|tps)\/([^/]+)\/?$/.exec(pathname);
  if (!match) return null;
  try {
    const id = decodeURIComponent(match[1]);
    return ID_PATTERN.test(id) ? id : null;
  } catch {
    return null;
  }
}

// ---- rendering --------------------------------------------------------------------------

function shortKota(name) {
  return name.replace(/^(Kota|Kabupaten) Administrasi /, '');
}

function pathParts(camera) {
  const loc = camera.location || {};
  const parts = [];
  if (loc.kota) parts.push([shortKota(loc.kota.name), loc.kota.name]);
  if (loc.kecamatan) parts.push([`Kec. ${loc.kecamatan.name}`, `Kecamatan ${loc.kecamatan.name}`]);
  if (loc.kelurahan) parts.push([`Kel. ${loc.kelurahan.name}`, `Kelurahan ${loc.kelurahan.name}`]);
  if (camera.kind === 'tps' && camera.tps != null) parts.push([`TPS ${camera.tps}`, `TPS ${camera.tps}`]);
  if (camera.kind === 'recap') parts.push(['Rekapitulasi', 'Tempat rekapitulasi kecamatan']);
  return parts;
}

// What the box over the video says, or null when the picture is live.
function overlayText() {
  const {status} = view;
  const hasPicture = performance.now() - view.lastFrameAt < NO_PICTURE_AFTER_MS;
  view.stalled = !hasPicture;
  if (view.notFound) return [`Tidak ada kamera publik dengan kode ${cameraId || 'ini'}.`, 'Periksa kembali tautannya.'];
  if (status.state === 'scheduled') {
    return [publicFromLabel(status.public_from),
      'Di luar jam tayang publik kamera ini (kerahasiaan pemungutan suara). Video tampil sendiri begitu jam tayang dimulai.'];
  }
  if (status.state === 'offline') {
    return ['Terputus', `${REASON_LABELS[status.reason] ? capitalize(REASON_LABELS[status.reason]) + '. ' : ''}`
      + 'Video akan berlanjut sendiri saat kamera tersambung lagi.'];
  }
  if (status.state === 'disabled') return ['Kamera nonaktif', 'Kamera ini sedang tidak disiarkan.'];
  if (status.state === 'waiting') return ['Menunggu kiriman kamera', 'Video muncul begitu kamera mulai mengirim.'];
  if (view.player === 'unavailable') return ['Belum dapat menonton', 'Halaman akan mencoba lagi otomatis.'];
  if (view.player === 'failed') return ['Video tidak dapat diputar', ''];
  if (hasPicture) return null;
  if (status.state === 'connecting') return ['Menyambung ke kamera…', ''];
  if (view.player === 'reconnecting') return ['Menyambung ulang…', ''];
  return ['Memuat video…', ''];
}

function render() {
  const {camera, status} = view;
  const badge = $('status');
  badge.textContent = statusText(status);
  badge.dataset.state = status.state || '';
  badge.dataset.picture = status.picture || '';
  badge.dataset.tone = badgeTone(status);
  updateMute();

  const viewers = $('viewers');
  viewers.hidden = view.viewers == null;
  if (view.viewers != null) viewers.textContent = `${Number(view.viewers).toLocaleString('id-ID')} penonton`;

  if (camera) {
    const name = $('name');
    if (embed) {
      const link = document.createElement('a');
      Object.assign(link, {href: canonicalUrl(), target: '_blank', rel: 'noopener', textContent: camera.name,
        title: 'Buka di Pantau'});
      name.replaceChildren(link);
    } else {
      name.textContent = camera.name;
    }
    document.title = `${camera.name} — Pantau`;
    $('path').replaceChildren(...pathParts(camera).map(([text, title]) => {
      const item = document.createElement('li');
      item.textContent = text;
      item.title = title;
      return item;
    }));
  } else if (view.notFound) {
    $('name').textContent = 'Kamera tidak ditemukan';
    document.title = 'Kamera tidak ditemukan — Pantau';
  }
  for (const testid of ['status', 'mute', 'fullscreen', 'share-section']) {
    if (view.notFound) $(testid).hidden = true;
  }
  if (view.notFound) video.removeAttribute('poster');

  const overlay = $('overlay');
  const text = overlayText();
  overlay.hidden = !text;
  if (text) {
    overlay.querySelector('.overlay-title').textContent = text[0];
    overlay.querySelector('.overlay-detail').textContent = text[1];
  }
  overlay.dataset.kind = {offline: 'offline', scheduled: 'scheduled'}[status.state] || 'info';

  const message = $('message');
  message.hidden = !view.message;
  message.textContent = view.message || '';
  renderMode();
}

// Which mode plays and how far behind live; the "Langsung" button while HLS plays.
function renderMode() {
  const line = $('mode');
  const playing = view.player === 'connected' && !view.notFound && view.status.state !== 'scheduled';
  let text = '';
  if (playing && mode === 'hls') {
    const behind = session ? session.latencyS() : null;
    text = behind == null ? 'Siaran HLS'
      : `Siaran HLS · ${behind.toLocaleString('id-ID', {minimumFractionDigits: 1, maximumFractionDigits: 1})} detik di belakang siaran langsung`;
  } else if (playing) {
    text = 'Langsung (WebRTC)';
    if (hlsBlocked && !operator) text += ` · HLS tidak tersedia: ${hlsBlocked}`;
  }
  line.hidden = !text;
  line.textContent = text;
  line.dataset.mode = playing ? mode : '';
  $('go-live').hidden = !(mode === 'hls' && !operator && !view.notFound && view.status.state !== 'scheduled');
}

const capitalize = (text) => text.charAt(0).toUpperCase() + text.slice(1);

// ---- player -----------------------------------------------------------------------------

async function startPlayer() {
  clearTimeout(retryTimer);
  if (session || starting || view.notFound || view.status.state === 'scheduled') return;
  if (mode === 'hls') {
    startHls();
    return;
  }
  starting = true;
  webrtcConnected = false;
  view.player = 'connecting';
  render();
  let fallBack = false;
  try {
    session = await playWhep(whepUrl(cameraId), video, {onState: onPlayerState});
    startFailures = 0;
    view.message = whepNote;
  } catch (error) {
    startFailures += 1;
    onPlayerError(error);
    fallBack = canFallBack() && (error.status === 503 || !(error.status >= 400 && error.status < 500));
    if (fallBack) {
      view.message = `${error.status === 503 ? error.message : 'Koneksi WebRTC gagal.'} Beralih ke siaran HLS.`;
    } else if (error.status === 404) {
      view.notFound = true;
    } else if (error.status === 403) {
      loadCamera(); // its public window closed meanwhile: the camera says until when
    } else if (!error.permanent) {
      const delayMs = error.retryAfterS ? error.retryAfterS * 1000 : Math.min(30000, 1000 * 2 ** startFailures);
      retryTimer = setTimeout(startPlayer, delayMs);
    }
    // 409 (camera disabled) and other 4xx: the next status event that changes things restarts us.
  } finally {
    starting = false;
  }
  if (fallBack) fallBackToHls();
  render();
}

// A public viewer is never left without a picture because of WHEP capacity or blocked UDP.
const switchAllowed = () => performance.now() - lastSwitchAt >= SWITCH_GUARD_MS;
const canFallBack = () => !operator && !hlsBlocked && switchAllowed();

function fallBackToHls() {
  lastSwitchAt = performance.now();
  stopPlayer();
  mode = 'hls';
  startHls();
}

// HLS fails while WHEP may work: the camera is online, so the fault is on the HLS path.
function fallBackToWhep() {
  lastSwitchAt = performance.now();
  stopPlayer();
  mode = 'webrtc';
  whepNote = 'Siaran HLS tidak dapat diputar; beralih ke WebRTC.';
  view.message = whepNote;
  startPlayer();
}

async function startHls() {
  if (session || starting) return;
  starting = true;
  view.player = 'connecting';
  render();
  try {
    session = await playHls(hlsUrl(cameraId), video, {hlsJs: player.hls_js, onState: onHlsState});
  } catch (error) { // hls.js did not load: WHEP instead, saying why
    hlsBlocked = error.message;
    mode = 'webrtc';
  } finally {
    starting = false;
  }
  if (mode === 'webrtc') startPlayer();
  render();
}

function onHlsState(state, detail) {
  if (mode !== 'hls') return; // a late event of a session we left
  if (state === 'connected') {
    hlsFailures = 0;
    view.player = 'connected';
  } else if (state === 'reconnecting') {
    // A 503 is the origin saying "not there yet" (the first segment of a long GOP): wait for it.
    if (detail?.error?.response?.code !== 503) hlsFailures += 1;
    if (view.player !== 'connected' && hlsFailures >= HLS_FAILURES_BEFORE_WHEP
        && view.status.state === 'online' && switchAllowed()) {
      hlsFailures = 0;
      fallBackToWhep();
      return;
    }
    if (view.player === 'connected') view.player = 'reconnecting';
  } else if (state === 'forbidden') {
    stopPlayer();
    loadCamera(); // its public window closed meanwhile: the camera says until when
  }
  render();
}

function stopPlayer() {
  clearTimeout(retryTimer);
  if (session) session.stop();
  session = null;
  view.player = 'idle';
}

// "Langsung": WebRTC's sub-second delay while the relay has room (a 503 comes back to HLS).
function goLive() {
  if (mode !== 'hls') return;
  stopPlayer();
  mode = 'webrtc';
  view.message = whepNote = null;
  lastSwitchAt = -Infinity; // the viewer's own choice: a refusal may take them back to HLS at once
  startPlayer();
}

function onPlayerError(error) {
  if (error.status === 503) {
    view.player = 'unavailable';
    view.message = `${error.message} Halaman akan mencoba lagi otomatis.`;
  } else {
    view.player = 'failed';
    view.message = error.message;
  }
}

function onPlayerState(state, detail) {
  if (state === 'track') {
    if (window.__pantau.trackAt == null) window.__pantau.trackAt = performance.now();
    return;
  }
  if (mode !== 'webrtc') return; // a late event of a session we left
  if (state === 'connected') {
    webrtcConnected = true;
    view.player = 'connected';
    view.message = whepNote;
  } else if (state === 'reconnecting') {
    if (!webrtcConnected && canFallBack()) { // never connected: UDP blocked, say; HLS instead
      view.message = 'Koneksi WebRTC gagal; beralih ke siaran HLS.';
      fallBackToHls();
      return;
    }
    if (view.player !== 'unavailable') view.player = 'reconnecting';
  } else if (state === 'unavailable' || state === 'failed') {
    onPlayerError(detail);
    if (canFallBack()) {
      view.message = `${detail?.message || 'Koneksi WebRTC gagal.'} Beralih ke siaran HLS.`;
      fallBackToHls();
      return;
    }
  }
  render();
}

function restartPlayer() {
  if (!session) startPlayer();
  else if (view.player === 'failed' && session.restart) session.restart();
}

function watchFrames() {
  const seen = () => {
    view.lastFrameAt = performance.now();
    if (window.__pantau.firstFrameAt == null) window.__pantau.firstFrameAt = view.lastFrameAt;
    if (view.stalled) render(); // the picture is back: take the "loading" box away at once
  };
  if (video.requestVideoFrameCallback) {
    const onFrame = () => {
      seen();
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  } else {
    video.addEventListener('timeupdate', seen);
  }
  setInterval(render, 1000); // notices a stalled picture
}

// ---- status -----------------------------------------------------------------------------

function onStatus(status) {
  const wasDisabled = view.status.state === 'disabled';
  const wasScheduled = view.status.state === 'scheduled';
  view.status = {...view.status, ...status};
  if (view.status.state === 'scheduled') {
    waitForWindow();
  } else if (wasScheduled) {
    clearTimeout(openCheck);
    subscribe(); // the stream was refused (403) while the camera was outside its window
    if (view.status.state !== 'disabled') startPlayer();
  } else {
    if (view.status.state !== 'online' && !(window.__pantau.firstFrameAt)) refreshPoster();
    if (wasDisabled && view.status.state !== 'disabled') restartPlayer();
  }
  render();
}

// Outside the camera's public window: no picture at all (the server has ended the session and
// refuses the tile), and a look at the camera again around when the window opens (the SSE stream
// also says so when it was open before), with jitter so 13:00 is not one burst.
function waitForWindow() {
  stopPlayer();
  view.message = null;
  video.removeAttribute('poster');
  clearTimeout(openCheck);
  const opens = Date.parse(view.status.public_from || '');
  const waitMs = Number.isNaN(opens) ? 300000 : Math.min(60000, Math.max(5000, opens - Date.now()));
  openCheck = setTimeout(loadCamera, waitMs + Math.random() * 5000);
}

function subscribe() {
  if (events) events.close();
  events = subscribeCamera(cameraId, {
    onStatus,
    onViewers: (count) => { view.viewers = count; render(); },
    onReconnect: loadCamera,
  });
}

async function loadCamera() {
  try {
    const camera = await getCamera(cameraId);
    view.camera = camera;
    view.viewers = camera.viewers ?? view.viewers;
    if (!video.getAttribute('poster') && camera.status?.state !== 'scheduled') refreshPoster(); // the latest keyframe until the video plays
    onStatus(camera.status || {});
    return true;
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      view.notFound = true;
      view.status = {state: null};
    }
    view.message = error.status === 404 ? 'Kamera ini tidak ada atau tidak dibuka untuk umum.' : error.message;
    render();
    return error.status !== 404;
  }
}

function refreshPoster() {
  video.poster = `${tileUrl(cameraId)}?t=${Date.now()}`;
}

// ---- controls ---------------------------------------------------------------------------

function canonicalUrl() {
  return `${location.origin}/kamera/${encodeURIComponent(cameraId)}`;
}

// Sound is off until the viewer turns it on (browsers block autoplay with sound). There is sound
// to turn on when the WebRTC stream has an audio track, or, over HLS, when the camera's status
// names its sound: the public status does so only for cameras the public may hear, and exactly
// those cameras' HLS carries it.
function updateMute() {
  const mute = $('mute');
  const stream = video.srcObject;
  const hasAudio = !!(stream && stream.getAudioTracks().length) || (mode === 'hls' && !!view.status.audio_codec);
  mute.disabled = !hasAudio;
  mute.dataset.sound = hasAudio ? 'yes' : 'no';
  mute.setAttribute('aria-pressed', String(video.muted));
  mute.classList.toggle('muted', video.muted || !hasAudio);
  mute.querySelector('.label').textContent = !hasAudio ? 'Tanpa suara' : video.muted ? 'Nyalakan suara' : 'Matikan suara';
  mute.title = hasAudio ? '' : 'Siaran ini hanya gambar, tanpa suara';
}

function setUpControls() {
  const mute = $('mute');
  mute.addEventListener('click', () => {
    video.muted = !video.muted;
    updateMute();
  });
  video.addEventListener('loadedmetadata', updateMute);
  video.addEventListener('volumechange', updateMute);
  video.addEventListener('tracks', updateMute); // the WHEP client got a track (sound comes after the picture)
  updateMute();

  const full = $('fullscreen');
  const stage = $('stage');
  const canFullscreen = document.fullscreenEnabled || typeof video.webkitEnterFullscreen === 'function';
  full.hidden = !canFullscreen;
  full.addEventListener('click', () => {
    if (document.fullscreenElement) document.exitFullscreen();
    else if (document.fullscreenEnabled) stage.requestFullscreen().catch(() => {});
    else video.webkitEnterFullscreen(); // iPhone Safari: only the video element can go full screen
  });
  document.addEventListener('fullscreenchange', () => {
    full.querySelector('.label').textContent = document.fullscreenElement ? 'Keluar layar penuh' : 'Layar penuh';
  });
  stage.addEventListener('dblclick', () => full.click());

  const shareUrl = $('share-url');
  const share = $('share');
  shareUrl.value = canonicalUrl();
  shareUrl.addEventListener('focus', () => shareUrl.select());
  share.addEventListener('click', async () => {
    const url = canonicalUrl();
    try {
      if (navigator.share && matchMedia('(pointer: coarse)').matches) {
        await navigator.share({title: document.title, url});
        return;
      }
      await navigator.clipboard.writeText(url);
    } catch {
      shareUrl.select();
      if (!document.execCommand || !document.execCommand('copy')) return;
    }
    share.textContent = 'Tautan disalin';
    setTimeout(() => { share.textContent = 'Salin tautan'; }, 2000);
  });

  const hlsLink = $('hls-url');
  const copyHls = $('copy-hls');
  hlsLink.addEventListener('focus', () => hlsLink.select());
  copyHls.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(hlsLink.value);
    } catch {
      hlsLink.select();
      if (!document.execCommand || !document.execCommand('copy')) return;
    }
    copyHls.textContent = 'Tautan disalin';
    setTimeout(() => { copyHls.textContent = 'Salin'; }, 2000);
  });
}

// ---- start ------------------------------------------------------------------------------

// The site's choice (HLS or WebRTC first) and hls.js; an operator plays WHEP.
async function choosePlayer() {
  const [site, who] = await Promise.all([
    getJson('/api/player').catch(() => null),
    currentSession().catch(() => null),
  ]);
  if (site) player = site;
  operator = !!who;
  hlsBlocked = hlsUnavailableReason(video, player.hls_js, player.hls_js_missing);
  const wanted = new URLSearchParams(location.search).get('player'); // ?player=webrtc|hls
  const first = wanted === 'webrtc' || wanted === 'hls' ? wanted : player.public_player;
  mode = operator || hlsBlocked || first === 'webrtc' ? 'webrtc' : 'hls';
}

async function main() {
  document.documentElement.classList.toggle('embed', embed);
  video.muted = true; // the attribute only sets the default; autoplay needs the property
  setUpControls();
  watchFrames();
  if (!cameraId) {
    view.notFound = true;
    view.status = {state: null};
    view.message = 'Alamat halaman ini tidak memuat kode kamera yang benar.';
    render();
    return;
  }
  const hlsLink = $('hls-url');
  hlsLink.value = new URL(hlsUrl(cameraId), location.origin).href;
  $('go-live').addEventListener('click', goLive);
  await choosePlayer();
  render();
  // Subscribe before reading the camera, so no change between the two is missed.
  subscribe();
  if (!(await loadCamera()) && view.notFound) {
    events.close();
    return;
  }
  if (view.status.state !== 'disabled') startPlayer();
  addEventListener('pagehide', stopPlayer);
  addEventListener('pageshow', (event) => { if (event.persisted) startPlayer(); }); // back from the bfcache
}

main();
