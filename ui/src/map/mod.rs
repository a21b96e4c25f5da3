//! The offline map widget (being written).
