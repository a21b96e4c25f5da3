// Builds assets/basemap/world.bin from the `world-atlas` npm package
// (Natural Earth 1:50m land and countries as TopoJSON).
//
// Usage (outside the repository, so node_modules never lands in it):
//   mkdir -p /tmp/wa && cd /tmp/wa && npm init -y && npm install world-atlas@2.0.2 earcut@3.2.4
//   node /path/to/assets/basemap/make_basemap.mjs /tmp/wa/node_modules /path/to/assets/basemap/world.bin
//
// Land polygons are triangulated here, once, with earcut (ISC) in Web
// Mercator space — the space the widget draws in — so the app only has to
// transform vertices, never triangulate concave polygons at run time.
//
// Output format (all little-endian), version 1:
//   magic    8 bytes  "EFBASEMP"
//   version  u32      1
//   polygons u32      number of land polygons
//   lines    u32      number of border line strings
//   per polygon:
//     rings     u32   number of rings (first is the outer ring, the rest holes)
//     per ring: points u32, then points × (lon f32, lat f32)   (ring not closed:
//               the last point is not a repeat of the first)
//     triangles u32, then triangles × 3 × u32 vertex indices into the
//               polygon's rings concatenated in order
//   per line:
//     points u32, then points × (lon f32, lat f32)

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [nodeModules, outPath] = process.argv.slice(2);
if (!nodeModules || !outPath) {
  console.error("usage: node make_basemap.mjs <node_modules dir> <out world.bin>");
  process.exit(2);
}

const earcutModule = await import(pathToFileURL(join(nodeModules, "earcut/src/earcut.js")).href);
const earcut = earcutModule.default;
const atlasDir = join(nodeModules, "world-atlas");
const atlasVersion = JSON.parse(readFileSync(join(atlasDir, "package.json"), "utf8")).version;
const earcutVersion = JSON.parse(readFileSync(join(nodeModules, "earcut/package.json"), "utf8")).version;

// Web Mercator latitude limit: the square world.
const MAX_LAT = 85.05112878;

/** Decodes a topology's quantized, delta-encoded arcs into [lon, lat] arrays. */
function decodeArcs(topology) {
  const [sx, sy] = topology.transform.scale;
  const [tx, ty] = topology.transform.translate;
  return topology.arcs.map((arc) => {
    let x = 0;
    let y = 0;
    return arc.map(([dx, dy]) => {
      x += dx;
      y += dy;
      return [x * sx + tx, y * sy + ty];
    });
  });
}

/** Joins arc references (negative = reversed, ~i) into one closed ring without the closing repeat. */
function ringFromArcs(arcs, refs) {
  const ring = [];
  for (const ref of refs) {
    const arc = ref >= 0 ? arcs[ref] : arcs[~ref].slice().reverse();
    // Consecutive arcs share their joining point.
    ring.push(...(ring.length === 0 ? arc : arc.slice(1)));
  }
  const first = ring[0];
  const last = ring[ring.length - 1];
  if (ring.length > 1 && first[0] === last[0] && first[1] === last[1]) ring.pop();
  return ring;
}

/**
 * Makes a ring's longitudes continuous: Natural Earth rings that cross the
 * antimeridian jump between -180 and +180, which on a flat map would draw an
 * edge across the whole world.
 */
function unwrap(ring) {
  const out = [ring[0].slice()];
  for (let i = 1; i < ring.length; i++) {
    const prev = out[i - 1][0];
    let lon = ring[i][0];
    while (lon - prev > 180) lon -= 360;
    while (prev - lon > 180) lon += 360;
    out.push([lon, ring[i][1]]);
  }
  return out;
}

