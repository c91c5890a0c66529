// Bulk CSV import: upload with XMLHttpRequest to see the upload progress, then an
// indeterminate "Menyimpan…" while the server checks and stores the file (all or nothing),
// then the counts, or every bad line with its number and reason as the API returns them.
//
//   importPanel({onImported: () => list.reload()});

import {byTestId, el, formatCount} from './dom.js';
import {checkResponse, csrfHeaders} from './admin-api.js';
import {describeError, fieldLabel, translate} from './admin-errors.js';

// POST the file; onProgress(fraction) while uploading, onProgress(null) once it is all sent.
function upload(file, mode, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/admin/cameras/import?mode=${encodeURIComponent(mode)}`);
    xhr.setRequestHeader('Content-Type', 'text/csv');
    xhr.setRequestHeader('Accept', 'application/json');
    for (const [name, value] of Object.entries(csrfHeaders())) xhr.setRequestHeader(name, value);
    xhr.responseType = 'text';
    xhr.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.upload.addEventListener('load', () => onProgress(null));
    xhr.addEventListener('load', () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch { /* not JSON */ }
      try {
        resolve(checkResponse(xhr.status, body));
      } catch (error) {
        reject(error);
      }
    });
    xhr.addEventListener('error', () => {
      try {
        checkResponse(0, {message: 'Server tidak dapat dihubungi.'});
      } catch (error) {
        reject(error);
      }
    });
    xhr.send(file);
  });
}

export function importPanel({onImported}) {
  const form = byTestId('import-form');
  const fileInput = byTestId('import-file');
  const submit = byTestId('import-submit');
  const progress = byTestId('import-progress');
  const status = byTestId('import-status');
  const result = byTestId('import-result');

  const setStatus = (text) => { status.textContent = text; };

  function showProgress(fraction) {
    progress.hidden = false;
    if (fraction == null) {
      progress.removeAttribute('value'); // indeterminate: the server is storing
      form.dataset.phase = 'saving';
      setStatus('Menyimpan… server memeriksa dan menyimpan semua baris.');
    } else {
      progress.max = 1;
      progress.value = fraction;
      form.dataset.phase = 'uploading';
      setStatus(`Mengunggah… ${Math.round(fraction * 100)}%`);
    }
  }

  function showSuccess(counts) {
    result.dataset.outcome = 'ok';
    result.replaceChildren(
      el('p', {class: 'result-title', 'data-testid': 'import-summary'},
        `Berhasil disimpan: ${formatCount(counts.created)} kamera baru, ${formatCount(counts.updated)} diperbarui `
        + `(${formatCount(counts.total)} baris).`));
  }

  function showFailure(error) {
    result.dataset.outcome = 'refused';
    const lines = error.errors.filter((item) => item.line != null);
    const items = lines.map((item) => el('li', {dataset: {line: String(item.line), field: item.field || ''}, 'data-testid': 'import-error'},
      el('strong', {}, `Baris ${item.line}`),
      item.field && item.field !== 'file' ? ` · ${fieldLabel(item.field)}: ` : ': ',
      translate(item.reason)));
    const total = error.body.error_count || lines.length;
    result.replaceChildren(
      el('p', {class: 'result-title', 'data-testid': 'import-summary'},
        lines.length ? `CSV ditolak seluruhnya; tidak ada yang disimpan. ${formatCount(total)} baris bermasalah:` : describeError(error)),
      lines.length ? el('ol', {class: 'import-errors', 'data-testid': 'import-errors'}, items) : '',
      total > lines.length ? el('p', {}, `… dan ${formatCount(total - lines.length)} kesalahan lain. Perbaiki yang di atas lalu unggah lagi.`) : '');
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const file = fileInput.files[0];
    result.replaceChildren();
    delete result.dataset.outcome;
    if (!file) {
      setStatus('Pilih berkas CSV terlebih dahulu.');
      return;
    }
    submit.disabled = true;
    fileInput.disabled = true;
    showProgress(0);
    try {
      showSuccess(await upload(file, form.elements.mode.value, showProgress));
      setStatus('Selesai.');
      onImported();
    } catch (error) {
      showFailure(error);
      setStatus('Gagal.');
    } finally {
      form.dataset.phase = 'done';
      progress.hidden = true;
      submit.disabled = false;
      fileInput.disabled = false;
    }
  });
}
