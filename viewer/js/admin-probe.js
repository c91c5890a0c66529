// "Tes koneksi": ask the server to open a source as ingest would (POST /api/admin/probe) and
// show codec, size, frame rate and whether it will pass through or be transcoded, or why the
// camera could not be read.
//
//   await probeInto(outputElement, {source, transport, camera_id});

import {el} from './dom.js';
import {adminJson} from './admin-api.js';
import {describeError} from './admin-errors.js';

export const CODEC_NAMES = {h264: 'H.264', hevc: 'H.265 (HEVC)', mjpeg: 'MJPEG', mpeg4: 'MPEG-4'};
export const codecName = (codec) => CODEC_NAMES[codec] || String(codec || '?').toUpperCase();

export const PROBE_FAILURES = {
  unreachable: 'Kamera tidak terjangkau: alamat, port atau jalur salah, atau kamera mati.',
  auth_failed: 'Nama pengguna atau kata sandi kamera salah.',
  no_data: 'Kamera menjawab tetapi tidak mengirim gambar.',
  unsupported_codec: 'Format video kamera tidak didukung.',
};

const TRANSCODE_BECAUSE = {
  codec: (result) => `kodeknya ${codecName(result.codec)}, bukan H.264`,
  bframes: () => 'kamera mengirim B-frame',
  force_transcode: () => 'kamera diberi tag force_transcode',
};

function line(testid, label, value) {
  return el('div', {class: 'probe-line'}, el('dt', {}, label), el('dd', {'data-testid': testid}, value));
}

export function renderProbe(output, result) {
  output.dataset.state = result.ok ? 'ok' : 'failed';
  if (!result.ok) {
    output.replaceChildren(
      el('p', {class: 'probe-title', 'data-testid': 'probe-reason', dataset: {reason: result.reason || ''}},
        `Gagal: ${PROBE_FAILURES[result.reason] || result.reason}`),
      result.codec ? el('p', {}, `Kodek terdeteksi: ${codecName(result.codec)}`) : '');
    return;
  }
  const size = result.width && result.height ? `${result.width}×${result.height}` : 'tidak diketahui';
  const fps = result.fps ? `${String(result.fps).replace('.', ',')} fps` : 'tidak diketahui';
  const mode = result.mode === 'passthrough'
    ? 'Diteruskan langsung (passthrough): H.264 tanpa B-frame, tanpa transkode'
    : `Ditranskode ke H.264: ${result.transcode_because.map((why) => (TRANSCODE_BECAUSE[why] || (() => why))(result)).join('; ')}`;
  output.replaceChildren(
    el('p', {class: 'probe-title'}, 'Koneksi berhasil'),
    el('dl', {class: 'probe-facts'},
      line('probe-codec', 'Kodek', codecName(result.codec)),
      line('probe-size', 'Ukuran', size),
      line('probe-fps', 'Laju gambar', fps),
      line('probe-mode', 'Penanganan', mode)));
  output.querySelector('[data-testid="probe-mode"]').dataset.mode = result.mode;
}

export async function probeInto(output, request) {
  output.hidden = false;
  output.dataset.state = 'running';
  output.replaceChildren(el('p', {class: 'probe-title'}, 'Menguji koneksi… (paling lama sekitar 10 detik)'));
  try {
    const result = await adminJson('POST', '/api/admin/probe', request);
    renderProbe(output, result);
    return result;
  } catch (error) {
    output.dataset.state = 'error';
    output.replaceChildren(el('p', {class: 'probe-title', 'data-testid': 'probe-error'}, describeError(error)));
    return null;
  }
}