/** Sutherland–Hodgman clip of a ring to lon >= min (keep = 1) or lon <= max (keep = -1). */
function clipLon(ring, bound, keep) {
  const inside = (p) => (keep > 0 ? p[0] >= bound : p[0] <= bound);
  const cross = (a, b) => {
    const t = (bound - a[0]) / (b[0] - a[0]);
    return [bound, a[1] + t * (b[1] - a[1])];
  };
  const out = [];
  for (let i = 0; i < ring.length; i++) {
    const a = ring[i];
    const b = ring[(i + 1) % ring.length];
    if (inside(a)) {
      out.push(a);
      if (!inside(b)) out.push(cross(a, b));
    } else if (inside(b)) {
      out.push(cross(a, b));
    }
  }
  return out;
}

function area(ring) {
  let twice = 0;
  for (let i = 0; i < ring.length; i++) {
    const [x0, y0] = ring[i];
    const [x1, y1] = ring[(i + 1) % ring.length];
    twice += x0 * y1 - x1 * y0;
  }
  return twice / 2;
}

/**
 * Turns one spherical polygon (outer ring + holes) into flat polygons inside
 * lon [-180, 180]: rings around a pole are closed through the pole, rings
 * that cross the antimeridian are cut there and the far part moved by 360°.
 */
function flatten(rings) {
  const flat = [];
  for (const ring of rings) {
    const u = unwrap(ring);
    // The closing edge, unwrapped too: a ring around a pole does not return to its start.
    let closeLon = u[0][0];
    const last = u[u.length - 1][0];
    while (closeLon - last > 180) closeLon -= 360;
    while (last - closeLon > 180) closeLon += 360;
    const meanLat = u.reduce((s, p) => s + p[1], 0) / u.length;
    if (Math.abs(closeLon - u[0][0]) > 180) {
      // Encircles a pole. The ring *at* the pole (Antarctica's -90° edge) is dropped;
      // a coastline around it is closed along the pole's parallel.
      if (Math.abs(meanLat) > 89.9) continue;
      const poleLat = meanLat < 0 ? -90 : 90;
      u.push([last, poleLat], [u[0][0], poleLat]);
    }
    flat.push(u);
  }
  if (flat.length === 0) return [];
  // Holes were unwrapped on their own: move each next to the outer ring.
  const outerLons = flat[0].map((p) => p[0]);
  const outerMin = Math.min(...outerLons);
  const outerMax = Math.max(...outerLons);
  for (const hole of flat.slice(1)) {
    let shift = 0;
    while (hole[0][0] + shift < outerMin) shift += 360;
    while (hole[0][0] + shift > outerMax) shift -= 360;
    for (const p of hole) p[0] += shift;
  }
  if (outerMin >= -180 && outerMax <= 180) return [flat];
  const pieces = [];
  for (const shift of [-720, -360, 0, 360, 720]) {
    const piece = [];
    for (const [i, ring] of flat.entries()) {
      let clipped = clipLon(ring, -180 + shift, 1);
      clipped = clipLon(clipped, 180 + shift, -1);
      clipped = clipped.map(([lon, lat]) => [lon - shift, lat]);
      const usable = clipped.length >= 3 && Math.abs(area(clipped)) > 1e-9;
      // No outer ring in this window: its holes cannot be there either.
      if (i === 0 && !usable) break;
      if (usable) piece.push(clipped);
    }
    if (piece.length > 0) pieces.push(piece);
  }
  return pieces;
}

function mercator([lon, lat]) {
  const clamped = Math.max(-MAX_LAT, Math.min(MAX_LAT, lat));
  const phi = (clamped * Math.PI) / 180;
  return [(lon + 180) / 360, (1 - Math.log(Math.tan(Math.PI / 4 + phi / 2)) / Math.PI) / 2];
}

function polygonsOf(geometry) {
  if (geometry.type === "Polygon") return [geometry.arcs];
  if (geometry.type === "MultiPolygon") return geometry.arcs;
  return [];
}

