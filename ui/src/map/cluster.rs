//! Where each marker goes on screen this frame: grid clustering when zoomed
//! out, and fanning apart of markers that sit on the same spot when zoomed
//! in. One pass with a hash grid, O(n) in the number of visible markers.
//!
//! The grid is anchored to the world (keys count cells from the world's
//! top-left corner at the current zoom), not to the screen, so clusters do
//! not reshuffle while the map is dragged.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Range;

use egui::{Pos2, Vec2};

/// How markers that share a grid cell are shown.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LayoutMode {
    /// Markers in the same `cell_px` cell become one cluster.
    Cluster { cell_px: f64 },
    /// Markers within the same `same_spot_px` cell are fanned out so that
    /// neighbours are at least `gap_px` apart.
    Spread { same_spot_px: f64, gap_px: f32 },
}

/// One thing drawn on the map.
#[derive(Debug, Clone, PartialEq)]
pub enum Glyph {
    /// A single marker (`marker` indexes the caller's slice). `anchor` is
    /// its true position when it was fanned away from it.
    Marker { marker: usize, pos: Pos2, anchor: Option<Pos2> },
    /// Several markers; `members` is a range into [`MarkerLayout::members`],
    /// `worst` the member whose colour the cluster shows.
    Cluster { pos: Pos2, members: Range<usize>, worst: usize },
}

impl Glyph {
    pub fn pos(&self) -> Pos2 {
        match self {
            Glyph::Marker { pos, .. } | Glyph::Cluster { pos, .. } => *pos,
        }
    }
}

/// The frame's glyphs, in drawing order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MarkerLayout {
    pub glyphs: Vec<Glyph>,
    /// Marker indices of all clusters, grouped; see [`Glyph::Cluster`].
    pub members: Vec<usize>,
}

impl MarkerLayout {
    pub fn cluster_members(&self, glyph: &Glyph) -> &[usize] {
        match glyph {
            Glyph::Cluster { members, .. } => &self.members[members.clone()],
            Glyph::Marker { .. } => &[],
        }
    }
}

/// A multiply-xorshift hasher for the (i64, i64) cell keys: the std SipHash
/// is most of the cost of clustering 10,000 markers, and these keys come
/// from our own arithmetic, not from an attacker.
#[derive(Default)]
struct CellHasher(u64);

