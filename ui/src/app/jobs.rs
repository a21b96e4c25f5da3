//! Jobs the console ran this session (deploys, optimizations) as the UI
//! tracks them: one entry per [`JobId`], so two jobs with the same title
//! stay apart.

use edgefleet_fleet::{JobId, JobState, JobUpdate};

/// One job as the UI tracks it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobView {
    pub id: JobId,
    pub title: String,
    pub progress: Option<f32>,
    pub message: String,
    pub state: JobState,
}

/// Jobs seen this session, in start order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Jobs {
    pub list: Vec<JobView>,
}

impl Jobs {
    pub fn apply(&mut self, u: JobUpdate) {
        let view = JobView { id: u.id, title: u.title, progress: u.progress, message: u.message, state: u.state };
        match self.list.iter_mut().find(|j| j.id == view.id) {
            // A late "Running" after the end must not resurrect the job.
            Some(j) if j.state != JobState::Running && view.state == JobState::Running => {}
            Some(j) => *j = view,
            None => self.list.push(view),
        }
    }

    /// The job with this id, once an update about it arrived.
    pub fn get(&self, id: JobId) -> Option<&JobView> {
        self.list.iter().find(|j| j.id == id)
    }

    /// The newest job with this title.
    pub fn latest(&self, title: &str) -> Option<&JobView> {
        self.list.iter().rev().find(|j| j.title == title)
    }

    pub fn running(&self) -> usize {
        self.list.iter().filter(|j| j.state == JobState::Running).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(id: u64, state: JobState) -> JobUpdate {
        JobUpdate { id: JobId(id), title: format!("job {id}"), progress: Some(0.5), message: "m".into(), state }
    }

    #[test]
    fn a_finished_job_stays_finished() {
        let mut jobs = Jobs::default();
        jobs.apply(update(1, JobState::Running));
        jobs.apply(update(1, JobState::Done("ok".into())));
        jobs.apply(update(1, JobState::Running));
        assert_eq!(jobs.list.len(), 1);
        assert_eq!(jobs.latest("job 1").map(|j| j.state.clone()), Some(JobState::Done("ok".into())));
        assert_eq!(jobs.running(), 0);
    }

    #[test]
    fn jobs_with_the_same_title_stay_apart() {
        let mut jobs = Jobs::default();
        let same = |id: u64, state: JobState| JobUpdate { title: "Deploy m v1 to cam".into(), ..update(id, state) };
        jobs.apply(same(1, JobState::Running));
        jobs.apply(same(2, JobState::Running));
        jobs.apply(same(1, JobState::Failed("no route".into())));
        assert_eq!(jobs.list.len(), 2);
        assert_eq!(jobs.get(JobId(1)).map(|j| j.state.clone()), Some(JobState::Failed("no route".into())));
        assert_eq!(jobs.get(JobId(2)).map(|j| j.state.clone()), Some(JobState::Running));
        assert_eq!(jobs.running(), 1);
    }
}
