//! What the agent parses from a request: the `Content-Range` header of a
//! resumed upload, and a predict body run through the demo model exactly as
//! the agent runs it. The first byte picks which; errors are fine, panics
//! are not.
#![no_main]

use edgefleet_core::wire::PredictRequest;
use edgefleet_optimize::Runner;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// The agent's cap on rows a request.
const MAX_ROWS: usize = 4096;

fn runner() -> &'static Runner {
    static RUNNER: OnceLock<Runner> = OnceLock::new();
    RUNNER.get_or_init(|| {
        let bytes = include_bytes!("../../assets/models/mlp_digits.onnx");
        Runner::from_bytes(bytes).expect("the demo model loads")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    if which % 2 == 0 {
        let Ok(text) = std::str::from_utf8(rest) else { return };
        if let Ok(range) = edgefleet_agent::ContentRange::parse(text) {
            assert!(range.start <= range.total, "{text:?} gave {range:?}");
        }
    } else if let Ok(req) = serde_json::from_slice::<PredictRequest>(rest)
        && !req.inputs.is_empty()
        && req.inputs.len() <= MAX_ROWS
    {
        let _ = runner().run_rows(&req.inputs);
    }
});
