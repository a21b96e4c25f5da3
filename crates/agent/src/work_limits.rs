//! What bounds the work one request can make an agent do: slots for
//! predict and benchmark requests (a semaphore each; a request waits a
//! little for a slot, then gets 503), and a time budget that caps a
//! benchmark's iterations and a size cap on its batches.

use crate::api_error::ApiError;
use axum::http::StatusCode;
use std::time::Duration;

/// Wall time one benchmark request may spend timing runs, over all its batch sizes.
pub(crate) const BENCHMARK_BUDGET: Duration = Duration::from_secs(10);
/// Input values (batch × features) one benchmark batch may allocate.
pub(crate) const MAX_BENCH_VALUES: usize = 16 * 1024 * 1024;

/// Longest wait for a predict or benchmark slot before answering 503.
const PERMIT_WAIT: Duration = Duration::from_secs(10);

/// A slot of `permits` (predict or benchmark), waiting at most
/// [`PERMIT_WAIT`]; 503 `busy` beyond.
pub(crate) async fn acquire<'a>(
    permits: &'a tokio::sync::Semaphore,
    what: &str,
) -> Result<tokio::sync::SemaphorePermit<'a>, ApiError> {
    acquire_within(permits, what, PERMIT_WAIT).await
}

async fn acquire_within<'a>(
    permits: &'a tokio::sync::Semaphore,
    what: &str,
    wait: Duration,
) -> Result<tokio::sync::SemaphorePermit<'a>, ApiError> {
    let busy = || {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", format!("every {what} slot is taken; retry shortly"))
            .with_header("retry-after", 1)
    };
    match tokio::time::timeout(wait, permits.acquire()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(busy()),
    }
}

/// Timed runs to make of one batch size: as many as asked, but no more than
/// fit in `budget` at `first_run_ms` each (at least the one already made).
pub(crate) fn capped_runs(first_run_ms: f64, requested: usize, budget: Duration) -> usize {
    let per_run_ms = first_run_ms.max(1e-3);
    let fit = (budget.as_secs_f64() * 1e3 / per_run_ms).floor();
    let fit = if fit.is_finite() { fit.min(usize::MAX as f64) as usize } else { usize::MAX };
    requested.min(fit).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_capped_by_the_budget() {
        let budget = Duration::from_secs(1);
        assert_eq!(capped_runs(2.0, 100, budget), 100);
        assert_eq!(capped_runs(50.0, 100, budget), 20);
        assert_eq!(capped_runs(5_000.0, 100, budget), 1);
        assert_eq!(capped_runs(0.0, 7, budget), 7);
    }

    #[tokio::test]
    async fn a_full_semaphore_answers_busy() {
        let permits = tokio::sync::Semaphore::new(1);
        let held = acquire(&permits, "benchmark").await.unwrap();
        let err = acquire_within(&permits, "benchmark", Duration::from_millis(50)).await.unwrap_err();
        assert_eq!(err.status, StatusCode::SERVICE_UNAVAILABLE);
        drop(held);
        assert!(acquire(&permits, "benchmark").await.is_ok());
    }
}
