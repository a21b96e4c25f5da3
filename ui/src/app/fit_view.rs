//! An open fit panel: which model on which device, the estimate, and the
//! jobs started from it (by [`JobId`], so their progress shows there).

use edgefleet_core::Fit;
use edgefleet_fleet::JobId;

/// An open fit panel.
#[derive(Debug, Clone, PartialEq)]
pub struct FitView {
    pub card_id: i64,
    pub device_id: String,
    pub fit: Fit,
    /// The jobs started from this panel.
    pub optimize_job: Option<JobId>,
    pub deploy_job: Option<JobId>,
}
