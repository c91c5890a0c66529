// A camera as a tile: its latest picture, its name, where it is and a status badge; a link to
// its station page. Used by the kecamatan page and the finder.
//
//   const grid = new CameraTiles(container, tileImages);
//   grid.show(cameras, {groupBy: (camera) => camera.location.kelurahan?.name});
//   grid.update(id, status);   // from SSE
//   grid.setAlert(id, 'Gambar gelap/tertutup');   // an open alert (signed-in pages); null clears it

import {stationUrl} from './api.js';
import {el} from './dom.js';
import {paintBadge, publicFromLabel} from './status-labels.js';

export function tileTitle(camera) {
  return camera.kind === 'tps' && camera.tps != null ? `TPS ${String(camera.tps).padStart(3, '0')}` : camera.name;
}

export class CameraTiles {
  constructor(container, tileImages) {
    this.container = container;
    this.images = tileImages;
    this.entries = new Map(); // id -> {camera, element, badge, img}
  }

  show(cameras, {groupBy = null} = {}) {
    this.clear();
    const children = [];
    let group = null;
    for (const camera of cameras) {
      const heading = groupBy ? groupBy(camera) : null;
      if (heading && heading !== group) {
        children.push(el('h3', {class: 'tile-group', dataset: {testid: 'tile-group'}}, heading));
        group = heading;
      }
      children.push(this.build(camera));
    }
    this.container.replaceChildren(...children);
  }

  build(camera) {
    const img = el('img', {alt: '', decoding: 'async', loading: 'lazy'});
    const badge = el('span', {class: 'badge', dataset: {testid: 'tile-badge'}});
    const where = camera.location?.kelurahan?.name ? `Kel. ${camera.location.kelurahan.name}` : '';
    const element = el('a', {class: 'camera-tile', href: stationUrl(camera), dataset: {testid: 'camera-tile', id: camera.id}},
      el('span', {class: 'tile-picture'}, img),
      el('span', {class: 'tile-caption'}, el('span', {class: 'tile-name'}, tileTitle(camera)), badge),
      el('span', {class: 'tile-where'}, where || camera.name));
    element.title = camera.name;
    this.entries.set(camera.id, {camera, element, badge, img, scheduled: null});
    this.update(camera.id, camera.status || {state: 'connecting'});
    return element;
  }

  update(id, status) {
    const entry = this.entries.get(id);
    if (!entry) return;
    entry.camera.status = {...entry.camera.status, ...status};
    paintBadge(entry.badge, entry.camera.status);
    entry.element.dataset.state = entry.camera.status.state;
    this.showSchedule(entry);
    if (!entry.scheduled) this.images.setLive(id, entry.camera.status.state === 'online');
  }

  // Outside its public window a camera shows when it opens, never a picture (the tile is 403).
  showSchedule(entry) {
    const scheduled = entry.camera.status.state === 'scheduled';
    if (entry.note) entry.note.remove();
    entry.note = scheduled ? el('span', {class: 'tile-schedule', dataset: {testid: 'tile-schedule'}},
      publicFromLabel(entry.camera.status.public_from)) : null;
    if (entry.note) entry.element.querySelector('.tile-picture').append(entry.note);
    if (scheduled === entry.scheduled) return;
    entry.scheduled = scheduled;
    if (scheduled) {
      this.images.detach(entry.img);
      entry.img.removeAttribute('src');
    } else {
      this.images.attach(entry.img, entry.camera.id);
    }
  }

  setAlert(id, text) {
    const entry = this.entries.get(id);
    if (!entry) return;
    if (entry.alert) entry.alert.remove();
    entry.alert = text ? el('span', {class: 'tile-alert', dataset: {testid: 'tile-alert'}, title: `Peringatan terbuka: ${text}`},
      `⚠ ${text}`) : null;
    if (entry.alert) entry.element.querySelector('.tile-picture').append(entry.alert);
    if (text) entry.element.dataset.alert = text;
    else delete entry.element.dataset.alert;
  }

  clear() {
    for (const entry of this.entries.values()) this.images.detach(entry.img);
    this.entries.clear();
    this.container.replaceChildren();
  }
}
