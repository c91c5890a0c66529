// Keeps tile <img>s current without reloading pictures that did not change.
//
//   const tiles = new TileImages();
//   tiles.attach(img, cameraId);         // shows the tile and keeps it current
//   tiles.setLive(cameraId, isOnline);   // online tiles are revalidated every second
//   tiles.detach(img);
//
// The tile endpoint answers with an ETag; each revalidation sends If-None-Match and usually gets
// a 304 of a few bytes (the picture changes once per keyframe). Offline cameras show a
// placeholder that changes only with their status, so they are fetched once per status change.
// Fetches run a few at a time (HTTP/1.1 allows ~6 connections per host, and the SSE stream and
// the live player need theirs), and only for pictures that are on screen.

import {tileUrl} from './api.js';

const MAX_IN_FLIGHT = 3;

export class TileImages {
  constructor({intervalMs = 1000} = {}) {
    this.cameras = new Map(); // id -> {imgs: Set, etag, objectUrl, live, due}
    this.visible = new WeakSet();
    this.inFlight = 0;
    this.queue = [];
    this.loads = 0; // pictures actually received (200), for tests and curious people
    this.observer = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        if (entry.isIntersecting) {
          this.visible.add(entry.target);
          this.refresh(entry.target.dataset.tileCamera);
        } else {
          this.visible.delete(entry.target);
        }
      }
    });
    this.timer = setInterval(() => this.tick(), intervalMs);
  }

  attach(img, cameraId) {
    img.dataset.tileCamera = cameraId;
    let camera = this.cameras.get(cameraId);
    if (!camera) {
      camera = {imgs: new Set(), etag: null, objectUrl: null, live: false, due: true};
      this.cameras.set(cameraId, camera);
    }
    camera.imgs.add(img);
    if (camera.objectUrl) img.src = camera.objectUrl;
    this.observer.observe(img);
  }

  detach(img) {
    this.observer.unobserve(img);
    this.visible.delete(img);
    const cameraId = img.dataset.tileCamera;
    const camera = this.cameras.get(cameraId);
    if (!camera) return;
    camera.imgs.delete(img);
    if (!camera.imgs.size) {
      if (camera.objectUrl) URL.revokeObjectURL(camera.objectUrl);
      this.cameras.delete(cameraId);
    }
  }

  setLive(cameraId, live) {
    const camera = this.cameras.get(cameraId);
    if (!camera) return;
    if (camera.live !== live) camera.due = true; // the placeholder or the picture changes now
    camera.live = live;
    this.refresh(cameraId);
  }

  refresh(cameraId) {
    const camera = this.cameras.get(cameraId);
    if (camera && !this.queue.includes(cameraId) && this.onScreen(camera)) {
      this.queue.push(cameraId);
      this.pump();
    }
  }

  onScreen(camera) {
    for (const img of camera.imgs) if (this.visible.has(img)) return true;
    return false;
  }

  tick() {
    if (document.hidden) return;
    for (const [cameraId, camera] of this.cameras) {
      if (camera.live || camera.due) this.refresh(cameraId);
    }
  }

  pump() {
    while (this.inFlight < MAX_IN_FLIGHT && this.queue.length) {
      const cameraId = this.queue.shift();
      this.inFlight += 1;
      this.fetchTile(cameraId).finally(() => {
        this.inFlight -= 1;
        this.pump();
      });
    }
  }

  async fetchTile(cameraId) {
    const camera = this.cameras.get(cameraId);
    if (!camera) return;
    const headers = camera.etag ? {'If-None-Match': camera.etag} : {};
    let response;
    try {
      response = await fetch(tileUrl(cameraId), {headers, cache: 'no-store'});
    } catch {
      return; // the server is away; the next tick tries again
    }
    camera.due = false;
    if (response.status !== 200) return; // 304: unchanged; 404: gone (the page removes the tile)
    const blob = await response.blob();
    if (this.cameras.get(cameraId) !== camera) return; // detached meanwhile
    const previous = camera.objectUrl;
    camera.objectUrl = URL.createObjectURL(blob);
    camera.etag = response.headers.get('ETag');
    for (const img of camera.imgs) img.src = camera.objectUrl;
    if (previous) setTimeout(() => URL.revokeObjectURL(previous), 1000); // after the imgs switched
    this.loads += 1;
  }

  clear() {
    for (const camera of this.cameras.values()) for (const img of [...camera.imgs]) this.detach(img);
  }
}
