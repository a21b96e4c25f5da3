//! `edgefleet import MODEL.onnx [--json]`: profile an ONNX model and add it
//! to the library in the registry — the twin of the app's Import. Its name
//! is the file stem, its version the first 12 hex digits of its SHA-256.

use super::store_args::open_store;
use super::{BadInput, GlobalArgs};
use edgefleet_core::human_bytes;
use edgefleet_fleet::{LibraryError, ModelFile, add_model};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The ONNX model file.
    pub model: PathBuf,
    /// Print the added model as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Problems with the user's file (not ONNX, unreadable, not a usable model,
/// already in the library) are bad input, exit 2; registry failures exit 1.
pub(crate) fn classify(err: LibraryError) -> anyhow::Error {
    match err {
        LibraryError::NotOnnx { .. }
        | LibraryError::Unreadable { .. }
        | LibraryError::NotAModel { .. }
        | LibraryError::AlreadyInLibrary { .. } => anyhow::Error::new(BadInput(err.to_string())),
        // The message already carries its cause: one line, not the chain twice.
        other => anyhow::Error::msg(other.to_string()),
    }
}

pub fn run(global: &GlobalArgs, args: ImportArgs) -> anyhow::Result<()> {
    // Read and profile the file before touching the registry: a bad file
    // never opens (or creates) the database.
    let file = ModelFile::read(&args.model).map_err(classify)?;
    let store = open_store(global)?;
    let record = add_model(&store, file).map_err(classify)?;
    let text = if args.json {
        serde_json::to_string_pretty(&record)? + "\n"
    } else {
        let params = record.profile.as_ref().map_or_else(|| "?".to_owned(), |p| p.params.to_string());
        format!(
            "added {} v{} (id {}): {}, {params} params\n  {}\n",
            record.name,
            record.version,
            record.id,
            human_bytes(record.size_bytes),
            record.path
        )
    };
    // write! rather than print!: a closed pipe is an error, not a panic.
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(())
}
