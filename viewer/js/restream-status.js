// A camera's restream (RTMP to YouTube, Facebook or a KPU server) as a line of the admin list and
// form: live, connecting, or why it failed, in Bahasa Indonesia. `status.restream` comes from the
// ingest worker pushing the camera (README: Restream); none: the camera is not restreamed.
//
//   row.append(restreamLine(camera.status));

import {el} from './dom.js';

const STATES = {live: 'Siaran ulang: tayang', connecting: 'Siaran ulang: menyambung…', error: 'Siaran ulang gagal'};
const REASONS = {
  refused: 'server menolak sambungan (alamat atau port salah, atau server mati)',
  unreachable: 'server tidak terjangkau',
  connection_lost: 'sambungan diputus server (kunci streaming salah, atau server dimulai ulang)',
  timeout: 'server tidak menjawab',
  stalled: 'server berhenti menerima data',
  failed: 'gagal',
};

export function restreamLine(status) {
  const restream = status?.restream;
  if (!restream || !STATES[restream.state]) return el('div', {class: 'restream sub', 'data-testid': 'restream', hidden: true});
  const reason = restream.state === 'error' && restream.reason ? `: ${REASONS[restream.reason] || restream.reason}` : '';
  return el('div', {class: 'restream sub', 'data-testid': 'restream', dataset: {state: restream.state}},
    `${STATES[restream.state]}${reason}`);
}
