// Publishing a camera over WHIP (RFC 9725): one sendonly video transceiver, H.264 preferred
// (Pantau passes it through; VP8 is transcoded once on the server), and the microphone's audio
// track if the stream has one (Opus, taken as it is), no trickle ICE.
//
//   const publish = await publishWhip('/whip/cam1', stream, {token, onState: (state, detail) => ...});
//   publish.stop();   // DELETE on the session URL, then close
//
// The first attempt throws a WhepError (401 wrong key, 409 another device is sending, ...).
// Once sending, a connection that fails is re-established with backoff (the old session is
// deleted first, so the server does not see two publishers). onState receives:
//   'connecting' | 'connected' | 'disconnected' | 'reconnecting' ({delayMs, error}) | 'failed' (WhepError) | 'stopped'

import {WhepError, exchangeSdp, iceServersForPage} from './webrtc-http.js';

const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000];
const DISCONNECTED_GRACE_MS = 4000;

export async function publishWhip(url, stream, {token, onState = () => {}} = {}) {
  const publish = new WhipPublish(new URL(url, location.href).href, stream, token, onState);
  await publish.connect();
  return publish;
}

// H.264 first when the browser can send it, so the server does not have to transcode.
function preferH264(transceiver) {
  const capabilities = RTCRtpSender.getCapabilities && RTCRtpSender.getCapabilities('video');
  if (!capabilities || !transceiver.setCodecPreferences) return;
  const rank = (codec) => {
    const type = codec.mimeType.toLowerCase();
    if (type === 'video/h264') return codec.sdpFmtpLine && codec.sdpFmtpLine.includes('packetization-mode=1') ? 0 : 1;
    return {'video/vp8': 2, 'video/rtx': 3}[type] ?? 9;
  };
  const codecs = capabilities.codecs.filter((codec) => rank(codec) < 9).sort((a, b) => rank(a) - rank(b));
  if (codecs.length) transceiver.setCodecPreferences(codecs);
}

class WhipPublish {
  constructor(url, stream, token, onState) {
    Object.assign(this, {url, stream, token, onState});
    this.pc = null;
    this.location = null;
    this.stopped = false;
    this.failures = 0;
    this.timer = null;
  }

  async connect() {
    const iceServers = await iceServersForPage();
    if (this.stopped) return;
    const pc = new RTCPeerConnection({iceServers});
    this.pc = pc;
    this.onState('connecting');
    const [track] = this.stream.getVideoTracks();
    preferH264(pc.addTransceiver(track, {direction: 'sendonly', streams: [this.stream]}));
    const [sound] = this.stream.getAudioTracks();
    if (sound) pc.addTransceiver(sound, {direction: 'sendonly', streams: [this.stream]});
    pc.onconnectionstatechange = () => this.watch(pc);
    try {
      const {answer, location} = await exchangeSdp(pc, this.url, {token: this.token, failure: 'Kiriman ditolak'});
      this.location = location;
      await pc.setRemoteDescription({type: 'answer', sdp: answer});
    } catch (error) {
      if (pc === this.pc) this.teardown();
      throw error;
    }
  }

  watch(pc) {
    if (pc !== this.pc || this.stopped) return;
    const state = pc.connectionState;
    this.onState(state);
    clearTimeout(this.timer);
    if (state === 'connected') this.failures = 0;
    else if (state === 'failed') this.retry();
    else if (state === 'disconnected') this.timer = setTimeout(() => this.retry(), DISCONNECTED_GRACE_MS);
  }

  async retry() {
    if (this.stopped || this.retrying) return;
    this.retrying = true;
    await this.teardown();
    while (!this.stopped) {
      const delayMs = BACKOFF_MS[Math.min(this.failures, BACKOFF_MS.length - 1)];
      this.onState('reconnecting', {delayMs});
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      if (this.stopped) break;
      try {
        await this.connect();
        break;
      } catch (error) {
        this.failures += 1;
        if (error instanceof WhepError && error.permanent && error.status !== 409) {
          this.onState('failed', error);
          break;
        }
      }
    }
    this.retrying = false;
  }

  // The DELETE goes first and is awaited: the server must not still see this publisher when
  // the next attempt (or another device) posts.
  async teardown() {
    clearTimeout(this.timer);
    const pc = this.pc;
    this.pc = null;
    if (pc) pc.onconnectionstatechange = null;
    if (this.location) {
      const headers = this.token ? {Authorization: `Bearer ${this.token}`} : {};
      await fetch(this.location, {method: 'DELETE', headers, keepalive: true}).catch(() => {});
      this.location = null;
    }
    if (pc) pc.close();
  }

  async stop() {
    this.stopped = true;
    await this.teardown();
    this.onState('stopped');
  }

  // What is being sent now: {codec, width, height, fps, kbps} from the outbound-rtp report.
  async stats() {
    if (!this.pc) return null;
    const report = await this.pc.getStats();
    let outbound = null;
    report.forEach((entry) => { if (entry.type === 'outbound-rtp' && entry.kind === 'video') outbound = entry; });
    if (!outbound) return null;
    const codec = outbound.codecId && report.get(outbound.codecId);
    const now = outbound.timestamp;
    const kbps = this.lastBytes != null && now > this.lastAt ? ((outbound.bytesSent - this.lastBytes) * 8) / (now - this.lastAt) : null;
    this.lastBytes = outbound.bytesSent;
    this.lastAt = now;
    return {
      codec: codec ? codec.mimeType.replace(/^video\//i, '') : null,
      width: outbound.frameWidth ?? null, height: outbound.frameHeight ?? null,
      fps: outbound.framesPerSecond ?? null, kbps: kbps == null ? null : Math.round(kbps),
    };
  }
}
