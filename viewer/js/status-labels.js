// How a camera's status reads on every page (Bahasa Indonesia), and the badge it gets.
//
//   statusText(status)  -> 'Terputus: kamera tidak terjangkau'
//   badgeTone(status)   -> 'ok' | 'warn' | 'bad' | 'idle'   (the colour)
//   badgeKind(status)   -> 'online' | 'offline' | 'beku' | 'gelap' | 'terhalang' | 'bergeser' | 'kabur' | 'connecting'
//                          | 'disabled' | 'waiting'
//   badgeLabel(status)  -> the short badge word for tiles ('Online', 'Offline', 'Beku', 'Gelap', …)
//
// An online camera's picture (ingest/picture/picture_health.py) is one value, the most telling first: black
// (gelap/tertutup) > obstructed (terhalang) > moved (bergeser) > blurred (kabur) > frozen (beku).
//   publicFromLabel(iso) -> 'Tayang publik mulai 13.00 WIB' (a public camera outside its window:
//                           status {state: 'scheduled', public_from}; the date is added when not today)

export const STATE_LABELS = {
  online: 'Langsung', connecting: 'Menyambung…', offline: 'Terputus', disabled: 'Nonaktif',
  waiting: 'Menunggu kiriman kamera', scheduled: 'Belum tayang untuk publik',
};
export const REASON_LABELS = {
  unreachable: 'kamera tidak terjangkau', auth_failed: 'kata sandi kamera salah',
  no_data: 'tidak ada gambar', unsupported_codec: 'format video tidak didukung',
};
export const PICTURE_LABELS = {
  frozen: 'Gambar beku', black: 'Gambar gelap/tertutup', obstructed: 'Lensa terhalang', moved: 'Kamera bergeser',
  blurred: 'Gambar kabur',
};
const PICTURE_BADGES = {frozen: 'beku', black: 'gelap', obstructed: 'terhalang', moved: 'bergeser', blurred: 'kabur'};

const BADGE_LABELS = {
  online: 'Online', offline: 'Offline', beku: 'Beku', gelap: 'Gelap', terhalang: 'Terhalang', bergeser: 'Bergeser',
  kabur: 'Kabur', connecting: 'Menyambung', disabled: 'Nonaktif', waiting: 'Menunggu', scheduled: 'Terjadwal',
};

const MONTHS = ['Januari', 'Februari', 'Maret', 'April', 'Mei', 'Juni', 'Juli', 'Agustus', 'September', 'Oktober',
  'November', 'Desember'];
const WIB_MS = 7 * 3600 * 1000; // WIB is UTC+7 all year: read a shifted Date with getUTC*, whatever the phone's zone
const pad = (n) => String(n).padStart(2, '0');

export function publicFromLabel(iso, now = Date.now()) {
  const at = iso ? new Date(Date.parse(iso) + WIB_MS) : null;
  if (!at || Number.isNaN(at.getTime())) return 'Tidak tayang untuk publik saat ini';
  const today = new Date(now + WIB_MS);
  const sameDay = at.getUTCFullYear() === today.getUTCFullYear() && at.getUTCMonth() === today.getUTCMonth()
    && at.getUTCDate() === today.getUTCDate();
  const day = sameDay ? '' : `${at.getUTCDate()} ${MONTHS[at.getUTCMonth()]} ${at.getUTCFullYear()}, `;
  return `Tayang publik mulai ${day}${pad(at.getUTCHours())}.${pad(at.getUTCMinutes())} WIB`;
}

export function statusText(status) {
  if (status.state === 'scheduled') return publicFromLabel(status.public_from);
  let text = STATE_LABELS[status.state] || status.state || 'Tidak diketahui';
  if (status.state === 'offline' && REASON_LABELS[status.reason]) text += `: ${REASON_LABELS[status.reason]}`;
  if (status.state === 'online' && PICTURE_LABELS[status.picture]) text += ` · ${PICTURE_LABELS[status.picture]}`;
  return text;
}

export function badgeTone(status) {
  if (status.state === 'online') return PICTURE_LABELS[status.picture] ? 'warn' : 'ok';
  if (status.state === 'offline') return 'bad';
  if (status.state === 'connecting') return 'warn';
  return 'idle';
}

export function badgeKind(status) {
  if (status.state === 'online') return PICTURE_BADGES[status.picture] || 'online';
  return BADGE_LABELS[status.state] ? status.state : 'offline';
}

export const badgeLabel = (status) => BADGE_LABELS[badgeKind(status)];

// Put a status on a badge element: text, colour and data attributes tests and CSS read.
export function paintBadge(element, status) {
  const kind = badgeKind(status);
  element.textContent = BADGE_LABELS[kind];
  element.title = statusText(status);
  element.dataset.badge = kind;
  element.dataset.state = status.state || '';
  element.dataset.tone = badgeTone(status);
}
