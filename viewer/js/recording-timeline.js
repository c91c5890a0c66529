// The station page's recordings ("Rekaman"): a timeline of the day (recorded spans and gaps, in
// WIB) and playback of the recording from a clock time, for signed-in operators and admins (and
// the public where the site allows it: GET /api/player says so; otherwise nothing is asked).
//
// Playback is HLS VOD (/api/cameras/{id}/recordings/vod.m3u8) through the hls.js the node
// serves; every segment carries its EXT-X-PROGRAM-DATE-TIME, so a clock time maps to a position:
// the fragment whose date covers it, plus the offset inside. The clock time on screen is read
// back the same way while it plays.

import {getJson} from './api.js';
import {loadHlsJs} from './hls-player.js';
import {currentSession} from './session.js';

const WIB_MS = 7 * 3600 * 1000;
const DAY_MS = 86400 * 1000;
const PLAY_SPAN_MS = 3 * 3600 * 1000; // one playlist covers this much after the chosen time

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
const cameraId = decodeURIComponent((location.pathname.match(/^\/kamera\/([^/]+)/) || [])[1] || '');
const state = {hls: null, dayStart: 0, fragments: [], clockMs: null};
window.pantauRecording = state; // for tests and curious operators

const iso = (ms) => new Date(ms).toISOString();
const wibDay = (ms) => new Date(ms + WIB_MS).toISOString().slice(0, 10);
const wibClock = (ms) => new Date(ms + WIB_MS).toISOString().slice(11, 19);
const listUrl = (from, to) => `/api/cameras/${encodeURIComponent(cameraId)}/recordings?from=${iso(from)}&to=${iso(to)}`;
const playlistUrl = (from, to) => `/api/cameras/${encodeURIComponent(cameraId)}/recordings/vod.m3u8?from=${iso(from)}&to=${iso(to)}`;

async function showDay(day) {
  state.dayStart = Date.parse(`${day}T00:00:00+07:00`);
  let listing;
  try {
    listing = await getJson(listUrl(state.dayStart, Math.min(state.dayStart + DAY_MS, Date.now())));
  } catch {
    return false; // not allowed (401/404) or nothing to read: the section stays hidden
  }
  const bar = $('rec-timeline');
  bar.replaceChildren(...listing.items.map((item) => {
    const span = document.createElement('span');
    const start = Date.parse(item.start);
    const end = Date.parse(item.end);
    span.className = `rec-${item.kind}`;
    span.style.left = `${(100 * (start - state.dayStart)) / DAY_MS}%`;
    span.style.width = `${Math.max(0.05, (100 * (end - start)) / DAY_MS)}%`;
    span.title = `${wibClock(start)}–${wibClock(end)} WIB${item.reason ? ` · ${item.reason}` : ''}`;
    return span;
  }));
  const recorded = listing.items.filter((item) => item.kind === 'segment');
  $('rec-info').textContent = recorded.length
    ? `${recorded.length} segmen direkam pada ${day}; pilih jam atau klik garis waktu.`
    : `Tidak ada rekaman pada ${day}.`;
  return true;
}

async function play(targetMs) {
  const player = await getJson('/api/player');
  const Hls = await loadHlsJs(player.hls_js.url);
  if (state.hls) state.hls.destroy();
  const video = recordingVideo();
  const hls = new Hls({backBufferLength: 30});
  state.hls = hls;
  state.clockMs = null;
  hls.on(Hls.Events.LEVEL_LOADED, (_, data) => {
    state.fragments = data.details.fragments;
    const fragment = state.fragments.find((f) => f.programDateTime + f.duration * 1000 > targetMs) || state.fragments[0];
    video.currentTime = fragment.start + Math.max(0, targetMs - fragment.programDateTime) / 1000;
    video.play().catch(() => {});
  });
  hls.on(Hls.Events.ERROR, (_, data) => {
    if (data.fatal) $('rec-info').textContent = `Rekaman tidak dapat diputar (${data.details}).`;
  });
  hls.loadSource(playlistUrl(targetMs - 60 * 1000, Math.min(targetMs + PLAY_SPAN_MS, Date.now())));
  hls.attachMedia(video);
}

// The recording's own <video>, made on first use (the page keeps one video until then).
function recordingVideo() {
  let video = $('rec-video');
  if (!video) {
    video = Object.assign(document.createElement('video'), {controls: true, muted: true, playsInline: true});
    video.dataset.testid = 'rec-video';
    video.setAttribute('aria-label', 'Rekaman kamera');
    video.addEventListener('timeupdate', followClock);
    $('rec-player').append(video);
  }
  return video;
}

// The clock time of what is on screen, from the fragment being played.
function followClock() {
  const video = $('rec-video');
  const fragment = state.fragments.find((f) => video.currentTime >= f.start && video.currentTime < f.start + f.duration);
  if (!fragment) return;
  state.clockMs = fragment.programDateTime + (video.currentTime - fragment.start) * 1000;
  $('rec-clock').textContent = `${wibDay(state.clockMs)} ${wibClock(state.clockMs)} WIB`;
  $('rec-clock').dataset.clockMs = String(Math.round(state.clockMs));
}

function chosenTime() {
  return Date.parse(`${$('rec-day').value}T${$('rec-time').value || '00:00:00'}+07:00`);
}

async function main() {
  if (!cameraId || !$('recordings')) return;
  const [player, who] = await Promise.all([getJson('/api/player').catch(() => ({})), currentSession().catch(() => null)]);
  if (!who && !player.public_recordings) return; // recordings are for operators on this site
  const today = wibDay(Date.now());
  $('rec-day').value = today;
  $('rec-time').value = wibClock(Date.now() - 10 * 60 * 1000);
  if (!(await showDay(today))) return;
  $('recordings').hidden = false;
  $('rec-day').addEventListener('change', () => showDay($('rec-day').value));
  $('rec-play').addEventListener('click', () => play(chosenTime()));
  $('rec-timeline').addEventListener('click', (event) => {
    const box = event.currentTarget.getBoundingClientRect();
    const at = state.dayStart + ((event.clientX - box.left) / box.width) * DAY_MS;
    $('rec-time').value = wibClock(at);
    play(at);
  });
}

main();
