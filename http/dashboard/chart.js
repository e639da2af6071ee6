// A line chart as SVG, drawn by hand: a few series of [time ms, value]
// points over a shared time axis, with the value axis from 0 to the largest.

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 600;
const HEIGHT = 160;
const PAD = {left: 40, right: 8, top: 8, bottom: 18};

function node(tag, attributes, text) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  if (text !== undefined) element.textContent = text;
  return element;
}

/// `series`: [{name, className, points: [[t, v], ...]}]. Answers an <svg>.
export function lineChart(series, {label = ''} = {}) {
  const svg = node('svg', {class: 'chart', viewBox: `0 0 ${WIDTH} ${HEIGHT}`, preserveAspectRatio: 'none',
    role: 'img', 'aria-label': label});
  const points = series.flatMap((one) => one.points);
  if (!points.length) {
    svg.append(node('text', {x: WIDTH / 2, y: HEIGHT / 2, 'text-anchor': 'middle'}, 'no data yet'));
    return svg;
  }
  const t0 = Math.min(...points.map((p) => p[0]));
  const t1 = Math.max(...points.map((p) => p[0]), t0 + 1);
  const top = Math.max(...points.map((p) => p[1]), 1);
  const x = (t) => PAD.left + ((t - t0) / (t1 - t0)) * (WIDTH - PAD.left - PAD.right);
  const y = (v) => HEIGHT - PAD.bottom - (v / top) * (HEIGHT - PAD.top - PAD.bottom);
  svg.append(node('line', {class: 'axis', x1: PAD.left, x2: WIDTH - PAD.right, y1: y(0), y2: y(0)}));
  svg.append(node('text', {x: PAD.left - 4, y: y(top) + 8, 'text-anchor': 'end'}, formatNumber(top)));
  svg.append(node('text', {x: PAD.left - 4, y: y(0), 'text-anchor': 'end'}, '0'));
  svg.append(node('text', {x: PAD.left, y: HEIGHT - 4}, clock(t0)));
  svg.append(node('text', {x: WIDTH - PAD.right, y: HEIGHT - 4, 'text-anchor': 'end'}, clock(t1)));
  for (const one of series) {
    if (!one.points.length) continue;
    const path = one.points.map(([t, v], index) => `${index ? 'L' : 'M'}${x(t).toFixed(1)},${y(v).toFixed(1)}`);
    svg.append(node('path', {class: `series ${one.className || ''}`, d: path.join(' ')}, undefined));
    svg.lastChild.append(node('title', {}, one.name));
  }
  return svg;
}

const formatNumber = (value) => (Math.abs(value) >= 100 ? Math.round(value) : +value.toPrecision(3)).toString();
const clock = (ms) => new Date(ms).toISOString().slice(11, 19);
