// One <video> that plays one camera at a time over WHEP, for pages that switch cameras (the
// wall's large view, the kecamatan page). A first attempt that fails is retried with backoff
// unless the server's answer is final (404, 409); once playing, whep-client.js heals the
// connection by itself.
//
//   const player = new LivePlayer(video, {onChange: (player) => ...});
//   player.play('rekap-317101');  player.stop();
//   player.state: 'idle' | 'connecting' | 'playing' | 'unavailable' | 'failed'
//   player.frames: frames shown since play(); player.lastFrameAt: performance.now() of the last

import {whepUrl} from './api.js';
import {playWhep} from './whep-client.js';

const RETRY_MS = [1000, 2000, 4000, 8000, 15000];

export class LivePlayer {
  constructor(video, {onChange = () => {}} = {}) {
    this.video = video;
    this.onChange = onChange;
    this.cameraId = null;
    this.session = null;
    this.state = 'idle';
    this.message = null;
    this.frames = 0;
    this.lastFrameAt = 0;
    this.attempt = 0; // bumps on every play()/stop(): late answers of an older attempt are dropped
    this.retryTimer = null;
    video.muted = true; // autoplay needs the property, not only the attribute
    this.countFrames();
  }

  countFrames() {
    const video = this.video;
    if (!video.requestVideoFrameCallback) return;
    const onFrame = () => {
      this.frames += 1;
      this.lastFrameAt = performance.now();
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }

  play(cameraId) {
    if (cameraId === this.cameraId && this.state !== 'failed') return;
    this.stop();
    this.video.muted = true; // another camera: its sound only when asked for again
    this.cameraId = cameraId;
    this.frames = 0;
    this.start(this.attempt, 0);
  }

  async start(attempt, failures) {
    this.set('connecting', null);
    try {
      const session = await playWhep(whepUrl(this.cameraId), this.video, {
        onState: (state, detail) => {
          if (attempt !== this.attempt) return;
          if (state === 'connected') this.set('playing', null);
          else if (state === 'unavailable' || state === 'failed') this.set(state, detail.message);
          else if (state === 'reconnecting') this.set('connecting', null);
        },
      });
      if (attempt !== this.attempt) {
        session.stop();
        return;
      }
      this.session = session;
    } catch (error) {
      if (attempt !== this.attempt) return;
      const final = error.status === 404 || error.status === 409;
      this.set(error.status === 503 ? 'unavailable' : 'failed', error.message);
      if (!final) {
        const delay = error.retryAfterS ? error.retryAfterS * 1000 : RETRY_MS[Math.min(failures, RETRY_MS.length - 1)];
        this.retryTimer = setTimeout(() => this.start(attempt, failures + 1), delay);
      }
    }
  }

  stop() {
    this.attempt += 1;
    clearTimeout(this.retryTimer);
    if (this.session) this.session.stop();
    this.session = null;
    this.cameraId = null;
    this.video.srcObject = null;
    this.set('idle', null);
  }

  set(state, message) {
    this.state = state;
    this.message = message;
    this.onChange(this);
  }
}
