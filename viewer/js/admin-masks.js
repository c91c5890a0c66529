// "Masker privasi" in the edit form: the camera's latest tile with its privacy masks drawn over
// it as polygons (picture-relative, 0..1, as the API stores them). Draw a new one point by point
// (mouse or finger: pointer events), drag a corner or a whole mask to move it, delete the
// selected one, and preview the picture as viewers get it ("Pratinjau seperti yang dilihat
// publik": fill black, blur blurred). The masks are saved with the form (`masks` in its body);
// ingest burns them in from the camera's next keyframe (README "Privacy masks").
// "Ambil gambar baru" asks for a tile taken after the click (the camera's publisher is asked for
// a keyframe; a masked camera makes one at once) and says when the picture it got was taken.
// "Lihat tanpa masker" (shown while the camera's officials' exception is on and it has masks)
// plays the unmasked picture over WHEP (`?view=unmasked`: admins only, audited).
//
//   const masks = masksPanel();  masks.show(camera);  masks.value();  masks.hide();

import {byTestId, el} from './dom.js';
import {playWhep} from './whep-client.js';

const SVG = 'http://www.w3.org/2000/svg';
const KIND_LABELS = {fill: 'Isi hitam', blur: 'Buram'};
const MAX_MASKS = 16; // pantau/cameras/masks.py
const MAX_POINTS = 32;
const round = (value) => Math.round(Math.min(1, Math.max(0, value)) * 10000) / 10000;

const svgEl = (tag, attributes) => {
  const element = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  return element;
};

