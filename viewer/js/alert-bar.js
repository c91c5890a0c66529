// The wall's alert bar (signed-in operators only): every open alert with its kind, where the
// camera is, since when and its evidence tile; a short beep when a new one opens (mutable, the
// choice kept in localStorage); a click opens the camera in the wall's large view; "Tindak
// lanjuti" acknowledges it with a note.
//
//   const bar = new AlertBar({onOpen: (alert) => ...});
//   bar.setSession(session);   // null hides the bar (the public never sees alerts)
//   bar.apply(alert);          // an `event: alert` from SSE
//   bar.reload();              // after an SSE reconnection

import {acknowledgeAlert, alertKindLabel, alertWhere, formatSince, formatWib, openAlerts} from './alerts.js';
import {byTestId as $, el} from './dom.js';

const MUTE_KEY = 'pantau-alert-sound';
const SHOWN = 60; // cards on screen at most; the count says how many there are

export class AlertBar {
  constructor({onOpen = () => {}} = {}) {
    this.onOpen = onOpen;
    this.session = null;
    this.alerts = new Map(); // id -> alert (open ones only)
    this.generation = 0;      // bumps on every (re)load: late answers of an older one are dropped
    this.audio = null;
    this.beeps = 0;           // for tests and the curious: beeps played
    this.acking = null;       // the alert the note form is for
    this.muted = localStorage.getItem(MUTE_KEY) === 'mati';
    this.bar = $('alert-bar');
    this.list = $('alert-list');
    $('alert-sound').addEventListener('click', () => this.setMuted(!this.muted));
    this.setUpAckForm();
    // Browsers start audio only after a gesture: any click on the page unlocks it.
    document.addEventListener('pointerdown', () => this.audio && this.audio.state === 'suspended' && this.audio.resume());
    setInterval(() => this.render(), 30000); // "sejak … menit" moves on
    this.renderSound();
  }

  async setSession(session) {
    this.session = session;
    this.bar.hidden = !session;
    this.alerts.clear();
    this.render();
    if (session) await this.reload();
  }

  async reload() {
    if (!this.session) return;
    const generation = ++this.generation;
    try {
      const alerts = await openAlerts();
      if (generation !== this.generation) return;
      this.alerts = new Map(alerts.map((alert) => [alert.id, alert]));
      this.showError(null);
    } catch (error) {
      if (generation === this.generation) this.showError(`Peringatan tidak dapat dimuat: ${error.message}`);
    }
    this.render();
  }

  apply(alert) {
    if (!this.session) return;
    const known = this.alerts.has(alert.id);
    if (alert.open) this.alerts.set(alert.id, alert);
    else this.alerts.delete(alert.id);
    if (alert.change === 'opened' && !known) this.beep();
    this.render();
  }

  // ---- rendering ------------------------------------------------------------------------

  render() {
    const alerts = [...this.alerts.values()].sort((a, b) => compareIds(b.id, a.id));
    $('alert-count').textContent = String(alerts.length);
    this.bar.dataset.count = String(alerts.length);
    $('alert-empty').hidden = alerts.length > 0;
    this.list.replaceChildren(...alerts.slice(0, SHOWN).map((alert) => this.card(alert)));
  }

  card(alert) {
    const kind = alertKindLabel(alert.kind);
    const where = alertWhere(alert);
    const state = alert.active ? 'masih berlangsung' : `berakhir ${formatWib(alert.ended)}`;
    const picture = alert.tile_url
      ? el('img', {src: alert.tile_url, alt: `Gambar saat peringatan dimulai: ${where}`, dataset: {testid: 'alert-tile'}})
      : el('span', {class: 'alert-no-tile', dataset: {testid: 'alert-no-tile'}}, 'Tanpa gambar');
    return el('li', {class: 'alert-card', dataset: {testid: 'alert', id: alert.id, kind: alert.kind, camera: alert.camera,
      active: String(alert.active)}},
    el('button', {type: 'button', class: 'alert-open', dataset: {testid: 'alert-open'}, title: `Buka langsung: ${where}`,
      onclick: () => this.onOpen(alert)},
    el('span', {class: 'alert-picture'}, picture),
    el('span', {class: 'alert-text'},
      el('strong', {class: 'alert-kind', dataset: {testid: 'alert-kind'}}, kind),
      el('span', {class: 'alert-where', dataset: {testid: 'alert-where'}}, where),
      el('span', {class: 'alert-since', dataset: {testid: 'alert-since'}},
        `sejak ${formatWib(alert.started)} (${formatSince(alert.started)}) · ${state}`
        + (alert.repeats ? ` · berulang ${alert.repeats}×` : '')))),
    el('button', {type: 'button', class: 'alert-ack', dataset: {testid: 'alert-ack'}, onclick: () => this.openAckForm(alert)},
      'Tindak lanjuti'));
  }

  showError(text) {
    $('alert-error').hidden = !text;
    $('alert-error').textContent = text || '';
  }

  // ---- sound ----------------------------------------------------------------------------

  setMuted(muted) {
    this.muted = muted;
    localStorage.setItem(MUTE_KEY, muted ? 'mati' : 'nyala');
    this.renderSound();
  }

  renderSound() {
    $('alert-sound').textContent = this.muted ? 'Suara: mati' : 'Suara: nyala';
    $('alert-sound').setAttribute('aria-pressed', String(!this.muted));
  }

  // Two short tones made by the Web Audio API: nothing to download.
  beep() {
    if (this.muted || !window.AudioContext) return;
    this.audio = this.audio || new AudioContext();
    if (this.audio.state === 'suspended') this.audio.resume().catch(() => {});
    const start = this.audio.currentTime + 0.02;
    [[880, 0], [660, 0.18]].forEach(([frequency, offset]) => {
      const tone = this.audio.createOscillator();
      const gain = this.audio.createGain();
      tone.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, start + offset);
      gain.gain.exponentialRampToValueAtTime(0.3, start + offset + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.15);
      tone.connect(gain).connect(this.audio.destination);
      tone.start(start + offset);
      tone.stop(start + offset + 0.16);
    });
    this.beeps += 1;
  }

  // ---- acknowledging --------------------------------------------------------------------

  setUpAckForm() {
    const dialog = $('ack-dialog');
    const form = $('ack-form');
    $('ack-cancel').addEventListener('click', () => dialog.close());
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const alert = this.acking;
      const note = form.elements.note.value.trim();
      if (!alert || !note) return;
      $('ack-submit').disabled = true;
      try {
        await acknowledgeAlert(alert.id, note, this.session && this.session.csrf_token);
        this.alerts.delete(alert.id);
        this.render();
        dialog.close();
      } catch (error) {
        $('ack-error').textContent = error.message;
        $('ack-error').hidden = false;
        if (error.status === 409 || error.status === 404) {
          this.alerts.delete(alert.id);
          this.render();
        }
      } finally {
        $('ack-submit').disabled = false;
      }
    });
  }

  openAckForm(alert) {
    this.acking = alert;
    $('ack-form').reset();
    $('ack-error').hidden = true;
    $('ack-what').textContent = `${alertKindLabel(alert.kind)} · ${alertWhere(alert)} · sejak ${formatWib(alert.started)}`;
    $('ack-dialog').showModal();
    $('ack-note').focus();
  }
}

// Alert ids are Redis stream ids ("<ms>-<seq>"): newer ones compare greater.
function compareIds(a, b) {
  const [am, as] = a.split('-').map(Number);
  const [bm, bs] = b.split('-').map(Number);
  return am - bm || as - bs;
}
