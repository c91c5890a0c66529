// The public finder (/): DKI Jakarta -> kota -> kecamatan -> kelurahan -> TPS, or a search by
// name, TPS number or camera id; every step is a shareable URL (?wilayah=<code>, ?q=<text>).

import {ApiError, getRegions, kecamatanPageUrl, listCameras, searchRegions, stationUrl} from './api.js';
import {CameraTiles} from './camera-tile.js';
import {byTestId as $, el, formatCount, shortKota} from './dom.js';
import {subscribeEvents} from './status-events.js';
import {TileImages} from './tile-images.js';

const PAGE_SIZE = 48;
const LEVEL_NAMES = {kota: 'Kota', kecamatan: 'Kecamatan', kelurahan: 'Kelurahan'};
const TPS_QUERY = /^tps\s*0*(\d{1,4})(?:\s+(.+))?$/i; // "TPS 5 Gambir", "tps005"

const tileImages = new TileImages();
const grid = new CameraTiles($('tps-tiles'), tileImages);
const view = {tree: null, nodes: new Map(), parents: new Map(), events: null, cursors: [], cursor: null, area: null};
window.__pantau = {tiles: tileImages, grid};

function index(tree) {
  view.tree = tree;
  view.nodes.clear();
  const walk = (node, parent) => {
    view.nodes.set(node.code, node); // every node carries its level: provinsi, kota, kecamatan, kelurahan
    if (parent) view.parents.set(node.code, parent.code);
    for (const child of childrenOf(node)) walk(child, node);
  };
  walk(tree, null);
}

function childrenOf(node) {
  return node.kota || node.kecamatan || node.kelurahan || [];
}

function ancestry(code) {
  const chain = [];
  for (let at = code; at; at = view.parents.get(at)) chain.unshift(view.nodes.get(at));
  return chain;
}

const displayName = (node) => (node.level === 'kota' ? shortKota(node.name) : node.name);
const PATH_PREFIX = {kecamatan: 'Kec. ', kelurahan: 'Kel. '};
const pathName = (node) => (node.level === 'provinsi' ? 'DKI Jakarta' : (PATH_PREFIX[node.level] || '') + displayName(node));

// ---- navigation -------------------------------------------------------------------------

function go(params) {
  const search = new URLSearchParams(params).toString();
  history.pushState(null, '', search ? `/?${search}` : '/');
  show();
}

function link(text, params, attributes = {}) {
  const search = new URLSearchParams(params).toString();
  return el('a', {href: search ? `/?${search}` : '/', ...attributes, onclick: (event) => {
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return; // new tab: let it
    event.preventDefault();
    go(params);
  }}, text);
}

function showMessage(text) {
  $('message').hidden = !text;
  $('message').textContent = text || '';
}

function reset() {
  if (view.events) view.events.close();
  view.events = null;
  grid.clear();
  $('regions').replaceChildren();
  $('pager').hidden = true;
  $('summary').textContent = '';
  showMessage(null);
}

async function show() {
  reset();
  const params = new URLSearchParams(location.search);
  const q = (params.get('q') || '').trim();
  $('search').value = q;
  if (q) return showSearch(q);
  const code = params.get('wilayah');
  const node = code ? view.nodes.get(code) : view.nodes.get(view.tree.code);
  if (!node) {
    showMessage(`Wilayah dengan kode ${code} tidak ditemukan.`);
    return showRegion(view.nodes.get(view.tree.code));
  }
  return showRegion(node);
}

function showPath(node) {
  const chain = ancestry(node.code);
  $('path').replaceChildren(...chain.map((step, i) => el('li', {},
    i === chain.length - 1 ? pathName(step) : link(pathName(step), step.level === 'provinsi' ? {} : {wilayah: step.code}))));
}

async function showRegion(node) {
  showPath(node);
  const title = {provinsi: 'DKI Jakarta', kota: node.name}[node.level] ?? `${LEVEL_NAMES[node.level]} ${node.name}`;
  $('title').textContent = title;
  document.title = `${title} — Pantau`;
  $('summary').textContent = `${formatCount(node.tps)} kamera TPS · ${formatCount(node.recap)} kamera rekapitulasi`;
  if (node.level === 'kelurahan') return showTps(node);
  const cards = childrenOf(node).map((child) => el('div', {class: 'region-card', dataset: {testid: 'region', code: child.code}},
    link(displayName(child), {wilayah: child.code}, {class: 'region-name'}),
    el('span', {class: 'region-count'}, `${formatCount(child.tps)} TPS`),
    child.level === 'kecamatan'
      ? el('a', {class: 'region-live', href: kecamatanPageUrl(child.code)}, 'Rekap langsung') : null));
  if (node.level === 'kecamatan') {
    cards.unshift(el('div', {class: 'region-card region-card-recap'},
      el('a', {class: 'region-name', href: kecamatanPageUrl(node.code), dataset: {testid: 'kecamatan-page'}},
        'Tempat rekapitulasi dan semua TPS kecamatan ini')));
  }
  $('regions').replaceChildren(...cards);
}

