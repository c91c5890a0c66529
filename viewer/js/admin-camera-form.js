// The add/edit camera form (a <dialog>). Editing shows the source as the API returns it, with
// the password masked (`user:***@`); saving `***` back keeps the stored password (the API does
// that). Errors from the API are shown next to the field they name, in Bahasa Indonesia.
//
//   const form = cameraForm(regions, {onSaved: (camera, created) => …});
//   form.openNew();  await form.openEdit('317101100105');

import {byTestId} from './dom.js';
import {adminJson, cameraPath} from './admin-api.js';
import {capitalise, describeError, fieldMessage, translate} from './admin-errors.js';
import {probeInto} from './admin-probe.js';
import {pushPanel} from './admin-push.js';
import {masksPanel} from './admin-masks.js';
import {referencePanel} from './admin-reference.js';
import {regionPicker} from './admin-regions.js';
import {restreamLine} from './restream-status.js';

const PICK = {kota: 'Pilih kota', kecamatan: 'Pilih kecamatan', kelurahan: 'Pilih kelurahan'};
const FORM_FIELDS = ['id', 'kind', 'region', 'tps', 'name', 'source', 'transport', 'source_token', 'public', 'enabled', 'record',
  'audio_public', 'unmasked_for_officials', 'tags',
  'public_windows', 'masks', 'restream_url', 'restream_key'];

