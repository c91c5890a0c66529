// The admin page (/admin): sign-in first; with an admin session the camera list and form, the
// CSV import, the audit log and the sign-in sessions, one tab each.

import {byTestId} from './dom.js';
import {describeError} from './admin-errors.js';
import {auditLog} from './admin-audit.js';
import {cameraForm} from './admin-camera-form.js';
import {cameraList} from './admin-cameras.js';
import {importPanel} from './admin-import.js';
import {loadRegions} from './admin-regions.js';
import {startSession} from './admin-session.js';
import {sessionList} from './admin-sessions.js';

let ready = null; // the page's parts, built once after the first admin sign-in

async function build() {
  const regions = await loadRegions();
  const list = cameraList(regions, {onEdit: (id) => form.openEdit(id)});
  const form = cameraForm(regions, {
    onSaved: (camera, created) => {
      list.say(`Kamera ${camera.id} ${created ? 'ditambahkan' : 'disimpan'}.`, 'ok');
      list.refresh();
    },
  });
  const audit = auditLog();
  const sessions = sessionList();
  importPanel({onImported: () => list.reload()});
  byTestId('add-camera').addEventListener('click', () => form.openNew());
  const panels = {cameras: () => list.refresh(), import: () => {}, audit: () => audit.reload(), sessions: () => sessions.reload()};
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    tab.addEventListener('click', () => selectTab(tab.dataset.tab, panels));
  }
  return {list, audit, panels};
}

function selectTab(name, panels) {
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    const selected = tab.dataset.tab === name;
    tab.setAttribute('aria-selected', String(selected));
    byTestId(`panel-${tab.dataset.tab}`).hidden = !selected;
  }
  panels[name]();
}

startSession({
  onAdmin: async () => {
    try {
      ready = ready || build();
      const {panels} = await ready;
      selectTab('cameras', panels);
    } catch (error) {
      ready = null;
      const message = byTestId('page-error');
      message.textContent = `Halaman admin gagal dimuat: ${describeError(error)}`;
      message.hidden = false;
    }
  },
  onLeave: () => {},
});
