//! Student architectures and the search space.
//!
//! `mlp:64,32` is an MLP with hidden layers of 64 and 32 units (ReLU);
//! `mlp` alone is a linear classifier. `cnn:8,16:32` is a CNN with two
//! blocks of 3×3 convolution (8 then 16 channels, padding 1) + ReLU +
//! 2×2 max-pool, then a dense hidden layer of 32 units; `cnn:8` has no
//! dense hidden layer. Every student ends in a dense layer to the classes.

use super::{DistillError, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A student's shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Arch {
    Mlp { hidden: Vec<usize> },
    Cnn { channels: Vec<usize>, hidden: Vec<usize> },
}

fn widths(spec: &str, part: &str) -> Result<Vec<usize>> {
    if part.trim().is_empty() {
        return Ok(Vec::new());
    }
    part.split(',')
        .map(|w| match w.trim().parse::<usize>() {
            Ok(n) if (1..=65_536).contains(&n) => Ok(n),
            _ => Err(DistillError::BadArch {
                spec: spec.to_owned(),
                reason: format!("`{w}` is not a width between 1 and 65536"),
            }),
        })
        .collect()
}

impl Arch {
    /// Parse `mlp[:W,…]` or `cnn:C[,C…][:W,…]`.
    pub fn parse(spec: &str) -> Result<Arch> {
        let bad = |reason: &str| DistillError::BadArch { spec: spec.to_owned(), reason: reason.to_owned() };
        let mut parts = spec.trim().splitn(3, ':');
        let kind = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let first = parts.next().unwrap_or_default();
        let second = parts.next();
        match kind.as_str() {
            "mlp" if second.is_none() => Ok(Arch::Mlp { hidden: widths(spec, first)? }),
            "mlp" => Err(bad("an MLP takes one list of widths: mlp:64,32")),
            "cnn" => {
                let channels = widths(spec, first)?;
                if channels.is_empty() {
                    return Err(bad("a CNN needs at least one convolution: cnn:8[,16][:32]"));
                }
                Ok(Arch::Cnn { channels, hidden: widths(spec, second.unwrap_or_default())? })
            }
            _ => Err(bad("expected mlp:W,… or cnn:C,…[:W,…]")),
        }
    }

    /// Check the architecture suits a sample shape (a CNN needs an image
    /// big enough for its pools).
    pub fn check_input(&self, sample_shape: &[usize]) -> Result<()> {
        if let Arch::Cnn { channels, .. } = self {
            let [_, h, w] = sample_shape else {
                return Err(DistillError::BadArch {
                    spec: self.to_string(),
                    reason: format!("a CNN needs an image input [C, H, W]; the teacher takes {sample_shape:?}"),
                });
            };
            let shrink = 1usize << channels.len();
            if h / shrink == 0 || w / shrink == 0 {
                return Err(DistillError::BadArch {
                    spec: self.to_string(),
                    reason: format!("{} pools leave nothing of a {h}×{w} image", channels.len()),
                });
            }
        }
        Ok(())
    }

