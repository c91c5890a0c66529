// LL-HLS playback for the public (/hls/{camera}/index.m3u8): hls.js served by the node itself
// (GET /api/player says where, or why it is missing), or the browser's own HLS where it has it
// (iPhone Safari). A fatal error (the camera away: 503) rebuilds the player with backoff.
//
//   const session = await playHls('/hls/cam1/index.m3u8', video, {hlsJs, onState});
//   session.latencyS();  // how far behind live the picture is, or null
//   session.stop();
// onState: 'connecting' | 'connected' | 'reconnecting' ({error}) | 'forbidden' (403: outside the
// public window) | 'stopped'

const RETRY_MS = [1000, 2000, 4000, 8000];
let hlsJsLoading = null;

export const hlsUrl = (id) => `/hls/${encodeURIComponent(id)}/index.m3u8`;

export function nativeHls(video) {
  return !!video.canPlayType('application/vnd.apple.mpegurl');
}

// The global Hls from the node's hls.min.js (a classic UMD script), loaded once.
export function loadHlsJs(url) {
  if (window.Hls) return Promise.resolve(window.Hls);
  hlsJsLoading ??= new Promise((resolve, reject) => {
    const script = Object.assign(document.createElement('script'), {src: url, async: true});
    script.onload = () => (window.Hls ? resolve(window.Hls) : reject(new Error('hls.js tidak termuat')));
    script.onerror = () => { hlsJsLoading = null; reject(new Error('hls.js tidak termuat dari node')); };
    document.head.append(script);
  });
  return hlsJsLoading;
}

// Why this browser cannot play HLS here, or null when it can. Where Media Source exists the
// page plays hls.js (measured LL-HLS behaviour; recent desktop Chromium also claims native HLS);
// the browser's own HLS only where hls.js cannot run (no Media Source: older iPhone Safari).
export function hlsUnavailableReason(video, hlsJs, hlsJsMissing) {
  if (window.MediaSource || window.ManagedMediaSource) return hlsJs ? null : (hlsJsMissing || 'hls.js tidak tersedia');
  return nativeHls(video) ? null : 'peramban ini tidak dapat memutar HLS';
}

export async function playHls(url, video, {hlsJs = null, onState = () => {}} = {}) {
  const useHlsJs = hlsJs && (window.MediaSource || window.ManagedMediaSource);
  const session = useHlsJs ? new HlsJsSession(url, video, await loadHlsJs(hlsJs.url), onState)
    : new NativeSession(url, video, onState);
  session.start();
  return session;
}

class HlsJsSession {
  constructor(url, video, Hls, onState) {
    Object.assign(this, {url, video, Hls, onState, hls: null, stopped: false, failures: 0, timer: null});
    this.kind = 'hls.js';
    this.onPlaying = () => { this.failures = 0; this.onState('connected'); };
    video.addEventListener('playing', this.onPlaying);
  }

  start() {
    if (this.stopped) return;
    this.onState('connecting');
    this.video.srcObject = null; // a WHEP stream would take precedence over the media source
    const hls = new this.Hls({lowLatencyMode: true, backBufferLength: 10});
    this.hls = hls;
    hls.on(this.Hls.Events.ERROR, (_, data) => {
      if (hls !== this.hls || !data.fatal) return;
      if (data.type === this.Hls.ErrorTypes.MEDIA_ERROR && this.failures === 0) {
        this.failures += 1;
        hls.recoverMediaError();
        return;
      }
      const status = data.response?.code;
      this.rebuild(status === 403 ? 'forbidden' : 'reconnecting', data);
    });
    hls.loadSource(this.url);
    hls.attachMedia(this.video);
    this.video.play().catch(() => {});
  }

  rebuild(state, data) {
    this.teardown();
    if (state === 'forbidden') {
      this.onState('forbidden');
      return;
    }
    const delay = RETRY_MS[Math.min(this.failures, RETRY_MS.length - 1)];
    this.failures += 1;
    this.onState('reconnecting', {delayMs: delay, error: data});
    this.timer = setTimeout(() => this.start(), delay);
  }

  latencyS() {
    const hls = this.hls;
    if (!hls || this.video.readyState < 2) return null;
    if (hls.playingDate) return Math.max(0, (Date.now() - hls.playingDate.getTime()) / 1000);
    return Number.isFinite(hls.latency) ? hls.latency : null;
  }

  teardown() {
    clearTimeout(this.timer);
    if (this.hls) this.hls.destroy();
    this.hls = null;
  }

  stop() {
    this.stopped = true;
    this.teardown();
    this.video.removeEventListener('playing', this.onPlaying);
    this.video.removeAttribute('src');
    this.onState('stopped');
  }
}

// Safari's own HLS (it reads the LL-HLS tags itself).
class NativeSession {
  constructor(url, video, onState) {
    Object.assign(this, {url, video, onState, stopped: false, failures: 0, timer: null});
    this.kind = 'native';
    this.onPlaying = () => { this.failures = 0; this.onState('connected'); };
    this.onError = () => {
      if (this.stopped) return;
      const delay = RETRY_MS[Math.min(this.failures, RETRY_MS.length - 1)];
      this.failures += 1;
      this.onState('reconnecting', {delayMs: delay, error: this.video.error});
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.start(), delay);
    };
    video.addEventListener('playing', this.onPlaying);
    video.addEventListener('error', this.onError);
  }

  start() {
    if (this.stopped) return;
    this.onState('connecting');
    this.video.srcObject = null;
    this.video.src = this.url;
    this.video.play().catch(() => {});
  }

  latencyS() {
    const start = this.video.getStartDate ? this.video.getStartDate().getTime() : NaN;
    if (Number.isNaN(start) || this.video.readyState < 2) return null;
    return Math.max(0, (Date.now() - start) / 1000 - this.video.currentTime);
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.video.removeEventListener('playing', this.onPlaying);
    this.video.removeEventListener('error', this.onError);
    this.video.removeAttribute('src');
    this.video.load();
    this.onState('stopped');
  }
}
