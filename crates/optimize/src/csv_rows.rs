//! The one CSV reader for sample files (evaluation data, distillation data,
//! calibration rows): one sample a line, float features, optionally an
//! integer class label last. Blank lines and lines starting with `#` are
//! skipped; anything else that is not a finite number is an error naming
//! its line and column. Callers wrap [`RowError`] in their own error type.

/// Rows read from CSV text, with the label column split off when asked.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CsvRows {
    pub rows: Vec<Vec<f32>>,
    /// One label per row when `labels_last` was given (empty otherwise).
    pub labels: Vec<usize>,
    /// The 1-based line each row came from (for later error messages).
    pub lines: Vec<usize>,
}

/// A malformed line: where, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based line number.
    pub line: usize,
    pub reason: String,
}

/// Parse CSV bytes. With `labels_last`, the last column of every line is a
/// non-negative whole-number label.
pub fn parse_csv_rows(bytes: &[u8], labels_last: bool) -> Result<CsvRows, RowError> {
    let bad = |line: usize, reason: String| RowError { line, reason };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count() + 1;
        bad(line, "is not UTF-8 text".into())
    })?;
    let mut out = CsvRows::default();
    let mut width: Option<(usize, usize)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = trimmed.split(',').map(str::trim).collect();
        if let Some((w, first)) = width
            && w != fields.len()
        {
            return Err(bad(line, format!("has {} columns; line {first} has {w}", fields.len())));
        }
        width.get_or_insert((fields.len(), line));
        let features = if labels_last {
            let Some((label_text, features)) = fields.split_last().filter(|(_, f)| !f.is_empty()) else {
                return Err(bad(line, "needs at least one feature before the label".into()));
            };
            let label = label_text
                .parse::<usize>()
                .map_err(|_| bad(line, format!("the label `{label_text}` is not a non-negative whole number")))?;
            out.labels.push(label);
            features
        } else {
            &fields[..]
        };
        let row = features
            .iter()
            .enumerate()
            .map(|(col, f)| match f.parse::<f32>() {
                Ok(v) if v.is_finite() => Ok(v),
                Ok(v) => Err(bad(line, format!("column {} is {v}; values must be finite numbers", col + 1))),
                // A header is the likely cause only on the first line with data.
                Err(_) if out.rows.is_empty() => Err(bad(
                    line,
                    format!("column {} `{f}` is not a number (a header line must start with #)", col + 1),
                )),
                Err(_) => Err(bad(line, format!("column {} `{f}` is not a finite number", col + 1))),
            })
            .collect::<Result<Vec<f32>, RowError>>()?;
        out.rows.push(row);
        out.lines.push(line);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_split_off_and_comments_skipped() {
        let rows = parse_csv_rows(b"# a header\n1,2,0\n\n3.5,4,1\n", true).expect("valid");
        assert_eq!(rows.rows, vec![vec![1.0, 2.0], vec![3.5, 4.0]]);
        assert_eq!(rows.labels, vec![0, 1]);
        assert_eq!(rows.lines, vec![2, 4]);
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = parse_csv_rows(b"1,2\n1,x\n", false).expect_err("x is not a number");
        assert_eq!((e.line, e.reason.as_str()), (2, "column 2 `x` is not a finite number"));
        let e = parse_csv_rows(b"a,b\n1,2\n", false).expect_err("a header");
        assert!(e.reason.contains("header line must start with #"), "{}", e.reason);
        let e = parse_csv_rows(b"1,2\n1,2,3\n", false).expect_err("ragged");
        assert!(e.reason.contains("line 1 has 2"), "{}", e.reason);
        let e = parse_csv_rows(b"1,2,-1\n", true).expect_err("negative label");
        assert!(e.reason.contains("label"), "{}", e.reason);
        let e = parse_csv_rows(b"1,inf\n", false).expect_err("not finite");
        assert!(e.reason.contains("finite"), "{}", e.reason);
        let e = parse_csv_rows(b"1,2\n\xff\n", false).expect_err("not UTF-8");
        assert_eq!(e.line, 2);
    }
}
