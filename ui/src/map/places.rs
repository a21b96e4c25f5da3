//! Place labels: the world's towns and cities of at least 30,000 people
//! (GeoNames, via `assets/basemap/places.tsv`), so a fleet seen at city
//! scale has names around it. Which labels show depends on the zoom (big
//! cities first) and on room: a label never overlaps one already placed.

use super::projection::{ScreenProjection, mercator};
use egui::{Align2, Color32, FontId, Painter, Pos2, Rect, Vec2};
use std::sync::OnceLock;

/// The shipped places file, compiled into the binary.
const PLACES_TSV: &str = include_str!("../../../assets/basemap/places.tsv");
/// At most this many labels a frame, so a dense region stays readable.
const MAX_LABELS: usize = 120;
const DOT_RADIUS: f32 = 2.0;
const LABEL_GAP_PX: f32 = 4.0;

/// One place, with its Web Mercator position precomputed.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    pub name: String,
    pub population: u64,
    pub world: [f64; 2],
}

/// Places sorted by population, largest first.
#[derive(Debug, Clone, Default)]
pub struct Places {
    places: Vec<Place>,
}

/// Why a places file was refused.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacesError {
    pub line: usize,
    pub reason: String,
}

impl std::fmt::Display for PlacesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "places line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for PlacesError {}

impl Places {
    /// Parse `population<TAB>lat<TAB>lon<TAB>name` lines (`#` starts a comment).
    pub fn parse(text: &str) -> Result<Places, PlacesError> {
        let mut places = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let err = |reason: &str| PlacesError { line: i + 1, reason: reason.to_owned() };
            let mut cols = line.splitn(4, '\t');
            let (Some(pop), Some(lat), Some(lon), Some(name)) = (cols.next(), cols.next(), cols.next(), cols.next())
            else {
                return Err(err("expected 4 tab-separated columns"));
            };
            let population: u64 = pop.parse().map_err(|_| err("population is not a whole number"))?;
            let lat: f64 = lat.parse().map_err(|_| err("latitude is not a number"))?;
            let lon: f64 = lon.parse().map_err(|_| err("longitude is not a number"))?;
            if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
                return Err(err("position out of range"));
            }
            places.push(Place { name: name.to_owned(), population, world: mercator(lat, lon) });
        }
        places.sort_by_key(|p| std::cmp::Reverse(p.population));
        Ok(places.into())
    }

    /// The shipped places, parsed once.
    pub fn embedded() -> &'static Places {
        static PLACES: OnceLock<Places> = OnceLock::new();
        PLACES.get_or_init(|| {
            Places::parse(PLACES_TSV).unwrap_or_else(|e| {
                // The file is generated and tested; if it ever breaks, the map
                // still works, only without names.
                tracing::error!("shipped place names are unreadable: {e}");
                Places::default()
            })
        })
    }

    pub fn len(&self) -> usize {
        self.places.len()
    }

    pub fn is_empty(&self) -> bool {
        self.places.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<&Place> {
        self.places.get(i)
    }
}

impl From<Vec<Place>> for Places {
    fn from(places: Vec<Place>) -> Self {
        Places { places }
    }
}

/// Smallest population labelled at a zoom level: only the largest cities on
/// the world view, every place in the file at city scale.
pub fn min_population_at(zoom: f64) -> u64 {
    match zoom {
        z if z < 3.0 => 10_000_000,
        z if z < 4.5 => 5_000_000,
        z if z < 6.0 => 2_000_000,
        z if z < 7.0 => 1_000_000,
        z if z < 8.0 => 300_000,
        z if z < 9.0 => 150_000,
        z if z < 10.0 => 80_000,
        _ => 0,
    }
}

