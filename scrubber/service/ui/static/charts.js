// Small SVG charts for the dashboard, drawn with document.createElementNS: no library, no inline styles
// (colours and fonts come from app.css classes). Each bar is a link (an SVG <a>) to the scrubs behind it,
// reachable with the keyboard, and carries its number as text.

const SVG = 'http://www.w3.org/2000/svg';

/** An SVG element with attributes (class, x, y, ...) and children (nodes or text). */
export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A bar's link, or a plain group when it has no href. */
function link(href, label, testid, data, ...children) {
  const attrs = {'data-testid': testid, 'aria-label': label};
  for (const [name, value] of Object.entries(data || {})) {
    attrs[`data-${name.replace(/[A-Z]/g, c => `-${c.toLowerCase()}`)}`] = value;  // as dataset names it
  }
  if (href) return svg('a', {href, class: 'bar-link', ...attrs}, ...children);
  return svg('g', attrs, ...children);
}

/**
 * Horizontal bars, one row per item: its label, a bar as long as its value (of the largest), the value as
 * text. items: [{label, value, text, href, kind, data}]; `kind` adds the class bar-<kind>.
 * Returns an <svg> with role="img" and the title given.
 */
export function barChart(items, {title, testid = 'bar', labelWidth = 200, width = 640} = {}) {
  const row = 26;
  const height = Math.max(items.length, 1) * row + 4;
  const max = Math.max(1, ...items.map(i => i.value));
  const room = width - labelWidth - 70;
  const chart = svg('svg', {viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-label': title},
    svg('title', {}, title));
  if (!items.length) chart.append(svg('text', {x: 0, y: 18, class: 'chart-empty'}, 'nothing in this window'));
  items.forEach((item, i) => {
    const y = i * row + 2;
    const length = Math.max(item.value > 0 ? 2 : 0, Math.round(room * item.value / max));
    chart.append(link(item.href, `${item.label}: ${item.text ?? item.value}`, testid, item.data,
      svg('text', {x: labelWidth - 8, y: y + 16, class: 'chart-label', 'text-anchor': 'end'}, item.label),
      svg('rect', {x: labelWidth, y: y + 3, width: length, height: row - 8,
        class: `bar${item.kind ? ` bar-${item.kind}` : ''}`}),
      svg('text', {x: labelWidth + length + 6, y: y + 16, class: 'chart-value'}, item.text ?? String(item.value))));
  });
  return chart;
}

/**
 * Columns over time: one per day, as tall as a share (0..1), with a line through their tops, the 0%, 50%
 * and 100% grid lines, and some dates under them. days: [{date, value, text, href, data}].
 */
export function timeChart(days, {title, testid = 'day-bar', width = 640, height = 220} = {}) {
  const left = 44, bottom = 24, top = 8;
  const plot = height - bottom - top;
  const step = (width - left - 8) / Math.max(days.length, 1);
  const chart = svg('svg', {viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-label': title},
    svg('title', {}, title));
  for (const share of [0, 0.5, 1]) {
    const y = top + plot * (1 - share);
    chart.append(svg('line', {x1: left, x2: width - 4, y1: y, y2: y, class: 'grid'}),
      svg('text', {x: left - 6, y: y + 4, class: 'chart-axis', 'text-anchor': 'end'}, `${share * 100}%`));
  }
  if (!days.length) {
    chart.append(svg('text', {x: left + 8, y: top + plot / 2, class: 'chart-empty'}, 'no scrubs in this window'));
    return chart;
  }
  const every = Math.ceil(days.length / 8);  // at most about eight date labels
  const points = [];
  days.forEach((day, i) => {
    const x = left + i * step;
    const h = Math.round(plot * (day.value ?? 0));
    const middle = x + step / 2;
    points.push(`${middle.toFixed(1)},${(top + plot - h).toFixed(1)}`);
    chart.append(link(day.href, `${day.date}: ${day.text}`, testid, day.data,
      svg('rect', {x: x + step * 0.15, y: top + plot - h, width: Math.max(step * 0.7, 1), height: Math.max(h, 1),
        class: 'bar bar-rate'}),
      svg('title', {}, `${day.date}: ${day.text}`)));
    if (i % every === 0 || i === days.length - 1) {
      chart.append(svg('text', {x: middle, y: height - 6, class: 'chart-axis', 'text-anchor': 'middle'},
        day.date.slice(5)));
    }
  });
  chart.append(svg('polyline', {points: points.join(' '), class: 'trend'}));
  return chart;
}
