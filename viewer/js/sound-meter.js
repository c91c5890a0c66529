// A camera's sound as an admin needs to see it: which codec, and how loud over the last second
// (status.audio_codec, status.audio_level_db from ingest/audio_pipeline.py). A microphone that
// is there but hears nothing (a dead or unplugged one) is said plainly.
//
//   cell.append(soundMeter(camera.status));

import {el} from './dom.js';

const CODEC_LABELS = {aac: 'AAC', pcm_mulaw: 'G.711 µ-law', pcm_alaw: 'G.711 A-law', opus: 'Opus'};
const QUIET_DB = -60; // below this for a whole second: nobody speaks, or the microphone is dead
const FLOOR_DB = -60; // the meter's scale

export function soundMeter(status) {
  const codec = status?.audio_codec;
  if (!codec) return el('div', {class: 'sound sub', 'data-testid': 'sound', dataset: {state: 'none'}}, 'Tanpa suara');
  const level = status.audio_level_db;
  const name = CODEC_LABELS[codec] || codec.toUpperCase();
  if (level == null) {
    return el('div', {class: 'sound sub', 'data-testid': 'sound', dataset: {state: 'measuring'}}, `Suara ${name} · mengukur…`);
  }
  const quiet = level <= QUIET_DB;
  const db = Math.round(level).toLocaleString('id-ID');
  return el('div', {class: 'sound sub', 'data-testid': 'sound', dataset: {state: quiet ? 'quiet' : 'ok', level: String(level)}},
    el('meter', {min: String(FLOOR_DB), max: '0', low: String(QUIET_DB + 15), value: String(Math.max(FLOOR_DB, level)),
      title: `${db} dBFS`}),
    ` Suara ${name} · ${db} dB${quiet ? ' · senyap: periksa mikrofon' : ''}`);
}