export function cameraForm(regions, {onSaved}) {
  const dialog = byTestId('camera-dialog');
  const form = byTestId('camera-form');
  const f = form.elements;
  const title = byTestId('camera-form-title');
  const formError = byTestId('camera-form-error');
  const probeOutput = byTestId('probe-result');
  const picker = regionPicker(regions, {kota: f.kota, kecamatan: f.kecamatan, kelurahan: f.kelurahan}, () => {}, PICK);
  const push = pushPanel();
  const reference = referencePanel();
  const masks = masksPanel();
  let editing = null; // the id being edited, or null for a new camera

  const fieldError = (name) => form.querySelector(`[data-error-for="${name}"]`);

  function clearErrors() {
    formError.hidden = true;
    formError.textContent = '';
    for (const name of FORM_FIELDS) {
      const slot = fieldError(name);
      if (slot) {
        slot.textContent = '';
        slot.hidden = true;
      }
      const input = f[name];
      if (input && input.setAttribute) input.removeAttribute('aria-invalid');
    }
  }

  function showErrors(error) {
    clearErrors();
    const general = [];
    for (const item of error.errors) {
      // masks[1].points: the masks panel's one slot, the message names the mask.
      const maskIndex = /^masks\[(\d+)\]/.exec(item.field || '');
      const slot = item.field && (fieldError(item.field) || (maskIndex && fieldError('masks')));
      if (slot) {
        slot.textContent = maskIndex ? `Masker ${Number(maskIndex[1]) + 1}: ${translate(item.reason)}` : capitalise(translate(item.reason));
        slot.hidden = false;
        const input = item.field === 'region' ? f.kelurahan : f[item.field];
        if (input && input.setAttribute) input.setAttribute('aria-invalid', 'true');
      } else {
        general.push(item.field ? fieldMessage(item) : translate(item.reason));
      }
    }
    if (error.status === 409 && /already exists/.test(error.message)) {
      const slot = fieldError('id');
      slot.textContent = capitalise(translate(error.message));
      slot.hidden = false;
    } else if (!error.errors.length || general.length) {
      general.unshift(describeError(error));
    } else {
      general.unshift('Periksa isian yang ditandai.');
    }
    formError.textContent = general.join(' ');
    formError.hidden = !general.length;
    const first = form.querySelector('.field-error:not([hidden])');
    if (first) first.scrollIntoView({block: 'nearest'});
  }

  function syncKind() {
    const tps = f.kind.value === 'tps';
    byTestId('field-tps').hidden = !tps;
    f.kelurahan.closest('label').hidden = !tps;
  }

  function syncSource() {
    byTestId('field-source-token').hidden = !/^whep\+/i.test(f.source.value.trim()) && !f.source_token.value;
    byTestId('probe').disabled = !/^rtsps?:\/\//i.test(f.source.value.trim());
    byTestId('source-mask-hint').hidden = !/:\*\*\*@/.test(f.source.value);
  }

  // Public windows (pantau/cameras/visibility.py): the site's default, 'always', or this camera's own daily
  // and dated windows, sent as the API's texts ('daily 13:00-24:00', 'START/END').
  function syncWindows() {
    for (const label of form.querySelectorAll('.window-custom')) label.hidden = f.window_mode.value !== 'custom';
  }

  function fillWindows(windows) {
    f.window_mode.value = !windows.length ? 'default' : windows[0] === 'always' ? 'always' : 'custom';
    f.window_daily.value = windows.filter((w) => w.startsWith('daily ')).map((w) => w.slice(6)).join('; ');
    f.window_dated.value = windows.filter((w) => !w.startsWith('daily ') && w !== 'always').join('\n');
    syncWindows();
  }

  function windowsBody() {
    if (f.window_mode.value === 'default') return [];
    if (f.window_mode.value === 'always') return ['always'];
    const daily = f.window_daily.value.split(';').map((w) => w.trim()).filter(Boolean).map((w) => `daily ${w}`);
    return [...daily, ...f.window_dated.value.split('\n').map((w) => w.trim()).filter(Boolean)];
  }

  function sourceEdited() {
    syncSource();
    probeOutput.hidden = true; // a result for another URL would mislead
    probeOutput.replaceChildren();
  }

  function fill(camera) {
    f.id.value = camera.id || '';
    f.id.readOnly = Boolean(editing);
    f.kind.value = camera.kind || 'tps';
    picker.set(camera.region || '');
    f.tps.value = camera.tps ?? '';
    f.name.value = camera.name || '';
    f.source.value = camera.source || '';
    f.transport.value = camera.transport || 'tcp';
    f.source_token.value = camera.source_token || '';
    f.restream_url.value = camera.restream_url || '';
    f.restream_key.value = camera.restream_key || ''; // a stored key comes back as ***, which keeps it
    byTestId('restream-status').replaceChildren(restreamLine(camera.status));
    f.public.checked = camera.public ?? true;
    f.enabled.checked = camera.enabled ?? true;
    f.record.checked = camera.record ?? false; // a saved form sends it: editing never turns recording off
    f.audio_public.checked = camera.audio_public ?? false; // likewise: a save keeps who may hear
    f.unmasked_for_officials.checked = camera.unmasked_for_officials ?? false; // and the officials' exception
    f.tags.value = (camera.tags || []).join('; ');
    fillWindows(camera.public_windows || []);
    syncKind();
    sourceEdited();
    // The push key belongs to a stored WHIP camera: offered when editing one.
    if (editing && camera.source === 'whip') push.show(camera);
    else push.hide();
    // The reference view belongs to a stored camera: its current picture, set or cleared here.
    if (editing) reference.show(camera);
    else reference.hide();
    // Masks are drawn on the camera's latest picture: a stored camera has one.
    if (editing) masks.show(camera);
    else masks.hide();
  }

  function body() {
    const kind = f.kind.value;
    const tps = f.tps.value.trim();
    return {
      ...(f.id.value.trim() ? {id: f.id.value.trim()} : {}),
      kind,
      region: kind === 'tps' ? picker.value('kelurahan') : picker.value('kecamatan'),
      tps: kind === 'tps' ? (/^\d+$/.test(tps) ? Number(tps) : tps || null) : null,
      name: f.name.value.trim(),
      source: f.source.value.trim(),
      transport: f.transport.value,
      source_token: f.source_token.value.trim() || null,
      public: f.public.checked,
      enabled: f.enabled.checked,
      record: f.record.checked,
      audio_public: f.audio_public.checked,
      unmasked_for_officials: f.unmasked_for_officials.checked,
      tags: f.tags.value.split(/[;,]/).map((tag) => tag.trim()).filter(Boolean),
      public_windows: windowsBody(),
      masks: masks.value(),
      restream_url: f.restream_url.value.trim() || null,
      restream_key: f.restream_key.value.trim() || null,
    };
  }

  f.kind.addEventListener('change', syncKind);
  f.window_mode.addEventListener('change', syncWindows);
  f.source.addEventListener('input', sourceEdited);
  f.transport.addEventListener('change', sourceEdited);
  byTestId('camera-cancel').addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => {
    reference.hide(); // stops refreshing the tile
    masks.hide();
  });
  byTestId('probe').addEventListener('click', () => {
    const request = {source: f.source.value.trim(), transport: f.transport.value};
    if (editing) request.camera_id = editing; // lets a masked *** password use the stored one
    probeInto(probeOutput, request);
  });

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const save = byTestId('camera-save');
    save.disabled = true;
    try {
      const camera = editing
        ? await adminJson('PUT', cameraPath(editing), body())
        : await adminJson('POST', '/api/admin/cameras', body());
      dialog.close();
      onSaved(camera, !editing);
    } catch (error) {
      showErrors(error);
    } finally {
      save.disabled = false;
    }
  });

  return {
    openNew() {
      editing = null;
      title.textContent = 'Tambah kamera';
      clearErrors();
      fill({});
      dialog.showModal();
      f.kind.focus();
    },
    async openEdit(id) {
      const camera = await adminJson('GET', cameraPath(id));
      editing = camera.id;
      title.textContent = `Ubah kamera ${camera.id}`;
      clearErrors();
      fill(camera);
      dialog.showModal();
      f.name.focus();
    },
  };
}