// ---- land ----
const land = JSON.parse(readFileSync(join(atlasDir, "land-50m.json"), "utf8"));
const landArcs = decodeArcs(land);
const polygons = [];
let triangleCount = 0;
let degenerate = 0;
// earcut's relative area error (triangles vs polygon), worst over all polygons.
let worstDeviation = 0;
let lonOutOfRange = 0;
for (const geometry of land.objects.land.geometries) {
  for (const polygon of polygonsOf(geometry)) {
    const spherical = polygon.map((refs) => ringFromArcs(landArcs, refs)).filter((r) => r.length >= 3);
    for (const rings of flatten(spherical)) {
    const flat = [];
    const holes = [];
    for (const [i, ring] of rings.entries()) {
      if (i > 0) holes.push(flat.length / 2);
      for (const p of ring) flat.push(...mercator(p));
    }
    const triangles = earcut(flat, holes, 2);
    if (triangles.length === 0) {
      degenerate += 1;
      continue;
    }
    worstDeviation = Math.max(worstDeviation, earcutModule.deviation(flat, holes, 2, triangles));
    lonOutOfRange += rings.flat().filter(([lon]) => lon < -180 || lon > 180).length;
    triangleCount += triangles.length / 3;
    polygons.push({ rings, triangles });
    }
  }
}

if (lonOutOfRange > 0) throw new Error(`${lonOutOfRange} land points outside lon [-180, 180]`);
console.log(`worst triangulation area deviation: ${worstDeviation.toExponential(2)}`);

// ---- borders: arcs shared by two different countries (topojson.mesh with a !== b) ----
const countries = JSON.parse(readFileSync(join(atlasDir, "countries-50m.json"), "utf8"));
const countryArcs = decodeArcs(countries);
const owners = new Map();
for (const [g, geometry] of countries.objects.countries.geometries.entries()) {
  for (const polygon of polygonsOf(geometry)) {
    for (const refs of polygon) {
      for (const ref of refs) {
        const arc = ref >= 0 ? ref : ~ref;
        if (!owners.has(arc)) owners.set(arc, new Set());
        owners.get(arc).add(g);
      }
    }
  }
}
const lines = [];
for (const [arc, set] of owners.entries()) {
  if (set.size < 2) continue;
  // Break a border where it jumps across the antimeridian.
  let line = [];
  for (const p of countryArcs[arc]) {
    if (line.length > 0 && Math.abs(p[0] - line[line.length - 1][0]) > 180) {
      if (line.length >= 2) lines.push(line);
      line = [];
    }
    line.push(p);
  }
  if (line.length >= 2) lines.push(line);
}

// ---- write ----
let size = 8 + 4 * 3;
for (const p of polygons) {
  size += 4 + p.rings.reduce((n, r) => n + 4 + r.length * 8, 0) + 4 + p.triangles.length * 4;
}
for (const l of lines) size += 4 + l.length * 8;

const buf = Buffer.alloc(size);
let at = 0;
const u32 = (v) => {
  buf.writeUInt32LE(v, at);
  at += 4;
};
const f32 = (v) => {
  buf.writeFloatLE(v, at);
  at += 4;
};
buf.write("EFBASEMP", at, "ascii");
at += 8;
u32(1);
u32(polygons.length);
u32(lines.length);
for (const p of polygons) {
  u32(p.rings.length);
  for (const ring of p.rings) {
    u32(ring.length);
    for (const [lon, lat] of ring) {
      f32(lon);
      f32(lat);
    }
  }
  u32(p.triangles.length / 3);
  for (const i of p.triangles) u32(i);
}
for (const line of lines) {
  u32(line.length);
  for (const [lon, lat] of line) {
    f32(lon);
    f32(lat);
  }
}
if (at !== size) throw new Error(`size mismatch: wrote ${at}, planned ${size}`);
writeFileSync(outPath, buf);

const landPoints = polygons.reduce((n, p) => n + p.rings.reduce((m, r) => m + r.length, 0), 0);
const linePoints = lines.reduce((n, l) => n + l.length, 0);
console.log(
  `world-atlas ${atlasVersion}, earcut ${earcutVersion}: ${polygons.length} land polygons ` +
    `(${landPoints} points, ${triangleCount} triangles, ${degenerate} degenerate skipped), ` +
    `${lines.length} border lines (${linePoints} points), ${size} bytes -> ${outPath}`,
);
