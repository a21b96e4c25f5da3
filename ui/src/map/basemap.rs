//! The offline basemap: Natural Earth land (pre-triangulated) and country
//! borders, parsed from the compact `world.bin` that
//! `assets/basemap/make_basemap.mjs` writes, and held in Web Mercator world
//! units so drawing a frame is only a scale and an offset per vertex.

use super::projection::{WorldRect, mercator};

/// The shipped basemap, compiled into the binary so nothing is read from disk.
const EMBEDDED: &[u8] = include_bytes!("../../../assets/basemap/world.bin");

const MAGIC: &[u8; 8] = b"EFBASEMP";
const VERSION: u32 = 1;

/// Why a basemap file could not be read. Nothing is half-loaded on error.
///
/// (Display and Error are written out by hand: the `ui` crate's manifest is
/// not this module's to change, and it does not depend on `thiserror`.)
#[derive(Debug, Clone, PartialEq)]
pub enum BasemapError {
    BadMagic,
    UnsupportedVersion { found: u32 },
    Truncated { what: &'static str, offset: usize, needed: usize, len: usize },
    Malformed(String),
    TrailingBytes(usize),
}

impl std::fmt::Display for BasemapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BasemapError::BadMagic => write!(f, "not a basemap file: expected the magic bytes \"EFBASEMP\""),
            BasemapError::UnsupportedVersion { found } => {
                write!(f, "basemap format version {found} is not supported (this build reads version {VERSION})")
            }
            BasemapError::Truncated { what, offset, needed, len } => write!(
                f,
                "basemap file is truncated: needed {needed} bytes at offset {offset} for {what}, the file has {len}"
            ),
            BasemapError::Malformed(why) => write!(f, "basemap file is malformed: {why}"),
            BasemapError::TrailingBytes(n) => write!(f, "basemap file has {n} unexpected trailing bytes"),
        }
    }
}

impl std::error::Error for BasemapError {}

/// A run of vertices with its bounding box, used to cull off-screen work.
#[derive(Debug, Clone, PartialEq)]
pub struct Ring {
    /// Range into [`Basemap::land_vertices`] or [`Basemap::border_vertices`].
    pub start: u32,
    pub end: u32,
    pub bbox: WorldRect,
}

/// One land polygon: an outer ring, its holes and its triangles.
#[derive(Debug, Clone, PartialEq)]
pub struct LandPolygon {
    /// The polygon's rings (outer first) as a range into [`Basemap::rings`].
    pub rings: std::ops::Range<u32>,
    /// Vertex range into [`Basemap::land_vertices`]; triangle indices count from `vertex_start`.
    pub vertex_start: u32,
    pub vertex_end: u32,
    /// Range into [`Basemap::triangle_indices`] (a multiple of 3 long).
    pub index_start: u32,
    pub index_end: u32,
    pub bbox: WorldRect,
}

/// Land and borders in Web Mercator world units (x, y in 0..=1, y down).
#[derive(Debug, Clone, PartialEq)]
pub struct Basemap {
    pub land_vertices: Vec<[f64; 2]>,
    pub triangle_indices: Vec<u32>,
    pub rings: Vec<Ring>,
    pub polygons: Vec<LandPolygon>,
    pub border_vertices: Vec<[f64; 2]>,
    pub borders: Vec<Ring>,
}

