// A tiny element builder, so pages build DOM without innerHTML (no markup injection from names).
//
//   el('a', {href: '/x', class: 'tile', dataset: {id: 'c1'}}, 'text', childElement)

export function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value == null || value === false) continue;
    if (key === 'class') element.className = value;
    else if (key === 'dataset') Object.assign(element.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') element.addEventListener(key.slice(2), value);
    else if (key in element && typeof value !== 'string') element[key] = value;
    else element.setAttribute(key, value === true ? '' : value);
  }
  element.append(...children.flat().filter((child) => child != null && child !== false));
  return element;
}

export const byTestId = (testid, root = document) => root.querySelector(`[data-testid="${testid}"]`);

export const shortKota = (name) => name.replace(/^(Kota|Kabupaten) Administrasi /, '');

export const formatCount = (n) => Number(n).toLocaleString('id-ID');