impl Hasher for CellHasher {
    fn finish(&self) -> u64 {
        let h = self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h ^ (h >> 29)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x100_0000_01B3);
        }
    }
    fn write_i64(&mut self, n: i64) {
        self.0 = (self.0.rotate_left(23) ^ n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type CellMap = HashMap<(i64, i64), u32, BuildHasherDefault<CellHasher>>;

/// Lays out `points` — (marker index, screen position in f64) — for one frame.
///
/// `grid_origin` is the screen position of the world's top-left corner;
/// `severity` ranks a marker's colour for the cluster's worst-member pick
/// (ties go to the earlier marker).
pub fn layout_markers(
    points: &[(usize, [f64; 2])],
    grid_origin: [f64; 2],
    mode: LayoutMode,
    severity: impl Fn(usize) -> u8,
) -> MarkerLayout {
    let cell_px = match mode {
        LayoutMode::Cluster { cell_px } => cell_px,
        LayoutMode::Spread { same_spot_px, .. } => same_spot_px,
    }
    .max(1e-3);

    // Pass 1: the group (cell) of each point, and group sizes.
    let mut cells = CellMap::with_capacity_and_hasher(points.len().min(4096), Default::default());
    let mut group_of = Vec::with_capacity(points.len());
    let mut sizes: Vec<u32> = Vec::new();
    for &(_, p) in points {
        let key =
            (((p[0] - grid_origin[0]) / cell_px).floor() as i64, ((p[1] - grid_origin[1]) / cell_px).floor() as i64);
        let next = sizes.len() as u32;
        let group = *cells.entry(key).or_insert(next);
        if group == next {
            sizes.push(0);
        }
        sizes[group as usize] += 1;
        group_of.push(group);
    }

    // Pass 2: counting sort of points by group, keeping input order inside a group.
    let mut starts = Vec::with_capacity(sizes.len() + 1);
    let mut total = 0usize;
    for &size in &sizes {
        starts.push(total);
        total += size as usize;
    }
    starts.push(total);
    let mut fill = starts.clone();
    let mut sorted = vec![0usize; points.len()];
    for (i, &group) in group_of.iter().enumerate() {
        sorted[fill[group as usize]] = i;
        fill[group as usize] += 1;
    }

    // Pass 3: one glyph (or a fan of glyphs) per group.
    let mut layout = MarkerLayout { glyphs: Vec::with_capacity(sizes.len()), members: Vec::new() };
    for group in 0..sizes.len() {
        let idx = &sorted[starts[group]..starts[group + 1]];
        if let [only] = idx {
            let (marker, p) = points[*only];
            layout.glyphs.push(Glyph::Marker { marker, pos: to_pos(p), anchor: None });
            continue;
        }
        let n = idx.len() as f64;
        let (sx, sy) = idx.iter().fold((0.0, 0.0), |(x, y), &i| (x + points[i].1[0], y + points[i].1[1]));
        let centroid = Pos2::new((sx / n) as f32, (sy / n) as f32);
        match mode {
            LayoutMode::Cluster { .. } => {
                let start = layout.members.len();
                layout.members.extend(idx.iter().map(|&i| points[i].0));
                let worst = idx
                    .iter()
                    .map(|&i| points[i].0)
                    .fold(points[idx[0]].0, |worst, m| if severity(m) > severity(worst) { m } else { worst });
                layout.glyphs.push(Glyph::Cluster { pos: centroid, members: start..layout.members.len(), worst });
            }
            LayoutMode::Spread { gap_px, .. } => {
                for (k, &i) in idx.iter().enumerate() {
                    let pos = spread_position(centroid, k, idx.len(), gap_px);
                    layout.glyphs.push(Glyph::Marker { marker: points[i].0, pos, anchor: Some(to_pos(points[i].1)) });
                }
            }
        }
    }
    layout
}

fn to_pos(p: [f64; 2]) -> Pos2 {
    Pos2::new(p[0] as f32, p[1] as f32)
}

/// Position of the `k`-th of `n` markers fanned around `center`, neighbours
/// at least about `gap_px` apart: a circle for a handful, a sunflower
/// (Vogel) spiral for more, so a hundred devices in one building stay compact.
pub fn spread_position(center: Pos2, k: usize, n: usize, gap_px: f32) -> Pos2 {
    const CIRCLE_MAX: usize = 10;
    let k_f = k as f32;
    if n <= CIRCLE_MAX {
        let n_f = n.max(1) as f32;
        // Chord between neighbours = 2 r sin(π/n) ≥ gap.
        let radius = (gap_px / (2.0 * (std::f32::consts::PI / n_f.max(2.0)).sin())).max(gap_px);
        let angle = -std::f32::consts::FRAC_PI_2 + std::f32::consts::TAU * k_f / n_f;
        center + radius * Vec2::angled(angle)
    } else {
        // Golden-angle spiral: nearest neighbours sit about 1.7 · c apart.
        let golden = std::f32::consts::PI * (3.0 - 5.0f32.sqrt());
        let c = gap_px / 1.5;
        center + c * (k_f + 1.0).sqrt() * Vec2::angled(k_f * golden)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_severity(_: usize) -> u8 {
        0
    }

    #[test]
    fn clusters_group_by_cell_and_count_every_marker() {
        // Three markers in the cell [0, 50)², two in [50, 100) × [0, 50), one far away.
        let points = vec![
            (0, [1.0, 1.0]),
            (1, [49.0, 49.0]),
            (2, [60.0, 10.0]),
            (3, [20.0, 30.0]),
            (4, [99.0, 0.5]),
            (5, [1000.0, 1000.0]),
        ];
        let severity = |m: usize| [1, 1, 1, 3, 2, 1][m];
        let layout = layout_markers(&points, [0.0, 0.0], LayoutMode::Cluster { cell_px: 50.0 }, severity);
        assert_eq!(layout.glyphs.len(), 3);
        let mut seen = Vec::new();
        for glyph in &layout.glyphs {
            match glyph {
                Glyph::Cluster { worst, .. } => {
                    let members = layout.cluster_members(glyph).to_vec();
                    match members.len() {
                        3 => {
                            assert_eq!(members, vec![0, 1, 3]);
                            assert_eq!(*worst, 3, "worst status wins");
                            assert_eq!(glyph.pos(), Pos2::new(70.0 / 3.0, 80.0 / 3.0), "centroid");
                        }
                        2 => {
                            assert_eq!(members, vec![2, 4]);
                            assert_eq!(*worst, 4);
                        }
                        other => panic!("unexpected cluster of {other}"),
                    }
                    seen.extend(members);
                }
                Glyph::Marker { marker, pos, anchor } => {
                    assert_eq!((*marker, *pos, *anchor), (5, Pos2::new(1000.0, 1000.0), None));
                    seen.push(*marker);
                }
            }
        }
        seen.sort_unstable();
        assert_eq!(seen, vec![0, 1, 2, 3, 4, 5], "every marker exactly once");
    }

    #[test]
    fn grid_is_anchored_to_the_world_not_the_screen() {
        // Panning by 30 px moves the points and the grid origin together: same groups.
        let points = vec![(0, [10.0, 10.0]), (1, [40.0, 10.0]), (2, [55.0, 10.0])];
        let a = layout_markers(&points, [0.0, 0.0], LayoutMode::Cluster { cell_px: 50.0 }, no_severity);
        let panned: Vec<_> = points.iter().map(|&(i, p)| (i, [p[0] + 30.0, p[1]])).collect();
        let b = layout_markers(&panned, [30.0, 0.0], LayoutMode::Cluster { cell_px: 50.0 }, no_severity);
        assert_eq!(a.members, b.members);
        assert_eq!(a.glyphs.len(), b.glyphs.len());
    }

    #[test]
    fn ten_thousand_markers_are_all_accounted_for() {
        let mut rng = fastrand_like(7);
        let points: Vec<_> = (0..10_000).map(|i| (i, [rng() * 1400.0, rng() * 900.0])).collect();
        let layout = layout_markers(&points, [-3.0, -7.0], LayoutMode::Cluster { cell_px: 48.0 }, no_severity);
        let mut total = 0;
        for glyph in &layout.glyphs {
            total += match glyph {
                Glyph::Cluster { members, .. } => members.len(),
                Glyph::Marker { .. } => 1,
            };
        }
        assert_eq!(total, 10_000);
        // 1400×900 px with 48 px cells is at most 30 × 20 cells (+ edges).
        assert!(layout.glyphs.len() <= 31 * 21, "{}", layout.glyphs.len());
    }

    #[test]
    fn co_located_markers_get_distinct_positions() {
        for n in [2usize, 3, 7, 10, 11, 50, 300] {
            let points: Vec<_> = (0..n).map(|i| (i, [500.0, 300.0])).collect();
            let layout = layout_markers(
                &points,
                [0.0, 0.0],
                LayoutMode::Spread { same_spot_px: 6.0, gap_px: 14.0 },
                no_severity,
            );
            assert_eq!(layout.glyphs.len(), n);
            let positions: Vec<Pos2> = layout.glyphs.iter().map(Glyph::pos).collect();
            let mut min_gap = f32::INFINITY;
            for i in 0..n {
                for j in i + 1..n {
                    min_gap = min_gap.min(positions[i].distance(positions[j]));
                }
            }
            assert!(min_gap >= 12.0, "n={n}: neighbours only {min_gap} px apart");
            for glyph in &layout.glyphs {
                let Glyph::Marker { anchor, pos, .. } = glyph else { panic!("spread never clusters") };
                assert_eq!(*anchor, Some(Pos2::new(500.0, 300.0)), "remembers the true spot");
                assert!(pos.distance(Pos2::new(500.0, 300.0)) > 5.0, "moved off the spot");
            }
        }
        // Markers apart from each other are left where they are.
        let apart = vec![(0, [0.0, 0.0]), (1, [100.0, 0.0])];
        let layout =
            layout_markers(&apart, [0.0, 0.0], LayoutMode::Spread { same_spot_px: 6.0, gap_px: 14.0 }, no_severity);
        assert!(layout.glyphs.iter().all(|g| matches!(g, Glyph::Marker { anchor: None, .. })));
    }

    /// A tiny deterministic generator, so the test needs no extra dependency.
    fn fastrand_like(seed: u64) -> impl FnMut() -> f64 {
        let mut s = seed;
        move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64
        }
    }
}