export function masksPanel() {
  const panel = byTestId('masks-panel');
  const tile = byTestId('masks-tile');
  const overlay = byTestId('masks-overlay');
  const preview = byTestId('masks-preview');
  const previewToggle = byTestId('masks-preview-toggle');
  const list = byTestId('masks-list');
  const kind = byTestId('masks-kind');
  const drawButton = byTestId('masks-draw');
  const finishButton = byTestId('masks-finish');
  const deleteButton = byTestId('masks-delete');
  const refreshButton = byTestId('masks-refresh');
  const info = byTestId('masks-info');
  const freshButton = byTestId('masks-fresh');
  const tileAge = byTestId('masks-tile-age');
  const unmaskedButton = byTestId('masks-unmasked-view');
  const unmaskedBox = byTestId('masks-unmasked');
  const unmaskedVideo = byTestId('masks-unmasked-video');
  const unmaskedError = byTestId('masks-unmasked-error');
  let unmaskedSession = null;
  let tileUrl = null; // the blob URL of a fresh tile, revoked when replaced
  let masks = [];
  let selected = -1;
  let drawing = null; // the points of the polygon being drawn, or null
  let drag = null; // {mask, point (or -1: the whole mask), from: [x, y], points}
  let cameraId = null;

  function showTile(src) {
    if (tileUrl) URL.revokeObjectURL(tileUrl);
    tileUrl = src.startsWith('blob:') ? src : null;
    tile.src = src;
  }

  function loadTile() {
    tileAge.textContent = '';
    if (cameraId) showTile(`/api/cameras/${encodeURIComponent(cameraId)}/tile.jpg?t=${Date.now()}`);
  }

  async function loadFreshTile() {
    if (!cameraId) return;
    const asked = cameraId;
    freshButton.disabled = true;
    tileAge.textContent = 'Meminta gambar baru dari kamera…';
    try {
      const response = await fetch(`/api/admin/cameras/${encodeURIComponent(asked)}/fresh-tile.jpg`, {cache: 'no-store'});
      if (asked !== cameraId) return;
      if (!response.ok) {
        tileAge.textContent = response.status === 409 ? 'Kamera ini belum punya gambar.' : `Gambar baru gagal dimuat (${response.status}).`;
        return;
      }
      const taken = new Date(response.headers.get('X-Tile-Captured-At')).toLocaleTimeString('id-ID');
      tileAge.dataset.fresh = response.headers.get('X-Tile-Fresh');
      tileAge.textContent = tileAge.dataset.fresh === 'true' ? `Gambar baru, diambil pukul ${taken}.`
        : `Kamera belum mengirim gambar baru (kamera RTSP tanpa masker hanya bisa ditunggu); ini gambar terakhir, pukul ${taken}.`;
      showTile(URL.createObjectURL(await response.blob()));
    } catch {
      tileAge.textContent = 'Gambar baru gagal dimuat.';
    } finally {
      freshButton.disabled = false;
    }
  }

  async function watchUnmasked() {
    stopUnmasked();
    unmaskedBox.hidden = false;
    unmaskedError.hidden = true;
    try {
      unmaskedSession = await playWhep(`/whep/${encodeURIComponent(cameraId)}?view=unmasked`, unmaskedVideo);
    } catch (error) {
      unmaskedError.textContent = error.message || 'Gambar tanpa masker tidak dapat dimulai.';
      unmaskedError.hidden = false;
    }
  }

  function stopUnmasked() {
    if (unmaskedSession) unmaskedSession.stop();
    unmaskedSession = null;
    unmaskedVideo.srcObject = null;
    unmaskedBox.hidden = true;
  }

  function where(event) {
    const box = overlay.getBoundingClientRect();
    return [round((event.clientX - box.left) / box.width), round((event.clientY - box.top) / box.height)];
  }

  function render() {
    overlay.replaceChildren();
    masks.forEach((mask, index) => {
      const polygon = svgEl('polygon', {
        points: mask.points.map((p) => p.join(',')).join(' '), class: `mask mask-${mask.kind}${index === selected ? ' selected' : ''}`,
        'vector-effect': 'non-scaling-stroke', 'data-testid': 'mask-polygon', 'data-index': index,
      });
      polygon.addEventListener('pointerdown', (event) => startDrag(event, index, -1));
      overlay.append(polygon);
      if (index === selected) {
        mask.points.forEach((point, pointIndex) => {
          const handle = svgEl('ellipse', {cx: point[0], cy: point[1], rx: 0.012, ry: 0.012 * 16 / 9, class: 'mask-handle',
            'data-testid': 'mask-handle', 'data-point': pointIndex});
          handle.addEventListener('pointerdown', (event) => startDrag(event, index, pointIndex));
          overlay.append(handle);
        });
      }
    });
    if (drawing) {
      overlay.append(svgEl('polyline', {points: drawing.map((p) => p.join(',')).join(' '), class: 'mask-drawing',
        'vector-effect': 'non-scaling-stroke'}));
      for (const point of drawing) overlay.append(svgEl('ellipse', {cx: point[0], cy: point[1], rx: 0.008, ry: 0.008 * 16 / 9, class: 'mask-handle'}));
    }
    list.replaceChildren(...masks.map((mask, index) => el('li', {},
      el('button', {type: 'button', class: index === selected ? 'selected' : '', dataset: {testid: 'mask-item'},
        onclick: () => select(index)}, `Masker ${index + 1} · ${KIND_LABELS[mask.kind]} · ${mask.points.length} titik`))));
    panel.dataset.masks = String(masks.length);
    panel.dataset.mode = drawing ? 'drawing' : 'edit';
    drawButton.hidden = Boolean(drawing);
    drawButton.disabled = masks.length >= MAX_MASKS;
    finishButton.hidden = !drawing;
    finishButton.disabled = !drawing || drawing.length < 3;
    deleteButton.disabled = selected < 0 || Boolean(drawing);
    info.textContent = drawing
      ? `Ketuk atau klik sudut-sudut area yang ditutup (${drawing.length} titik), lalu "Selesai".`
      : masks.length ? 'Seret sudut atau seluruh masker untuk memindahkannya.' : 'Belum ada masker: seluruh gambar terlihat publik.';
    if (previewToggle.checked) renderPreview();
  }

  function select(index) {
    selected = index;
    if (index >= 0) kind.value = masks[index].kind;
    render();
  }

  function startDrag(event, index, point) {
    if (drawing) return;
    event.preventDefault();
    event.stopPropagation();
    overlay.setPointerCapture(event.pointerId);
    selected = index;
    kind.value = masks[index].kind;
    drag = {mask: index, point, from: where(event), points: masks[index].points.map((p) => [...p])};
    render();
  }

  overlay.addEventListener('pointerdown', (event) => {
    if (!drawing) {
      select(-1);
      return;
    }
    event.preventDefault();
    const point = where(event);
    // A tap on the first corner closes the polygon.
    const first = drawing[0];
    if (drawing.length >= 3 && Math.hypot(point[0] - first[0], point[1] - first[1]) < 0.02) finish();
    else if (drawing.length < MAX_POINTS) {
      drawing.push(point);
      render();
    }
  });
  overlay.addEventListener('pointermove', (event) => {
    if (!drag) return;
    const [x, y] = where(event);
    const dx = x - drag.from[0];
    const dy = y - drag.from[1];
    const mask = masks[drag.mask];
    if (drag.point >= 0) mask.points[drag.point] = [x, y];
    else {
      // The whole mask moves, kept inside the picture.
      const xs = drag.points.map((p) => p[0]);
      const ys = drag.points.map((p) => p[1]);
      const mx = Math.min(Math.max(dx, -Math.min(...xs)), 1 - Math.max(...xs));
      const my = Math.min(Math.max(dy, -Math.min(...ys)), 1 - Math.max(...ys));
      mask.points = drag.points.map(([px, py]) => [round(px + mx), round(py + my)]);
    }
    render();
  });
  const endDrag = () => {
    drag = null;
  };
  overlay.addEventListener('pointerup', endDrag);
  overlay.addEventListener('pointercancel', endDrag);

  function finish() {
    if (!drawing || drawing.length < 3) return;
    masks.push({kind: kind.value, points: drawing});
    drawing = null;
    select(masks.length - 1);
  }

  drawButton.addEventListener('click', () => {
    drawing = [];
    selected = -1;
    previewToggle.checked = false;
    syncPreview();
  });
  finishButton.addEventListener('click', finish);
  deleteButton.addEventListener('click', () => {
    if (selected < 0) return;
    masks.splice(selected, 1);
    select(-1);
  });
  kind.addEventListener('change', () => {
    if (selected >= 0) masks[selected].kind = kind.value;
    render();
  });
  refreshButton.addEventListener('click', loadTile);
  freshButton.addEventListener('click', loadFreshTile);
  unmaskedButton.addEventListener('click', watchUnmasked);
  byTestId('masks-unmasked-close').addEventListener('click', stopUnmasked);

  // The preview paints the masks the way ingest does: fill black, blur a twelfth of the height.
  function renderPreview() {
    if (!tile.naturalWidth) return;
    const width = preview.width = tile.naturalWidth;
    const height = preview.height = tile.naturalHeight;
    const context = preview.getContext('2d');
    context.drawImage(tile, 0, 0, width, height);
    for (const mask of masks) {
      const path = new Path2D();
      mask.points.forEach(([x, y], index) => (index ? path.lineTo(x * width, y * height) : path.moveTo(x * width, y * height)));
      path.closePath();
      if (mask.kind === 'fill') {
        context.fillStyle = '#000';
        context.fill(path);
      } else {
        context.save();
        context.clip(path);
        context.filter = `blur(${Math.max(2, height / 24)}px)`;
        context.drawImage(tile, 0, 0, width, height);
        context.restore();
      }
    }
    preview.dataset.rendered = String(Date.now());
  }

  function syncPreview() {
    preview.hidden = !previewToggle.checked;
    overlay.classList.toggle('previewing', previewToggle.checked);
    render();
  }
  previewToggle.addEventListener('change', syncPreview);
  tile.addEventListener('load', () => previewToggle.checked && renderPreview());

  return {
    show(camera) {
      cameraId = camera.id;
      masks = (camera.masks || []).map((mask) => ({kind: mask.kind, points: mask.points.map((p) => [...p])}));
      selected = -1;
      drawing = null;
      previewToggle.checked = false;
      panel.hidden = false;
      // The stored exception, not the form's checkbox: the relay refuses until it is saved.
      unmaskedButton.hidden = !(camera.unmasked_for_officials && camera.masks && camera.masks.length);
      stopUnmasked();
      loadTile();
      syncPreview();
    },
    value() {
      return masks.map((mask) => ({kind: mask.kind, points: mask.points.map((p) => [...p])}));
    },
    hide() {
      cameraId = null;
      masks = [];
      drawing = null;
      stopUnmasked();
      showTile('');
      tile.removeAttribute('src');
      panel.hidden = true;
    },
  };
}
