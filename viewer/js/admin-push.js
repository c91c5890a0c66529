// "How to push" for a WHIP camera in the edit form: the WHIP URL for OBS, the phone page
// (/kirim/{id}) and a button that creates (rotates) the push key, shown once.
//
//   const push = pushPanel();  push.show(camera);  push.hide();

import {adminJson, cameraPath} from './admin-api.js';
import {describeError} from './admin-errors.js';
import {byTestId} from './dom.js';

export function pushPanel() {
  const panel = byTestId('push-panel');
  const result = byTestId('push-key-result');
  const keyOutput = byTestId('push-key');
  const error = byTestId('push-key-error');
  let cameraId = null;

  function reset() {
    result.hidden = true;
    keyOutput.value = '';
    error.hidden = true;
  }

  byTestId('push-key-create').addEventListener('click', async () => {
    reset();
    try {
      const {push_key: key} = await adminJson('POST', `${cameraPath(cameraId)}/push-key`);
      keyOutput.value = key;
      result.hidden = false;
      keyOutput.select();
    } catch (failure) {
      error.textContent = describeError(failure);
      error.hidden = false;
    }
  });
  byTestId('push-key-copy').addEventListener('click', async () => {
    keyOutput.select();
    await navigator.clipboard?.writeText(keyOutput.value).catch(() => document.execCommand?.('copy'));
  });

  return {
    show(camera) {
      cameraId = camera.id;
      reset();
      const id = encodeURIComponent(camera.id);
      byTestId('push-url').textContent = `${location.origin}/whip/${id}`;
      const page = byTestId('push-page');
      page.href = `/kirim/${id}`;
      page.textContent = `${location.origin}/kirim/${id}`;
      panel.hidden = false;
    },
    hide() {
      cameraId = null;
      reset();
      panel.hidden = true;
    },
  };
}
