// The camera list of the admin page: filters (region, kind, active/disabled, public, source
// type, text), pages of PAGE_SIZE with the API's cursor, and per camera: edit, disable/enable
// and delete (after a confirmation).
//
//   const list = cameraList(regions, {onEdit: (id) => form.openEdit(id)});
//   list.reload();   // first page with the current filters

import {query, stationUrl} from './api.js';
import {byTestId, el, formatCount} from './dom.js';
import {soundMeter} from './sound-meter.js';
import {restreamLine} from './restream-status.js';
import {paintBadge} from './status-labels.js';
import {adminJson, cameraPath} from './admin-api.js';
import {describeError} from './admin-errors.js';
import {regionPicker} from './admin-regions.js';

export const PAGE_SIZE = 50;
const KIND_LABELS = {tps: 'TPS', recap: 'Rekap'};

export function cameraList(regions, {onEdit}) {
  const filters = byTestId('filters');
  const f = filters.elements;
  const rows = byTestId('camera-rows');
  const pageInfo = byTestId('page-info');
  const prev = byTestId('page-prev');
  const next = byTestId('page-next');
  const message = byTestId('list-message');
  const cursors = [null]; // cursors[i] opens page i
  let page = 0;
  let nextCursor = null;
  let loading = 0;

  const picker = regionPicker(regions, {kota: f.kota, kecamatan: f.kecamatan, kelurahan: f.kelurahan}, () => reload());

  function say(text, tone = 'info') {
    message.textContent = text;
    message.dataset.tone = tone;
    message.hidden = !text;
  }

  function params() {
    return {
      kota: picker.value('kota'), kecamatan: picker.value('kecamatan'), kelurahan: picker.value('kelurahan'),
      kind: f.kind.value, enabled: f.enabled.value, public: f.public.value, source_type: f.source_type.value,
      q: f.q.value.trim(), limit: PAGE_SIZE, cursor: cursors[page],
    };
  }

  function row(camera) {
    const badge = el('span', {class: 'badge'});
    paintBadge(badge, camera.status);
    const toggle = el('button', {type: 'button', 'data-testid': 'toggle-enabled', onclick: () => setEnabled(camera, !camera.enabled)},
      camera.enabled ? 'Nonaktifkan' : 'Aktifkan');
    const where = regions.label(camera.region);
    return el('tr', {dataset: {id: camera.id, enabled: String(camera.enabled)}, 'data-testid': 'camera-row'},
      el('td', {class: 'mono'}, camera.id),
      el('td', {},
        camera.public ? el('a', {href: stationUrl(camera), target: '_blank', rel: 'noopener'}, camera.name) : camera.name,
        el('div', {class: 'sub'}, `${where}${camera.tps ? ` · TPS ${camera.tps}` : ''}`)),
      el('td', {}, KIND_LABELS[camera.kind] || camera.kind),
      el('td', {class: 'mono source-cell', 'data-testid': 'row-source'}, camera.source),
      el('td', {}, badge, soundMeter(camera.status), restreamLine(camera.status)),
      el('td', {}, camera.public ? 'Ya' : 'Tidak'),
      el('td', {class: 'row-actions'},
        el('button', {type: 'button', 'data-testid': 'edit', onclick: () => edit(camera.id)}, 'Ubah'),
        toggle,
        el('button', {type: 'button', class: 'danger', 'data-testid': 'delete', onclick: () => remove(camera)}, 'Hapus')));
  }

  async function load() {
    const ticket = ++loading;
    rows.setAttribute('aria-busy', 'true');
    try {
      const data = await adminJson('GET', `/api/admin/cameras?${query(params())}`);
      if (ticket !== loading) return; // a newer request (filters changed) wins
      nextCursor = data.next_cursor;
      rows.replaceChildren(...data.cameras.map(row));
      if (!data.cameras.length) {
        rows.replaceChildren(el('tr', {}, el('td', {colspan: 7, class: 'empty', 'data-testid': 'no-cameras'}, 'Tidak ada kamera yang cocok.')));
      }
      const first = page * PAGE_SIZE + 1;
      pageInfo.textContent = data.total
        ? `${formatCount(first)}–${formatCount(first + data.cameras.length - 1)} dari ${formatCount(data.total)} kamera`
        : '0 kamera';
      prev.disabled = page === 0;
      next.disabled = !nextCursor;
    } catch (error) {
      if (ticket === loading) say(describeError(error), 'bad');
    } finally {
      if (ticket === loading) rows.removeAttribute('aria-busy');
    }
  }

  function reload() {
    cursors.length = 1;
    page = 0;
    return load();
  }

  async function edit(id) {
    try {
      await onEdit(id);
    } catch (error) {
      say(describeError(error), 'bad');
    }
  }

  async function setEnabled(camera, enabled) {
    try {
      await adminJson('PATCH', cameraPath(camera.id), {enabled});
      say(`Kamera ${camera.id} ${enabled ? 'diaktifkan' : 'dinonaktifkan'}.`, 'ok');
      await load();
    } catch (error) {
      say(describeError(error), 'bad');
    }
  }

  async function remove(camera) {
    if (!await confirmDelete(camera)) return;
    try {
      await adminJson('DELETE', cameraPath(camera.id));
      say(`Kamera ${camera.id} dihapus.`, 'ok');
      await load();
    } catch (error) {
      say(describeError(error), 'bad');
    }
  }

  prev.addEventListener('click', () => {
    if (page > 0) {
      page -= 1;
      load();
    }
  });
  next.addEventListener('click', () => {
    if (!nextCursor) return;
    cursors[page + 1] = nextCursor;
    page += 1;
    load();
  });
  let typing = null;
  f.q.addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(reload, 300);
  });
  for (const name of ['kind', 'enabled', 'public', 'source_type']) f[name].addEventListener('change', () => reload());
  filters.addEventListener('submit', (event) => {
    event.preventDefault();
    clearTimeout(typing);
    reload();
  });
  filters.addEventListener('reset', () => setTimeout(() => {
    picker.set('');
    reload();
  }));

  return {reload, refresh: load, say};
}

// A <dialog> asking before a camera is deleted; resolves true for "Hapus".
function confirmDelete(camera) {
  const dialog = byTestId('confirm-dialog');
  byTestId('confirm-text').textContent =
    `Hapus kamera ${camera.id} (${camera.name})? Kamera berhenti disiarkan dan tindakan ini tidak dapat dibatalkan.`;
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'delete'), {once: true});
    dialog.returnValue = '';
    dialog.showModal();
  });
}
