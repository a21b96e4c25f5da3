//! The rows a student learns from: a CSV of float features, one sample a
//! line, optionally with an integer class label last (`labels_last`), read
//! by [`crate::csv_rows`]. The file's SHA-256 goes into the student's
//! recipe.

use super::{DistillError, Result};
use crate::csv_rows::{CsvRows, parse_csv_rows};
use std::path::Path;

/// Rows (and labels when the file has them) read from one file.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub rows: Vec<Vec<f32>>,
    /// One label per row when the file has a label column.
    pub labels: Option<Vec<usize>>,
    /// The 1-based line each row came from (for error messages).
    pub lines: Vec<usize>,
    /// SHA-256 of the file's bytes, lowercase hex.
    pub sha256: String,
    /// The file name, for messages and the recipe.
    pub source_name: String,
}

impl Dataset {
    /// Read a CSV file.
    pub fn from_path(path: &Path, labels_last: bool) -> Result<Dataset> {
        let bytes =
            std::fs::read(path).map_err(|source| DistillError::Io { path: path.display().to_string(), source })?;
        Dataset::parse(&bytes, &path.display().to_string(), labels_last)
    }

    /// Parse CSV bytes; `source_name` names them in errors.
    pub fn parse(bytes: &[u8], source_name: &str, labels_last: bool) -> Result<Dataset> {
        let CsvRows { rows, labels, lines } = parse_csv_rows(bytes, labels_last).map_err(|e| DistillError::BadRow {
            source_name: source_name.to_owned(),
            line: e.line,
            reason: e.reason,
        })?;
        if rows.is_empty() {
            return Err(DistillError::EmptyData { source_name: source_name.to_owned() });
        }
        Ok(Dataset {
            rows,
            labels: labels_last.then_some(labels),
            lines,
            sha256: edgefleet_core::sha256_hex(bytes),
            source_name: source_name.to_owned(),
        })
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Features per row.
    pub fn width(&self) -> usize {
        self.rows.first().map_or(0, Vec::len)
    }

    /// Check the rows are as wide as the teacher's input and the labels name
    /// its classes.
    pub fn check_fits(&self, features: usize, classes: usize) -> Result<()> {
        let width = self.width();
        if width != features {
            let hint = match (self.labels.is_some(), width) {
                (false, w) if w == features + 1 => " (is the last column a label? give --labels-last)",
                (true, w) if w + 1 == features => " (the file seems to have no label column: drop --labels-last)",
                _ => "",
            };
            return Err(DistillError::WrongWidth {
                source_name: self.source_name.clone(),
                reason: format!("rows have {width} features but the teacher takes {features}{hint}"),
            });
        }
        if let Some(labels) = &self.labels
            && let Some((i, l)) = labels.iter().enumerate().find(|(_, l)| **l >= classes)
        {
            return Err(DistillError::BadRow {
                source_name: self.source_name.clone(),
                line: self.lines[i],
                reason: format!("label {l} is not one of the teacher's {classes} classes (0..{})", classes - 1),
            });
        }
        Ok(())
    }

    /// A seeded split: indices to train on and indices held out (at least
    /// one of each).
    pub fn split(&self, held_out_fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
        let mut order: Vec<usize> = (0..self.len()).collect();
        fastrand::Rng::with_seed(seed).shuffle(&mut order);
        let held = ((self.len() as f64 * held_out_fraction).round() as usize).clamp(1, self.len().saturating_sub(1));
        let train = order.split_off(held);
        (train, order)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_labels_are_read_and_hashed() {
        let d = Dataset::parse(b"# x,y,label\n0.5,1,3\n\n2,-1,0\n", "d.csv", true).unwrap();
        assert_eq!(d.rows, vec![vec![0.5, 1.0], vec![2.0, -1.0]]);
        assert_eq!(d.labels, Some(vec![3, 0]));
        assert_eq!(d.lines, vec![2, 4]);
        assert_eq!(d.sha256.len(), 64);
        let u = Dataset::parse(b"0.5,1,3\n", "d.csv", false).unwrap();
        assert_eq!((u.width(), u.labels), (3, None));
    }

    #[test]
    fn bad_rows_name_their_line() {
        let e = Dataset::parse(b"1,2,0\n1,NaN,0\n", "d.csv", true).unwrap_err();
        assert_eq!(e.to_string(), "d.csv line 2: column 2 is NaN; values must be finite numbers");
        let e = Dataset::parse(b"1,2,0\n1,0\n", "d.csv", true).unwrap_err();
        assert_eq!(e.to_string(), "d.csv line 2: has 2 columns; line 1 has 3");
        let e = Dataset::parse(b"a,b\n1,2\n", "d.csv", false).unwrap_err();
        assert!(e.to_string().contains("line 1: column 1 `a` is not a number"), "{e}");
        let e = Dataset::parse(b"1,2,x\n", "d.csv", true).unwrap_err();
        assert!(e.to_string().contains("label `x`"), "{e}");
        let e = Dataset::parse(b"# nothing\n\n", "d.csv", false).unwrap_err();
        assert!(matches!(e, DistillError::EmptyData { .. }), "{e}");
    }

    #[test]
    fn width_and_labels_are_checked_against_the_teacher() {
        let d = Dataset::parse(b"1,2,3\n", "d.csv", false).unwrap();
        let e = d.check_fits(2, 10).unwrap_err();
        assert!(e.to_string().contains("--labels-last"), "{e}");
        let d = Dataset::parse(b"1,2,12\n", "d.csv", true).unwrap();
        let e = d.check_fits(2, 10).unwrap_err();
        assert!(e.to_string().contains("label 12"), "{e}");
        assert!(d.check_fits(2, 13).is_ok());
    }

    #[test]
    fn the_split_is_seeded_and_disjoint() {
        let text: String = (0..10).map(|i| format!("{i}\n")).collect();
        let d = Dataset::parse(text.as_bytes(), "d.csv", false).unwrap();
        let (train, held) = d.split(0.2, 7);
        assert_eq!((train.len(), held.len()), (8, 2));
        assert_eq!(d.split(0.2, 7), (train.clone(), held.clone()));
        let mut all: Vec<usize> = train.into_iter().chain(held).collect();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
    }
}
