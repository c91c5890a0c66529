// The DKI region tree for the admin page: names by code, and kota -> kecamatan -> kelurahan
// pickers made of three <select>s (each lists the children of the one before).
//
//   const regions = await loadRegions();
//   regions.label('31.71.01.1001')       -> 'Gambir › Gambir'  (kecamatan › kelurahan)
//   const picker = regionPicker(regions, kotaSelect, kecamatanSelect, kelurahanSelect, onChange);
//   picker.set('31.71.01.1001'); picker.value('kelurahan'); picker.deepest();

import {getJson} from './api.js';
import {el, shortKota} from './dom.js';

export async function loadRegions() {
  const tree = await getJson('/api/regions');
  const byCode = new Map();
  const visit = (node, parent) => {
    byCode.set(node.code, {...node, parent});
    for (const child of node.kota || node.kecamatan || node.kelurahan || []) visit(child, node.code);
  };
  visit(tree, null);
  const children = (code) => {
    const node = byCode.get(code);
    return (node && (node.kota || node.kecamatan || node.kelurahan)) || [];
  };
  const name = (code) => {
    const node = byCode.get(code);
    return node ? (node.level === 'kota' ? shortKota(node.name) : node.name) : code;
  };
  return {
    root: tree.code,
    get: (code) => byCode.get(code),
    children,
    name,
    // The region's path below the province, most general first.
    path(code) {
      const names = [];
      for (let node = byCode.get(code); node && node.level !== 'provinsi'; node = byCode.get(node.parent)) names.unshift(name(node.code));
      return names;
    },
    label(code) { return this.path(code).slice(1).join(' › ') || code; },
  };
}

const LEVELS = ['kota', 'kecamatan', 'kelurahan'];
const PLACEHOLDER = {kota: 'Semua kota', kecamatan: 'Semua kecamatan', kelurahan: 'Semua kelurahan'};

export function regionPicker(regions, selects, onChange = () => {}, placeholders = PLACEHOLDER) {
  const fill = (level, parentCode) => {
    const select = selects[level];
    const items = parentCode ? regions.children(parentCode) : [];
    select.replaceChildren(el('option', {value: ''}, placeholders[level]),
      ...items.map((item) => el('option', {value: item.code}, regions.name(item.code))));
    select.disabled = !parentCode;
  };
  const below = (index) => {
    for (let i = index + 1; i < LEVELS.length; i += 1) fill(LEVELS[i], i === index + 1 ? selects[LEVELS[index]].value : '');
  };
  fill('kota', regions.root);
  below(0);
  LEVELS.forEach((level, index) => selects[level].addEventListener('change', () => {
    below(index);
    onChange();
  }));
  return {
    value: (level) => selects[level].value,
    // The most specific code chosen, or ''.
    deepest: () => [...LEVELS].reverse().map((level) => selects[level].value).find(Boolean) || '',
    set(code) {
      const codes = {};
      for (let node = regions.get(code); node && node.level !== 'provinsi'; node = regions.get(node.parent)) {
        codes[node.level] = node.code;
      }
      LEVELS.forEach((level, index) => {
        selects[level].value = codes[level] || '';
        below(index);
      });
    },
  };
}