async function showTps(node) {
  view.area = node.code;
  view.cursors = [];
  view.cursor = null;
  view.events = subscribeEvents({region: node.code, kind: 'tps'}, {
    onStatus: (id, status) => grid.update(id, status),
    onReconnect: loadTpsPage,
  });
  await loadTpsPage();
}

async function loadTpsPage() {
  try {
    const page = await listCameras({kelurahan: view.area, kind: 'tps', limit: PAGE_SIZE, cursor: view.cursor});
    page.cameras.sort((a, b) => (a.tps ?? 0) - (b.tps ?? 0));
    grid.show(page.cameras);
    if (!page.cameras.length) showMessage('Belum ada kamera TPS yang dibuka untuk umum di kelurahan ini.');
    $('pager').hidden = !(view.cursors.length || page.next_cursor);
    $('prev').disabled = !view.cursors.length;
    $('next').disabled = !page.next_cursor;
    view.next = page.next_cursor;
  } catch (error) {
    showMessage(error instanceof ApiError ? error.message : 'Daftar TPS tidak dapat dimuat.');
  }
}

// ---- search -----------------------------------------------------------------------------

async function showSearch(q) {
  $('path').replaceChildren(el('li', {}, link('DKI Jakarta', {})), el('li', {}, 'Pencarian'));
  $('title').textContent = `Hasil pencarian “${q}”`;
  document.title = `Cari ${q} — Pantau`;
  const tpsQuery = TPS_QUERY.exec(q);
  const [regions, cameras] = await Promise.all([
    tpsQuery ? Promise.resolve({regions: []}) : searchRegions(q).catch(() => ({regions: []})),
    findCameras(q, tpsQuery),
  ]);
  $('regions').replaceChildren(...regions.regions.slice(0, 30).map((region) => el('div', {class: 'region-card', dataset: {testid: 'region', code: region.code}},
    link(`${LEVEL_NAMES[region.level]} ${region.name}`, {wilayah: region.code}, {class: 'region-name'}),
    el('span', {class: 'region-count'}, regionPlace(region)))));
  // An exact camera id goes straight to its station page.
  const exact = cameras.find((camera) => camera.id.toLowerCase() === q.toLowerCase());
  if (exact) {
    location.replace(stationUrl(exact));
    return;
  }
  grid.show(cameras);
  const found = regions.regions.length + cameras.length;
  $('summary').textContent = found ? `${formatCount(regions.regions.length)} wilayah, ${formatCount(cameras.length)} kamera` : '';
  if (!found) showMessage('Tidak ada yang cocok. Coba nama kelurahan atau kecamatan, atau “TPS 5 Gambir”.');
}

// Where a search hit lies: "Jakarta Pusat › Kec. Gambir".
function regionPlace(region) {
  const parts = [];
  if (region.level !== 'kota' && region.path.kota) parts.push(shortKota(region.path.kota.name));
  if (region.level === 'kelurahan' && region.path.kecamatan) parts.push(`Kec. ${region.path.kecamatan.name}`);
  return parts.join(' › ');
}

async function findCameras(q, tpsQuery) {
  if (!tpsQuery) return (await listCameras({q, limit: PAGE_SIZE}).catch(() => ({cameras: []}))).cameras;
  const number = Number(tpsQuery[1]);
  const place = tpsQuery[2];
  if (!place) return (await listCameras({q: `TPS ${String(number).padStart(3, '0')}`, kind: 'tps', limit: PAGE_SIZE})).cameras;
  const {regions} = await searchRegions(place).catch(() => ({regions: []}));
  const lists = await Promise.all(regions.slice(0, 10).map((region) => listCameras({[region.level]: region.code, kind: 'tps', limit: 1000})));
  const byId = new Map(lists.flatMap((list) => list.cameras).filter((camera) => camera.tps === number).map((c) => [c.id, c]));
  return [...byId.values()]; // a kecamatan and its kelurahan of the same name both matched
}

// ---- start ------------------------------------------------------------------------------

async function main() {
  $('search-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const q = $('search').value.trim();
    go(q ? {q} : {});
  });
  $('prev').addEventListener('click', () => {
    view.cursor = view.cursors.pop() ?? null;
    loadTpsPage();
  });
  $('next').addEventListener('click', () => {
    view.cursors.push(view.cursor);
    view.cursor = view.next;
    loadTpsPage();
  });
  addEventListener('popstate', show);
  try {
    index(await getRegions());
  } catch (error) {
    showMessage(error.message);
    return;
  }
  await show();
}

main();
