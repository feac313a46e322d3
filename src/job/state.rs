//! What the queue says about a job: its state, a snapshot of it, and the
//! events subscribers get.

use crate::export::ExportOutcome;
use crate::progress::Step;

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    Success,
    Failed,
    Cancelled,
}

impl JobState {
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobState::Success | JobState::Failed | JobState::Cancelled
        )
    }
}

/// Why a job failed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct JobError {
    /// [`crate::ErrorKind`]'s name, or `panic`.
    pub kind: String,
    pub message: String,
    pub retryable: bool,
}

/// A snapshot of one job.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JobInfo {
    /// The export id.
    pub id: String,
    pub camera: String,
    pub export_case_id: Option<String>,
    pub state: JobState,
    pub step: Option<Step>,
    pub percent: f64,
    /// Unix seconds.
    pub queued_at_s: f64,
    pub started_at_s: Option<f64>,
    pub finished_at_s: Option<f64>,
    pub error: Option<JobError>,
    pub result: Option<ExportOutcome>,
}

/// What a subscriber is told.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum JobEvent {
    /// The job changed state (delivered at once, in order).
    State { job: JobInfo },
    /// The job progressed (coalesced per job).
    Progress { job: JobInfo },
}

impl JobEvent {
    pub fn job(&self) -> &JobInfo {
        match self {
            JobEvent::State { job } | JobEvent::Progress { job } => job,
        }
    }
}