/// Choose which places to label: largest first, inside `view`, above the
/// zoom's population floor, and not overlapping a label already chosen.
/// `measure` gives a label's size. Returns (place index, dot position,
/// label rect).
pub fn choose_labels(
    places: &Places,
    to_screen: impl Fn([f64; 2]) -> Pos2,
    view: Rect,
    zoom: f64,
    measure: impl Fn(&Place) -> Vec2,
) -> Vec<(usize, Pos2, Rect)> {
    let floor = min_population_at(zoom);
    let mut chosen: Vec<(usize, Pos2, Rect)> = Vec::new();
    for (i, place) in places.places.iter().enumerate() {
        // Sorted by population: nothing after this one qualifies.
        if place.population < floor || chosen.len() >= MAX_LABELS {
            break;
        }
        let dot = to_screen(place.world);
        if !view.contains(dot) {
            continue;
        }
        let size = measure(place);
        let label = Rect::from_min_size(Pos2::new(dot.x + LABEL_GAP_PX, dot.y - size.y / 2.0), size);
        if !view.contains_rect(label) || chosen.iter().any(|(_, _, r)| r.expand(2.0).intersects(label)) {
            continue;
        }
        chosen.push((i, dot, label));
    }
    chosen
}

/// Draw the chosen place labels: a small dot and the name.
pub fn paint_places(
    painter: &Painter,
    proj: &ScreenProjection,
    view: Rect,
    zoom: f64,
    places: &Places,
    color: Color32,
) {
    let font = |p: &Place| FontId::proportional(if p.population >= 1_000_000 { 12.5 } else { 11.0 });
    let measure = |p: &Place| painter.layout_no_wrap(p.name.clone(), font(p), color).size();
    for (i, dot, label) in choose_labels(places, |w| proj.to_screen(w), view, zoom, measure) {
        let Some(place) = places.get(i) else { continue };
        painter.circle_filled(dot, DOT_RADIUS, color);
        painter.text(label.left_center(), Align2::LEFT_CENTER, &place.name, font(place), color);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_places_parse_sorted_and_include_paris() {
        let places = Places::parse(PLACES_TSV).unwrap();
        assert!(places.len() > 10_000, "{}", places.len());
        assert!(places.places.windows(2).all(|w| w[0].population >= w[1].population));
        assert!(places.places.iter().any(|p| p.name == "Paris"));
    }

    #[test]
    fn bad_lines_are_reported_with_their_number() {
        let err = Places::parse("# header\n100\t1\t2\tOk\nnot-a-number\t1\t2\tX\n").unwrap_err();
        assert_eq!(err.line, 3);
        assert!(Places::parse("100\t95\t2\tNorth of the pole\n").is_err());
        assert!(Places::parse("100\t1\t2\n").is_err());
    }

    fn toy() -> Places {
        Places::parse("5000000\t0\t0\tBig\n400000\t0\t0.001\tNear\n90000\t0\t10\tFar\n").unwrap()
    }

    /// A projection that maps world x/y straight to points, scaled.
    fn screen(w: [f64; 2]) -> Pos2 {
        Pos2::new(((w[0] - 0.5) * 10_000.0 + 500.0) as f32, ((w[1] - 0.5) * 10_000.0 + 500.0) as f32)
    }

    #[test]
    fn labels_never_overlap_and_respect_the_zoom_floor() {
        let view = Rect::from_min_size(Pos2::ZERO, Vec2::splat(1000.0));
        let measure = |_: &Place| Vec2::new(60.0, 12.0);
        // Zoomed in: "Near" sits on top of "Big", so only the bigger one shows.
        let places = toy();
        let chosen = choose_labels(&places, screen, view, 12.0, measure);
        let names: Vec<&str> = chosen.iter().map(|(i, _, _)| places.places[*i].name.as_str()).collect();
        assert!(names.contains(&"Big") && !names.contains(&"Near"), "{names:?}");
        for (a, (_, _, ra)) in chosen.iter().enumerate() {
            for (_, _, rb) in &chosen[a + 1..] {
                assert!(!ra.intersects(*rb));
            }
        }
        // The world view keeps only places above 10 million: none here.
        assert!(choose_labels(&toy(), screen, view, 2.0, measure).is_empty());
    }
}
