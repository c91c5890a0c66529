// Live status and viewer counts of one camera over Server-Sent Events (GET /api/events?camera=ID).
//
//   const sub = subscribeCamera(id, {onStatus, onViewers, onReconnect});
//   sub.close();
//
// onStatus(status) gets the status fields ({state, reason, picture, ...}); onViewers(n) the count.
// EventSource reconnects by itself; events sent while it was away are lost, so onReconnect() is
// called on every reconnection for the caller to re-read the camera once.

export function subscribeCamera(id, {onStatus = () => {}, onViewers = () => {}, onReconnect = () => {}} = {}) {
  const source = new EventSource(`/api/events?camera=${encodeURIComponent(id)}`);
  let opened = false;

  const parse = (handler) => (event) => {
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return; // a malformed event is ignored, not fatal
    }
    if (data && data.id === id) handler(data);
  };

  source.addEventListener('status', parse((data) => {
    const {id: _id, ...status} = data;
    onStatus(status);
  }));
  source.addEventListener('viewers', parse((data) => onViewers(data.viewers)));
  source.addEventListener('open', () => {
    if (opened) onReconnect();
    opened = true;
  });

  return {close: () => source.close()};
}
