// Live status, viewer counts and kecamatan counts over Server-Sent Events (GET /api/events).
//
//   const sub = subscribeEvents({region: '31.71.01'}, {onStatus, onViewers, onCounts, onReconnect});
//   const sub = subscribeCamera(id, {onStatus, onViewers, onReconnect});
//   sub.close();
//
// Filters (all optional): camera, region (kota/kecamatan/kelurahan code), kind ('tps'|'recap'),
// counts (true: also `kecamatan` events with {code, tps: {online, total}}, and `registry` events
// when cameras were added, changed or removed: onRegistry({revision})).
// onStatus(id, status) gets the status fields ({state, reason, picture, ...}); onViewers(id, n).
// alerts (true, signed-in operators only): onAlert(alert) for every alert of a camera within the
// camera/region filters (whatever its kind) that opens, reopens, ends or is acknowledged
// (alert.change); the server ignores it for the public.
// EventSource reconnects by itself; events sent while it was away are lost, so onReconnect() is
// called on every reconnection for the caller to re-read what it shows.

export function subscribeEvents(filters = {}, {onStatus = () => {}, onViewers = () => {}, onCounts = () => {},
  onRegistry = () => {}, onAlert = () => {}, onReconnect = () => {}} = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(filters)) {
    if (value != null && value !== false) query.set(key, value === true ? '1' : String(value));
  }
  const search = query.toString();
  const source = new EventSource(search ? `/api/events?${search}` : '/api/events');
  let opened = false;

  const parse = (handler) => (event) => {
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return; // a malformed event is ignored, not fatal
    }
    if (data && typeof data === 'object') handler(data);
  };

  source.addEventListener('status', parse(({id, ...status}) => onStatus(id, status)));
  source.addEventListener('viewers', parse((data) => onViewers(data.id, data.viewers)));
  source.addEventListener('kecamatan', parse((data) => onCounts(data)));
  source.addEventListener('registry', parse((data) => onRegistry(data)));
  source.addEventListener('alert', parse((data) => onAlert(data)));
  source.addEventListener('open', () => {
    if (opened) onReconnect();
    opened = true;
  });

  return {close: () => source.close()};
}

export function subscribeCamera(id, {onStatus = () => {}, onViewers = () => {}, onReconnect = () => {}} = {}) {
  return subscribeEvents({camera: id}, {
    onStatus: (cameraId, status) => { if (cameraId === id) onStatus(status); },
    onViewers: (cameraId, count) => { if (cameraId === id) onViewers(count); },
    onReconnect,
  });
}
