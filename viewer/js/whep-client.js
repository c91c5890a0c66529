// A small WHEP (IETF WHEP) playback client: a recvonly video transceiver and a recvonly audio one
// (the relay answers it with the camera's sound where this viewer may hear it, else inactive),
// no trickle ICE (the offer is sent once ICE gathering is done and the answer carries all
// candidates). Video and sound go into one MediaStream on the <video> element, muted until
// the page unmutes it.
//
//   const session = await playWhep('/whep/cam1', videoElement, {onState: (state, detail) => ...});
//   session.stop();   // DELETE on the session URL
//
// The first attempt throws a WhepError (status 503 + the server's reason when the viewer cap is
// reached). Once playing, a connection that fails, or stays disconnected for a few seconds, is
// re-established with backoff, always into the same <video> element. onState receives:
//   'connecting' | 'connected' | 'disconnected' | 'reconnecting' ({delayMs, error}) |
//   'unavailable' (WhepError, will retry) | 'failed' (WhepError, gave up) | 'stopped'
// STUN/TURN: the site's (GET /api/ice-servers) unless {iceServers} is given.

const DISCONNECTED_GRACE_MS = 3000; // 'disconnected' often heals by itself; wait before rebuilding
import {WhepError, exchangeSdp, iceServersForPage} from './webrtc-http.js';

export {WhepError};

const CONNECT_TIMEOUT_MS = 10000;   // answer received but ICE/DTLS never connects
const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000, 30000];

export async function playWhep(url, video, {iceServers = null, onState = () => {}} = {}) {
  const session = new WhepSession(new URL(url, location.href).href, video, iceServers, onState);
  await session.connect();
  return session;
}

class WhepSession {
  constructor(url, video, iceServers, onState) {
    this.url = url;
    this.video = video;
    this.iceServers = iceServers;
    this.onState = onState;
    this.pc = null;
    this.location = null;
    this.stopped = false;
    this.failures = 0;
    this.retrying = false;
    this.timer = null;
  }

  async connect() {
    const iceServers = this.iceServers ?? await iceServersForPage(); // site's STUN/TURN unless given
    if (this.stopped) return;
    const pc = new RTCPeerConnection({iceServers});
    this.pc = pc;
    this.onState('connecting');
    pc.addTransceiver('video', {direction: 'recvonly'});
    pc.addTransceiver('audio', {direction: 'recvonly'});
    const media = new MediaStream(); // the relay's tracks come in streams of their own: one here
    pc.ontrack = (event) => {
      if (pc !== this.pc) return;
      media.addTrack(event.track);
      if (this.video.srcObject !== media) this.video.srcObject = media;
      this.video.play().catch(() => {}); // muted autoplay; a refusal leaves the poster up
      this.onState('track');
      this.video.dispatchEvent(new Event('tracks')); // a page's sound button looks again
    };
    pc.onconnectionstatechange = () => this.watch(pc);
    try {
      const {answer, location} = await exchangeSdp(pc, this.url);
      this.location = location;
      await pc.setRemoteDescription({type: 'answer', sdp: answer});
    } catch (error) {
      if (pc === this.pc) this.teardown();
      throw error;
    }
    this.armTimer(CONNECT_TIMEOUT_MS);
  }

  watch(pc) {
    if (pc !== this.pc || this.stopped) return;
    const state = pc.connectionState;
    this.onState(state);
    if (state === 'connected') {
      clearTimeout(this.timer);
      this.failures = 0;
    } else if (state === 'failed' || state === 'closed') {
      this.retry();
    } else if (state === 'disconnected') {
      this.armTimer(DISCONNECTED_GRACE_MS);
    }
  }

  armTimer(ms) {
    clearTimeout(this.timer);
    const pc = this.pc;
    this.timer = setTimeout(() => {
      if (pc === this.pc && pc.connectionState !== 'connected') this.retry();
    }, ms);
  }

  // Rebuild the peer connection (new offer, new session) until it works or stop() is called.
  async retry() {
    if (this.stopped || this.retrying) return;
    this.retrying = true;
    this.teardown();
    let delayMs = backoff(this.failures);
    let error = null;
    while (!this.stopped) {
      this.onState('reconnecting', {delayMs, error});
      await sleep(delayMs);
      if (this.stopped) break;
      try {
        await this.connect();
        break;
      } catch (err) {
        error = err;
        this.failures += 1;
        if (err instanceof WhepError && err.permanent) {
          this.onState('failed', err);
          break;
        }
        if (err instanceof WhepError && err.status === 503) this.onState('unavailable', err);
        delayMs = err.retryAfterS ? err.retryAfterS * 1000 : backoff(this.failures);
      }
    }
    this.retrying = false;
  }

  // Start again now (e.g. after the camera was re-enabled), forgetting earlier failures.
  restart() {
    this.failures = 0;
    this.stopped = false;
    return this.retry();
  }

  teardown() {
    clearTimeout(this.timer);
    const pc = this.pc;
    this.pc = null;
    if (pc) {
      pc.ontrack = null;
      pc.onconnectionstatechange = null;
    }
    if (this.location) {
      // The server ends the session on our DELETE; the connection closes after it (or after
      // 2 s), else the server may see the close first and answer the DELETE with 404.
      // keepalive: the DELETE still goes out when the page is being closed.
      const closeLater = setTimeout(() => pc && pc.close(), 2000);
      fetch(this.location, {method: 'DELETE', keepalive: true}).catch(() => {}).finally(() => {
        clearTimeout(closeLater);
        if (pc) pc.close();
      });
      this.location = null;
    } else if (pc) {
      pc.close();
    }
  }

  stop() {
    this.stopped = true;
    this.teardown();
    this.onState('stopped');
  }
}

function backoff(failures) {
  const base = BACKOFF_MS[Math.min(failures, BACKOFF_MS.length - 1)];
  return Math.round(base * (0.8 + Math.random() * 0.4)); // +-20 % jitter
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