/// Little-endian reader over the file that names what it was reading when it ran out.
struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, needed: usize, what: &'static str) -> Result<&'a [u8], BasemapError> {
        let slice = self.offset.checked_add(needed).and_then(|end| self.bytes.get(self.offset..end));
        let slice =
            slice.ok_or(BasemapError::Truncated { what, offset: self.offset, needed, len: self.bytes.len() })?;
        self.offset += needed;
        Ok(slice)
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, BasemapError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A count that must fit in what is left of the file at `bytes_each`, so
    /// a corrupt count fails here instead of allocating gigabytes.
    fn count(&mut self, what: &'static str, bytes_each: usize) -> Result<usize, BasemapError> {
        let count = self.u32(what)? as usize;
        let remaining = self.bytes.len() - self.offset;
        if count.saturating_mul(bytes_each) > remaining {
            return Err(BasemapError::Truncated {
                what,
                offset: self.offset,
                needed: count.saturating_mul(bytes_each),
                len: self.bytes.len(),
            });
        }
        Ok(count)
    }

    /// `count` lon/lat pairs, checked to be real coordinates, as world points.
    fn points(&mut self, count: usize, out: &mut Vec<[f64; 2]>) -> Result<WorldRect, BasemapError> {
        let bytes = self.take(count * 8, "coordinates")?;
        let mut bbox = WorldRect::EMPTY;
        for pair in bytes.chunks_exact(8) {
            let lon = f32::from_le_bytes([pair[0], pair[1], pair[2], pair[3]]);
            let lat = f32::from_le_bytes([pair[4], pair[5], pair[6], pair[7]]);
            if !(-180.0..=180.0).contains(&lon) || !(-90.0..=90.0).contains(&lat) {
                return Err(BasemapError::Malformed(format!(
                    "coordinate (lon {lon}, lat {lat}) near offset {} is outside the globe",
                    self.offset
                )));
            }
            let p = mercator(f64::from(lat), f64::from(lon));
            bbox.include(p);
            out.push(p);
        }
        Ok(bbox)
    }
}

/// `u32` index of the next element, for the compact ranges.
fn next_index(len: usize) -> Result<u32, BasemapError> {
    u32::try_from(len).map_err(|_| BasemapError::Malformed("more than 4 billion elements".into()))
}

impl Basemap {
    /// The Natural Earth 1:50m basemap shipped in `assets/basemap/world.bin`.
    pub fn embedded() -> Result<Basemap, BasemapError> {
        Basemap::from_bytes(EMBEDDED)
    }

    /// Parses the format described in `assets/basemap/make_basemap.mjs`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Basemap, BasemapError> {
        let mut r = Reader { bytes, offset: 0 };
        if r.take(8, "magic").map_err(|_| BasemapError::BadMagic)? != MAGIC {
            return Err(BasemapError::BadMagic);
        }
        let version = r.u32("version")?;
        if version != VERSION {
            return Err(BasemapError::UnsupportedVersion { found: version });
        }
        // Smallest polygon: ring count, one 3-point ring, triangle count, one triangle.
        let polygon_count = r.count("polygon count", 4 + 4 + 24 + 4 + 12)?;
        let line_count = r.u32("border line count")? as usize;

