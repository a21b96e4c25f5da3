//! `edgefleet models [--json]`: the library in the registry as a tree — each
//! imported model followed by the variants optimized from it (and theirs),
//! with size, parameters, recipe and accuracy when it was measured. The
//! twin of the app's library panel.

use super::GlobalArgs;
use super::store_args::open_store;
use edgefleet_core::human_bytes;
use edgefleet_fleet::{LineageNode, lineage};
use std::io::Write;

#[derive(Debug, clap::Args)]
pub struct ModelsArgs {
    /// Print the tree as JSON (each model with its `variants`).
    #[arg(long)]
    pub json: bool,
}

pub fn run(global: &GlobalArgs, args: ModelsArgs) -> anyhow::Result<()> {
    let store = open_store(global)?;
    let tree = lineage(&store.list_models()?);
    let text = if args.json {
        serde_json::to_string_pretty(&tree)? + "\n"
    } else if tree.is_empty() {
        "the library is empty: `edgefleet import MODEL.onnx` adds a model\n".to_owned()
    } else {
        table(&tree)
    };
    // write! rather than print!: a closed pipe (`| head`) is an error, not a panic.
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(())
}

/// One line a model, variants indented under their parent.
fn table(tree: &[LineageNode]) -> String {
    fn rows(node: &LineageNode, depth: usize, out: &mut String) {
        let name = if depth == 0 {
            node.model.name.clone()
        } else {
            format!("{}└ {}", "  ".repeat(depth - 1), node.model.name)
        };
        let params = node.params.map_or_else(|| "-".to_owned(), |p| p.to_string());
        let accuracy = node.accuracy.map_or_else(|| "-".to_owned(), |a| format!("{:.2}%", a * 100.0));
        out.push_str(&format!(
            "{:>4}  {:<28} {:<13} {:>10} {:>10} {:>8}  {}\n",
            node.model.id,
            name,
            node.model.version,
            human_bytes(node.model.size_bytes),
            params,
            accuracy,
            node.model.recipe.as_deref().unwrap_or("-")
        ));
        for v in &node.variants {
            rows(v, depth + 1, out);
        }
    }
    let mut out = format!(
        "{:>4}  {:<28} {:<13} {:>10} {:>10} {:>8}  RECIPE\n",
        "ID", "MODEL", "VERSION", "SIZE", "PARAMS", "ACCURACY"
    );
    for node in tree {
        rows(node, 0, &mut out);
    }
    out
}