    /// Number of weights for a sample shape and class count.
    pub fn params(&self, sample_shape: &[usize], classes: usize) -> u64 {
        let dense = |mut inputs: usize, hidden: &[usize]| -> u64 {
            let mut n = 0u64;
            for &w in hidden.iter().chain(std::iter::once(&classes)) {
                n += (inputs * w + w) as u64;
                inputs = w;
            }
            n
        };
        match self {
            Arch::Mlp { hidden } => dense(sample_shape.iter().product(), hidden),
            Arch::Cnn { channels, hidden } => {
                let (mut c_in, mut h, mut w) = match sample_shape {
                    [c, h, w] => (*c, *h, *w),
                    _ => return 0,
                };
                let mut n = 0u64;
                for &c in channels {
                    n += (c * c_in * 9 + c) as u64;
                    (c_in, h, w) = (c, h / 2, w / 2);
                }
                n + dense(c_in * h * w, hidden)
            }
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[usize]| v.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
        match self {
            Arch::Mlp { hidden } if hidden.is_empty() => f.write_str("mlp"),
            Arch::Mlp { hidden } => write!(f, "mlp:{}", list(hidden)),
            Arch::Cnn { channels, hidden } if hidden.is_empty() => write!(f, "cnn:{}", list(channels)),
            Arch::Cnn { channels, hidden } => write!(f, "cnn:{}:{}", list(channels), list(hidden)),
        }
    }
}

/// Widths tried: powers of two from 8 up to the teacher's widest layer.
fn width_grid(teacher_width: usize) -> Vec<usize> {
    let mut grid = vec![8];
    while let Some(&last) = grid.last()
        && last * 2 <= teacher_width.max(8)
    {
        grid.push(last * 2);
    }
    grid
}

/// The candidates a search tries, smallest first: for flat inputs, MLPs of
/// 1 to 3 hidden layers whose first layer takes each width of the grid and
/// whose later layers halve it (never below 8); for images, CNNs of one or
/// two conv blocks (channels from the grid up to 32) with a dense hidden
/// layer of each width.
pub fn search_space(sample_shape: &[usize], classes: usize, teacher_width: usize, image: bool) -> Vec<Arch> {
    let grid = width_grid(teacher_width);
    let mut out = Vec::new();
    if image {
        for depth in 1..=2usize {
            for &c in grid.iter().filter(|&&c| c <= 32) {
                let channels: Vec<usize> = (0..depth).map(|i| (c << i).min(64)).collect();
                for &w in &grid {
                    out.push(Arch::Cnn { channels: channels.clone(), hidden: vec![w] });
                }
            }
        }
        out.retain(|a| a.check_input(sample_shape).is_ok());
    } else {
        for depth in 1..=3usize {
            for &w in &grid {
                out.push(Arch::Mlp { hidden: (0..depth).map(|i| (w >> i).max(8)).collect() });
            }
        }
    }
    out.sort_by_key(|a| a.params(sample_shape, classes));
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_print_back() {
        for spec in ["mlp:64,32", "mlp", "cnn:8", "cnn:8,16:32"] {
            assert_eq!(Arch::parse(spec).unwrap().to_string(), spec);
        }
        assert_eq!(Arch::parse(" MLP:16 ").unwrap(), Arch::Mlp { hidden: vec![16] });
        for bad in ["rnn:4", "mlp:0", "mlp:a", "cnn", "cnn::8", "mlp:8:8"] {
            assert!(Arch::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn params_count_weights_and_biases() {
        // 64·16+16 + 16·10+10
        assert_eq!(Arch::parse("mlp:16").unwrap().params(&[64], 10), 1210);
        // conv 8·1·9+8 = 80; 8×4×4 = 128 → 32: 4128; 32 → 10: 330
        assert_eq!(Arch::parse("cnn:8:32").unwrap().params(&[1, 8, 8], 10), 80 + 4128 + 330);
    }

    #[test]
    fn cnns_need_images_big_enough_for_their_pools() {
        assert!(Arch::parse("cnn:8").unwrap().check_input(&[64]).is_err());
        assert!(Arch::parse("cnn:8,8,8,8").unwrap().check_input(&[1, 8, 8]).is_err());
        assert!(Arch::parse("cnn:8,8").unwrap().check_input(&[1, 8, 8]).is_ok());
    }

    #[test]
    fn the_search_space_spans_depths_and_widths_up_to_the_teacher() {
        let space = search_space(&[64], 10, 128, false);
        assert_eq!(space.len(), 15);
        assert!(space.contains(&Arch::Mlp { hidden: vec![8] }));
        assert!(space.contains(&Arch::Mlp { hidden: vec![128, 64, 32] }));
        let p: Vec<u64> = space.iter().map(|a| a.params(&[64], 10)).collect();
        assert!(p.windows(2).all(|w| w[0] <= w[1]), "{p:?}");
        let cnn = search_space(&[1, 8, 8], 10, 128, true);
        assert!(!cnn.is_empty() && cnn.iter().all(|a| matches!(a, Arch::Cnn { .. })));
    }
}