        let mut map = Basemap {
            land_vertices: Vec::new(),
            triangle_indices: Vec::new(),
            rings: Vec::new(),
            polygons: Vec::with_capacity(polygon_count),
            border_vertices: Vec::new(),
            borders: Vec::new(),
        };
        for polygon in 0..polygon_count {
            map.read_polygon(&mut r, polygon)?;
        }
        let remaining_for_lines = bytes.len() - r.offset;
        if line_count.saturating_mul(4 + 16) > remaining_for_lines {
            return Err(BasemapError::Truncated {
                what: "border lines",
                offset: r.offset,
                needed: line_count.saturating_mul(20),
                len: bytes.len(),
            });
        }
        map.borders.reserve(line_count);
        for line in 0..line_count {
            let points = r.count("border point count", 8)?;
            if points < 2 {
                return Err(BasemapError::Malformed(format!("border line {line} has {points} points, needs 2")));
            }
            let start = next_index(map.border_vertices.len())?;
            let bbox = r.points(points, &mut map.border_vertices)?;
            let end = next_index(map.border_vertices.len())?;
            map.borders.push(Ring { start, end, bbox });
        }
        if r.offset != bytes.len() {
            return Err(BasemapError::TrailingBytes(bytes.len() - r.offset));
        }
        Ok(map)
    }

    fn read_polygon(&mut self, r: &mut Reader<'_>, polygon: usize) -> Result<(), BasemapError> {
        let ring_count = r.count("ring count", 4 + 24)?;
        if ring_count == 0 {
            return Err(BasemapError::Malformed(format!("land polygon {polygon} has no rings")));
        }
        let vertex_start = next_index(self.land_vertices.len())?;
        let first_ring = next_index(self.rings.len())?;
        let mut bbox = WorldRect::EMPTY;
        for ring in 0..ring_count {
            let points = r.count("ring point count", 8)?;
            if points < 3 {
                return Err(BasemapError::Malformed(format!(
                    "ring {ring} of land polygon {polygon} has {points} points, needs 3"
                )));
            }
            let start = next_index(self.land_vertices.len())?;
            let ring_bbox = r.points(points, &mut self.land_vertices)?;
            let end = next_index(self.land_vertices.len())?;
            bbox.union(&ring_bbox);
            self.rings.push(Ring { start, end, bbox: ring_bbox });
        }
        let vertex_end = next_index(self.land_vertices.len())?;
        let vertex_count = vertex_end - vertex_start;

        let triangles = r.count("triangle count", 12)?;
        let index_start = next_index(self.triangle_indices.len())?;
        let bytes = r.take(triangles * 12, "triangle indices")?;
        for word in bytes.chunks_exact(4) {
            let index = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
            if index >= vertex_count {
                return Err(BasemapError::Malformed(format!(
                    "land polygon {polygon} has a triangle index {index} past its {vertex_count} vertices"
                )));
            }
            self.triangle_indices.push(index);
        }
        let index_end = next_index(self.triangle_indices.len())?;
        self.polygons.push(LandPolygon {
            rings: first_ring..next_index(self.rings.len())?,
            vertex_start,
            vertex_end,
            index_start,
            index_end,
            bbox,
        });
        Ok(())
    }

    pub fn triangle_count(&self) -> usize {
        self.triangle_indices.len() / 3
    }

    /// Whether a point is on land, by the shipped triangulation (holes such
    /// as the Caspian Sea are water). Used to check the data, and handy for
    /// callers that want to flag devices placed at sea.
    pub fn is_land(&self, lat: f64, lon: f64) -> bool {
        let p = mercator(lat, lon);
        self.polygons.iter().filter(|poly| poly.bbox.contains(p)).any(|poly| {
            let verts = &self.land_vertices[poly.vertex_start as usize..poly.vertex_end as usize];
            self.triangle_indices[poly.index_start as usize..poly.index_end as usize]
                .chunks_exact(3)
                .any(|t| in_triangle(p, verts[t[0] as usize], verts[t[1] as usize], verts[t[2] as usize]))
        })
    }
}

