// The API's errors in Bahasa Indonesia. The server writes its reasons in English; the common
// ones are translated here, and anything unknown is shown as the server wrote it, so no reason
// is ever hidden.
//
//   fieldLabel('region')            -> 'Wilayah'
//   translate('unknown region code …') -> 'kode wilayah … tidak dikenal'
//   describeError(error)            -> one sentence for a whole request (status + message)

export const FIELD_LABELS = {
  id: 'ID', kind: 'Jenis', region: 'Wilayah', tps: 'Nomor TPS', name: 'Nama', source: 'Sumber video',
  transport: 'Transport', source_token: 'Token sumber', restream_url: 'URL siaran ulang', restream_key: 'Kunci streaming', public: 'Publik', enabled: 'Aktif', record: 'Rekam', tags: 'Tag',
  body: 'Isi permintaan', file: 'Berkas', camera_id: 'Kamera', mode: 'Mode', kota: 'Kota', kecamatan: 'Kecamatan',
  kelurahan: 'Kelurahan', cursor: 'Halaman', q: 'Pencarian', public_windows: 'Jam tayang publik',
  masks: 'Masker privasi',
};

export const fieldLabel = (field) => FIELD_LABELS[field] || field;

// [pattern, (match) => Indonesian]; first match wins.
const REASONS = [
  [/^required: 'tps' \(a polling station\) or 'recap'/, () => "wajib diisi: 'tps' (TPS) atau 'recap' (rekap kecamatan)"],
  [/^unknown region code (.+)$/, (m) => `kode wilayah ${m[1]} tidak dikenal`],
  [/^required: a Kemendagri code/, () => 'wajib diisi: kode wilayah Kemendagri, mis. 31.71.01.1001'],
  [/^a tps camera needs a kelurahan code; (\S+) is a (\w+)$/, (m) => `kamera TPS memerlukan kode kelurahan; ${m[1]} adalah ${m[2]}`],
  [/^a recap camera needs a kecamatan code; (\S+) is a (\w+)$/, (m) => `kamera rekap memerlukan kode kecamatan; ${m[1]} adalah ${m[2]}`],
  [/^a recap site has no TPS number$/, () => 'lokasi rekap tidak punya nomor TPS'],
  [/^required for a tps camera: a whole number from 1 to (\d+)$/, (m) => `wajib untuk kamera TPS: bilangan bulat 1 sampai ${m[1]}`],
  [/^must be 1-64 characters of letters, digits/, () => "harus 1–64 karakter: huruf, angka, '_' atau '-'"],
  [/^a camera's id never changes/, () => 'ID kamera tidak dapat diubah'],
  [/^must be text of at most (\d+) characters$/, (m) => `harus teks paling panjang ${m[1]} karakter`],
  [/^required: rtsp:\/\//, () => 'wajib diisi: rtsp://…, rtsps://…, whip, whep+https://…, whep+http://… atau demo'],
  [/^unsupported source (.+?):/, (m) => `sumber ${m[1]} tidak didukung: gunakan rtsp://, rtsps://, whip, whep+https://, whep+http:// atau demo`],
  [/^URL longer than (\d+) characters$/, (m) => `URL lebih dari ${m[1]} karakter`],
  [/^URL must not contain spaces$/, () => 'URL tidak boleh berisi spasi'],
  [/^malformed URL/, () => 'URL tidak valid'],
  [/^URL has no host$/, () => 'URL tidak memiliki host'],
  [/^must be 'tcp' or 'udp'$|^transport must be 'tcp' or 'udp'$/, () => "harus 'tcp' atau 'udp'"],
  [/^'udp' applies to RTSP sources only$/, () => "'udp' hanya untuk sumber RTSP"],
  [/^must be a bearer token without spaces$/, () => 'harus token tanpa spasi'],
  [/^is only used with whep/, () => 'hanya dipakai untuk sumber whep+https:// atau whep+http://'],
  [/^password '\*\*\*' is a mask, and there is no stored password/, () => "kata sandi '***' hanyalah penutup, dan tidak ada kata sandi tersimpan yang dapat dipakai"],
  [/^'\*\*\*' is a mask, and there is no stored token/, () => "'***' hanyalah penutup, dan tidak ada token tersimpan"],
  [/^the scheme, host or port changed: type the (password|token|stream key) again/, (m) => `skema, host atau port berubah: ketik ulang ${{token: 'token', 'stream key': 'kunci streaming'}[m[1]] || 'kata sandi'} ('***' hanya memakai yang tersimpan untuk skema, host dan port yang sama)`],
  [/^'\*\*\*' is a mask, and there is no stored stream key/, () => "'***' hanyalah penutup, dan tidak ada kunci streaming tersimpan"],
  [/^must start with rtmp:\/\/ or rtmps:\/\//, () => 'harus diawali rtmp:// atau rtmps:// (YouTube: rtmps://a.rtmps.youtube.com/live2)'],
  [/^no credentials in the URL/, () => 'jangan taruh kredensial di URL: kunci streaming diisi di kolomnya sendiri'],
  [/^a stream key needs restream_url/, () => 'kunci streaming memerlukan URL siaran ulang'],
  [/^the address (.+?) is refused by the source policy \(rule: (.+)\)$/, (m) => `alamat ${m[1]} ditolak oleh kebijakan sumber (aturan: ${m[2]})`],
  [/^must be true or false/, () => 'harus true atau false (CSV: true/false/1/0)'],
  [/^must be a list of at most (\d+) non-empty texts/, (m) => `paling banyak ${m[1]} tag, masing-masing tidak kosong`],
  [/^('.+'): the start must come before the end \(a window past midnight/, (m) => `${m[1]}: mulai harus sebelum selesai (jadwal melewati tengah malam ditulis dua, mis. 'daily 22:00-24:00' dan 'daily 00:00-02:00')`],
  [/^('.+'): the start must come before the end$/, (m) => `${m[1]}: mulai harus sebelum selesai`],
  [/^('.+'): the (start|end) is not a date and time/, (m) => `${m[1]}: ${m[2] === 'start' ? 'mulai' : 'selesai'} bukan tanggal dan jam (tulis mis. 2026-02-14T13:00+07:00)`],
  [/^('.+'): (\S+) is not a time of day/, (m) => `${m[1]}: ${m[2]} bukan jam yang sah (00:00 sampai 24:00)`],
  [/^('.+'): write START\/END/, (m) => `${m[1]}: tulis MULAI/SELESAI (mis. 2026-02-14T13:00/2026-02-14T23:59), 'daily JJ:MM-JJ:MM' atau 'always'`],
  [/^at most (\d+) windows$/, (m) => `paling banyak ${m[1]} jadwal`],
  [/^'always' stands alone/, () => "'always' harus berdiri sendiri (sudah mencakup jadwal lain)"],
  [/^unknown field; known fields: (.+)$/, (m) => `kolom tidak dikenal; kolom yang dikenal: ${m[1]}`],
  [/^a camera must be a JSON object$/, () => 'kamera harus berupa objek JSON'],
  [/^a camera with id (.+) already exists \(use mode=upsert to update\)$/, (m) => `kamera dengan ID ${m[1]} sudah ada (pilih mode "tambah & perbarui" untuk memperbaruinya)`],
  [/^a camera with id (.+) already exists$/, (m) => `kamera dengan ID ${m[1]} sudah ada`],
  [/^kecamatan (\S+)(?: \((.+?)\))? already has an enabled recap camera, '([^']+)'(?: \(line (\d+)\))?: a kecamatan has at most one; disable that one first, or register '([^']+)' disabled/,
    (m) => `kecamatan ${m[1]}${m[2] ? ` (${m[2]})` : ''} sudah punya kamera rekap yang aktif, '${m[3]}'${m[4] ? ` (baris ${m[4]})` : ''}: `
      + `satu kecamatan paling banyak satu; nonaktifkan kamera itu dulu, atau daftarkan '${m[5]}' dalam keadaan nonaktif`],
  [/^id (.+) already appears on line (\d+)$/, (m) => `ID ${m[1]} sudah muncul di baris ${m[2]}`],
  [/^camera (.+) was changed by someone else meanwhile/, (m) => `kamera ${m[1]} baru saja diubah orang lain; muat ulang lalu coba lagi`],
  [/^no camera with id (.+)$/, (m) => `tidak ada kamera dengan ID ${m[1]}`],
  [/^the camera is (\w+): it has no picture to take as the reference now$/,
    (m) => `kamera sedang ${{offline: 'terputus', connecting: 'menyambung', disabled: 'nonaktif', waiting: 'menunggu kiriman'}[m[1]] || m[1]}: `
      + 'tidak ada gambar untuk dijadikan acuan'],
  [/^the camera's picture is black/, () => 'gambar kamera gelap: tidak ada yang dapat dijadikan acuan'],
  [/^the camera has no current picture to take as the reference/, () => 'kamera belum mengirim gambar terbaru untuk dijadikan acuan'],
  [/^the CSV must be UTF-8 text$/, () => 'CSV harus berupa teks UTF-8'],
  [/^the CSV is empty/, () => 'CSV kosong; baris pertama harus berisi nama kolom'],
  [/^(\d+) cells where the header has (\d+) columns$/, (m) => `${m[1]} sel, padahal kepala tabel punya ${m[2]} kolom`],
  [/^unreadable CSV/, () => 'CSV tidak dapat dibaca'],
  [/^only rtsp:\/\/ and rtsps:\/\/ sources can be tested$/, () => 'hanya sumber rtsp:// dan rtsps:// yang dapat dites'],
  [/^the URL is malformed or has no host$/, () => 'URL tidak valid atau tidak memiliki host'],
  [/^required: the rtsp:\/\/ or rtsps:\/\/ URL to test/, () => 'isi URL rtsp:// atau rtsps:// yang akan dites'],
  [/connection tests are already running/, () => 'sedang ada beberapa tes koneksi; coba lagi beberapa detik lagi'],
  [/^the body is larger than this server accepts/, () => 'berkas lebih besar dari batas server'],
  [/^the registry is too busy right now/, () => 'registri sedang sibuk; coba lagi'],
  [/is a operator token; this needs admin$|is a operator token/, () => 'token operator tidak boleh memakai fungsi admin'],
  [/^missing or wrong X-CSRF-Token/, () => 'sesi tidak cocok (CSRF); muat ulang halaman lalu coba lagi'],
  [/^the camera is not valid$/, () => 'data kamera belum benar'],
  // Privacy masks (pantau/cameras/masks.py)
  [/^a polygon needs at least 3 points; this one has (\d+)$/, (m) => `poligon perlu paling sedikit 3 titik; yang ini ${m[1]}`],
  [/^at most (\d+) points per mask/, (m) => `paling banyak ${m[1]} titik per masker`],
  [/^point (\d+) .* is outside the picture/, (m) => `titik ${Number(m[1]) + 1} berada di luar gambar`],
  [/^edges \d+ and \d+ cross/, () => 'sisi-sisinya bersilangan: gambar ulang tanpa memotong diri sendiri'],
  [/^edges \d+ and \d+ fold back/, () => 'dua sisi saling menumpuk'],
  [/^the polygon encloses \(almost\) no area$/, () => 'poligon hampir tidak punya luas'],
  [/^points \d+ and \d+ are the same corner$/, () => 'dua titik berurutan sama'],
  [/^at most (\d+) masks per camera$/, (m) => `paling banyak ${m[1]} masker per kamera`],
  [/^the CSV was refused whole; nothing was stored/, () => 'CSV ditolak seluruhnya; tidak ada yang disimpan'],
];

export function translate(reason) {
  const text = String(reason || '').trim();
  for (const [pattern, render] of REASONS) {
    const match = text.match(pattern);
    if (match) return render(match);
  }
  return text;
}

const STATUS_TEXT = {
  0: 'Server tidak dapat dihubungi.',
  401: 'Sesi berakhir atau token tidak valid; silakan masuk lagi.',
  403: 'Tidak diizinkan.',
  404: 'Tidak ditemukan.',
  409: 'Bentrok dengan data yang ada.',
  413: 'Terlalu besar.',
  422: 'Data belum benar.',
  503: 'Server sedang sibuk; coba lagi.',
};

// One sentence for an error of a whole request.
export function describeError(error) {
  const translated = translate(error && error.message);
  if (translated && translated !== (error && error.message)) return capitalise(translated) + '.';
  const prefix = STATUS_TEXT[error && error.status] || 'Permintaan gagal.';
  return error && error.message && error.status !== 0 ? `${prefix} (${error.message})` : prefix;
}

// "Wilayah: kode wilayah … tidak dikenal"
export const fieldMessage = (item) => `${fieldLabel(item.field)}: ${translate(item.reason)}`;

export const capitalise = (text) => text.charAt(0).toUpperCase() + text.slice(1);
