// Stacked bar chart of verdicts per time bucket, drawn as inline SVG (no library, nothing fetched).

const SVG = 'http://www.w3.org/2000/svg';
const SERIES = ['clean', 'unscannable', 'blocked', 'infected'];
const WIDTH = 900;
const HEIGHT = 220;
const MARGIN = { top: 10, right: 10, bottom: 24, left: 36 };

function svgElement(name, attributes = {}) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  return element;
}

/** A round axis maximum (1, 2, 5 × 10^n) at or above the largest stack. */
function niceMax(value) {
  if (value <= 4) return 4;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * magnitude >= value) return step * magnitude;
  return 10 * magnitude;
}

function bucketLabel(start, bucketSeconds) {
  const date = new Date(start);
  return bucketSeconds >= 86400
    ? date.toLocaleDateString(undefined, { month: 'short', day: 'numeric' })
    : date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

/** Replaces the content of `container` with the chart of `stats` (the GET /v1/stats answer). */
export function drawVerdictChart(container, stats) {
  const buckets = stats.buckets;
  const largest = Math.max(0, ...buckets.map((b) => b.clean + b.infected + b.unscannable + (b.blocked ?? 0)));
  const top = niceMax(largest);
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const slot = plotWidth / Math.max(buckets.length, 1);
  const barWidth = Math.max(2, slot * 0.7);
  const y = (value) => MARGIN.top + plotHeight - (value / top) * plotHeight;

  const svg = svgElement('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, preserveAspectRatio: 'none' });
  for (let tick = 0; tick <= 4; tick++) {
    const value = (top / 4) * tick;
    svg.append(
      svgElement('line', {
        class: 'grid-line',
        x1: MARGIN.left,
        x2: WIDTH - MARGIN.right,
        y1: y(value),
        y2: y(value),
      }),
    );
    const label = svgElement('text', { x: MARGIN.left - 6, y: y(value) + 4, 'text-anchor': 'end' });
    label.textContent = String(Math.round(value));
    svg.append(label);
  }

  const labelEvery = Math.ceil(buckets.length / 8);
  buckets.forEach((bucket, index) => {
    const x = MARGIN.left + index * slot + (slot - barWidth) / 2;
    let base = 0;
    const group = svgElement('g');
    const title = svgElement('title');
    title.textContent =
      `${bucketLabel(bucket.start, stats.bucket_seconds)} — clean ${bucket.clean}, ` +
      `infected ${bucket.infected}, unscannable ${bucket.unscannable}, blocked ${bucket.blocked ?? 0}`;
    group.append(title);
    for (const series of SERIES) {
      const count = bucket[series] ?? 0;
      if (count > 0) {
        group.append(
          svgElement('rect', {
            class: `bar-${series}`,
            x,
            y: y(base + count),
            width: barWidth,
            height: y(base) - y(base + count),
          }),
        );
      }
      base += count;
    }
    // An invisible full-height target so the tooltip shows on empty buckets too.
    group.append(
      svgElement('rect', { x, y: MARGIN.top, width: barWidth, height: plotHeight, fill: 'transparent' }),
    );
    svg.append(group);
    if (index % labelEvery === 0) {
      const label = svgElement('text', { x: x + barWidth / 2, y: HEIGHT - 6, 'text-anchor': 'middle' });
      label.textContent = bucketLabel(bucket.start, stats.bucket_seconds);
      svg.append(label);
    }
  });
  container.replaceChildren(svg);
}