fn in_triangle(p: [f64; 2], a: [f64; 2], b: [f64; 2], c: [f64; 2]) -> bool {
    let side = |u: [f64; 2], v: [f64; 2]| (v[0] - u[0]) * (p[1] - u[1]) - (v[1] - u[1]) * (p[0] - u[0]);
    let (d1, d2, d3) = (side(a, b), side(b, c), side(c, a));
    let has_neg = d1 < 0.0 || d2 < 0.0 || d3 < 0.0;
    let has_pos = d1 > 0.0 || d2 > 0.0 || d3 > 0.0;
    !(has_neg && has_pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_file() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes()); // polygons
        b.extend_from_slice(&1u32.to_le_bytes()); // lines
        b.extend_from_slice(&1u32.to_le_bytes()); // rings
        b.extend_from_slice(&3u32.to_le_bytes()); // points
        for (lon, lat) in [(0.0f32, 0.0f32), (10.0, 0.0), (0.0, 10.0)] {
            b.extend_from_slice(&lon.to_le_bytes());
            b.extend_from_slice(&lat.to_le_bytes());
        }
        b.extend_from_slice(&1u32.to_le_bytes()); // triangles
        for i in [0u32, 1, 2] {
            b.extend_from_slice(&i.to_le_bytes());
        }
        b.extend_from_slice(&2u32.to_le_bytes()); // line points
        for (lon, lat) in [(0.0f32, 0.0f32), (5.0, 5.0)] {
            b.extend_from_slice(&lon.to_le_bytes());
            b.extend_from_slice(&lat.to_le_bytes());
        }
        b
    }

    #[test]
    fn parses_a_hand_made_file() {
        let map = Basemap::from_bytes(&tiny_file()).unwrap();
        assert_eq!(map.polygons.len(), 1);
        assert_eq!(map.triangle_count(), 1);
        assert_eq!(map.borders.len(), 1);
        assert!(map.is_land(2.0, 2.0));
        assert!(!map.is_land(8.0, 8.0));
    }

    #[test]
    fn malformed_bytes_are_clear_errors() {
        assert_eq!(Basemap::from_bytes(b""), Err(BasemapError::BadMagic));
        assert_eq!(Basemap::from_bytes(b"GIF89a\0\0\0\0\0\0"), Err(BasemapError::BadMagic));

        let good = tiny_file();
        let mut wrong_version = good.clone();
        wrong_version[8] = 7;
        assert_eq!(Basemap::from_bytes(&wrong_version), Err(BasemapError::UnsupportedVersion { found: 7 }));

        // Every truncation point fails with an error, never a panic or a partial map.
        for cut in 0..good.len() {
            let err = Basemap::from_bytes(&good[..cut]).unwrap_err();
            assert!(matches!(err, BasemapError::Truncated { .. } | BasemapError::BadMagic), "cut at {cut}: {err}");
        }

        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(Basemap::from_bytes(&trailing), Err(BasemapError::TrailingBytes(1)));

        // Triangle index past the polygon's vertices.
        let mut bad_index = good.clone();
        let at = 8 + 4 * 3 + 4 + 4 + 24 + 4 + 8;
        bad_index[at..at + 4].copy_from_slice(&3u32.to_le_bytes());
        let err = Basemap::from_bytes(&bad_index).unwrap_err();
        assert!(err.to_string().contains("triangle index 3"), "{err}");

        // A latitude of 200°.
        let mut off_globe = good.clone();
        let at = 8 + 4 * 3 + 4 + 4 + 4;
        off_globe[at..at + 4].copy_from_slice(&200.0f32.to_le_bytes());
        let err = Basemap::from_bytes(&off_globe).unwrap_err();
        assert!(err.to_string().contains("outside the globe"), "{err}");

        // A huge count is rejected before allocating.
        let mut huge = good;
        huge[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(Basemap::from_bytes(&huge), Err(BasemapError::Truncated { .. })));
    }

    #[test]
    fn embedded_map_has_land_where_land_is() {
        let map = Basemap::embedded().unwrap();
        assert!(map.polygons.len() > 1000, "{} polygons", map.polygons.len());
        assert!(map.borders.len() > 300);
        for (place, lat, lon) in [
            ("Paris", 48.85, 2.35),
            ("Nairobi", -1.29, 36.82),
            ("Denver", 39.74, -104.99),
            ("Chukotka, east of the antimeridian", 66.0, -175.0),
            ("Chukotka, west of the antimeridian", 66.5, 175.0),
            ("Antarctica", -80.0, 30.0),
        ] {
            assert!(map.is_land(lat, lon), "{place} should be land");
        }
        for (place, lat, lon) in [
            ("mid-Atlantic", 0.0, -30.0),
            ("Pacific", 30.0, -150.0),
            ("Caspian Sea (a hole in Eurasia)", 42.0, 50.5),
            ("Mediterranean", 35.0, 18.0),
        ] {
            assert!(!map.is_land(lat, lon), "{place} should be water");
        }
    }
}
