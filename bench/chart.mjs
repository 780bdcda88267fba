// chart draws operations per second of each store as grouped bars, one group per operation, as an SVG string.
const COLORS = { slabkv: '#d9480f', lmdb: '#1c7ed6', sqlite: '#2f9e44', 'classic-level': '#7048e8', 'Map+JSON': '#868e96' };
const OPS = ['create', 'read', 'has (miss)', 'delete'];

/** chart: throughput is { store: { operation: ops per second } }; OPS are the groups unless `ops` names others. */
export function chart(throughput, title, ops = OPS) {
  const names = Object.keys(throughput);
  const width = 760, height = 360, left = 70, bottom = 60, top = 50, right = 150;
  const plotW = width - left - right, plotH = height - top - bottom;
  const max = Math.max(...names.flatMap((n) => ops.map((op) => throughput[n][op] ?? 0)));
  const scaleMax = niceCeiling(max);
  const groupW = plotW / ops.length, barW = (groupW * 0.8) / names.length;
  const y = (v) => top + plotH - (v / scaleMax) * plotH;
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`);
  out.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
  out.push(`<text x="${left}" y="24" font-size="15" font-weight="600">${title} (higher is better)</text>`);
  for (let i = 0; i <= 4; i++) {
    const v = (scaleMax * i) / 4;
    out.push(`<line x1="${left}" x2="${left + plotW}" y1="${y(v)}" y2="${y(v)}" stroke="#e9ecef"/>`);
    out.push(`<text x="${left - 8}" y="${y(v) + 4}" text-anchor="end" fill="#495057">${short(v)}</text>`);
  }
  ops.forEach((op, g) => {
    const x0 = left + g * groupW + groupW * 0.1;
    names.forEach((name, i) => {
      const v = throughput[name][op] ?? 0;
      out.push(`<rect x="${(x0 + i * barW).toFixed(1)}" y="${y(v).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(top + plotH - y(v)).toFixed(1)}" fill="${COLORS[name] ?? '#333'}"><title>${name} ${op}: ${Math.round(v)} ops/s</title></rect>`);
    });
    out.push(`<text x="${x0 + (groupW * 0.8) / 2}" y="${top + plotH + 20}" text-anchor="middle">${op}</text>`);
  });
  names.forEach((name, i) => {
    out.push(`<rect x="${left + plotW + 20}" y="${top + i * 22}" width="14" height="14" fill="${COLORS[name] ?? '#333'}"/>`);
    out.push(`<text x="${left + plotW + 40}" y="${top + i * 22 + 12}">${name}</text>`);
  });
  out.push(`<line x1="${left}" x2="${left + plotW}" y1="${top + plotH}" y2="${top + plotH}" stroke="#495057"/>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function niceCeiling(x) {
  const p = 10 ** Math.floor(Math.log10(x));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((m) => m >= x);
}

function short(v) {
  return v >= 1e6 ? `${v / 1e6}M` : v >= 1e3 ? `${v / 1e3}k` : String(v);
}
