// "Tampilan acuan" in the edit form: the camera's current tile beside its stored reference view,
// when and by whom it was set, and the buttons that set it from the current picture or clear it
// (POST/DELETE /api/admin/cameras/{id}/reference). Without a reference Pantau does not judge
// whether the camera was turned (bergeser) or is out of focus (kabur).
//
//   const reference = referencePanel();  reference.show(camera);  reference.hide();

import {adminJson, cameraPath} from './admin-api.js';
import {describeError} from './admin-errors.js';
import {byTestId} from './dom.js';

const TILE_REFRESH_MS = 2000; // a keyframe every 1-2 s: the current picture follows them

export const formatWib = (iso) => {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso
    : `${date.toLocaleString('id-ID', {timeZone: 'Asia/Jakarta', dateStyle: 'medium', timeStyle: 'short'})} WIB`;
};

export function referencePanel() {
  const panel = byTestId('reference-panel');
  const current = byTestId('reference-current');
  const stored = byTestId('reference-stored');
  const storedFigure = byTestId('reference-stored-figure');
  const info = byTestId('reference-info');
  const setButton = byTestId('reference-set');
  const clearButton = byTestId('reference-clear');
  const error = byTestId('reference-error');
  let cameraId = null;
  let timer = null;

  function showCurrentTile() {
    if (cameraId) current.src = `/api/cameras/${encodeURIComponent(cameraId)}/tile.jpg?t=${Date.now()}`;
  }

  function showReference(reference) {
    storedFigure.hidden = !reference;
    clearButton.hidden = !reference;
    panel.dataset.reference = reference ? 'set' : 'none';
    if (reference) {
      stored.src = reference.picture;
      info.textContent = `Acuan ditetapkan ${formatWib(reference.set_at)} oleh ${reference.set_by}.`;
      setButton.textContent = 'Tetapkan ulang dari gambar sekarang';
    } else {
      stored.removeAttribute('src');
      info.textContent = 'Belum ada tampilan acuan: kamera ini tidak dinilai bergeser atau kabur.';
      setButton.textContent = 'Tetapkan tampilan acuan';
    }
  }

  async function run(request) {
    error.hidden = true;
    setButton.disabled = clearButton.disabled = true;
    try {
      await request();
    } catch (failure) {
      error.textContent = describeError(failure);
      error.hidden = false;
    } finally {
      setButton.disabled = clearButton.disabled = false;
    }
  }

  setButton.addEventListener('click', () => run(async () => {
    const {reference} = await adminJson('POST', `${cameraPath(cameraId)}/reference`);
    showReference(reference);
  }));
  clearButton.addEventListener('click', () => run(async () => {
    await adminJson('DELETE', `${cameraPath(cameraId)}/reference`);
    showReference(null);
  }));

  return {
    async show(camera) {
      cameraId = camera.id;
      error.hidden = true;
      panel.hidden = false;
      showCurrentTile();
      clearInterval(timer);
      timer = setInterval(showCurrentTile, TILE_REFRESH_MS);
      info.textContent = 'Memuat…';
      await run(async () => {
        const {reference} = await adminJson('GET', `${cameraPath(camera.id)}/reference`);
        if (cameraId === camera.id) showReference(reference);
      });
    },
    hide() {
      cameraId = null;
      clearInterval(timer);
      timer = null;
      current.removeAttribute('src');
      panel.hidden = true;
    },
  };
}
