//! What the admin API shows of a cluster's health, kept current by its health task.

use crate::health::probe::ProbeResult;
use crate::health::state::EndpointState;
use std::sync::{Arc, Mutex};
use switchyard_policy::ScorerBinding;
use switchyard_policy::cluster::{EndpointId, Reports};

/// A cluster's health at one moment.
#[derive(Clone, Debug, Default)]
pub struct HealthSnapshot {
    /// Too few endpoints are healthy: all of them serve.
    pub panic: bool,
    /// Per endpoint, in the order of the cluster's endpoints.
    pub endpoints: Vec<EndpointView>,
}

/// One endpoint's health.
#[derive(Clone, Debug, Default)]
pub struct EndpointView {
    /// The endpoint's id.
    pub id: EndpointId,
    /// Verdict, its source, ejections.
    pub state: EndpointState,
    /// The latest probe, if probes run.
    pub last_probe: Option<ProbeResult>,
}

/// A cluster's health, shared between its health task and readers.
pub struct HealthView {
    scorer: Option<Arc<ScorerBinding>>,
    reports: Arc<Reports>,
    current: Mutex<HealthSnapshot>,
}

impl HealthView {
    pub(crate) fn new(
        scorer: Option<Arc<ScorerBinding>>,
        reports: Arc<Reports>,
        ids: impl Iterator<Item = EndpointId>,
    ) -> Self {
        let view = Self {
            scorer,
            reports,
            current: Mutex::new(HealthSnapshot::default()),
        };
        view.rebase(ids);
        view
    }

    /// The endpoints are now those with `ids`, in that order; those that stay keep
    /// what is known of them.
    pub(crate) fn rebase(&self, ids: impl Iterator<Item = EndpointId>) {
        let mut current = self.lock();
        let mut old: std::collections::HashMap<EndpointId, EndpointView> = current
            .endpoints
            .drain(..)
            .map(|view| (view.id, view))
            .collect();
        current.endpoints = ids
            .map(|id| {
                old.remove(&id).unwrap_or(EndpointView {
                    id,
                    ..EndpointView::default()
                })
            })
            .collect();
    }

    /// The cluster's health scorer, if it has one.
    pub fn scorer(&self) -> Option<&ScorerBinding> {
        self.scorer.as_deref()
    }

    /// Request outcomes the scorer never saw because its queue was full.
    pub fn dropped_reports(&self) -> u64 {
        self.reports.dropped()
    }

    /// A copy of the current state.
    pub fn snapshot(&self) -> HealthSnapshot {
        self.lock().clone()
    }

    pub(crate) fn probed(&self, endpoint: usize, result: ProbeResult) {
        if let Some(view) = self.lock().endpoints.get_mut(endpoint) {
            view.last_probe = Some(result);
        }
    }

    pub(crate) fn judged(&self, states: &[EndpointState], panic: bool) {
        let mut current = self.lock();
        current.panic = panic;
        for (view, state) in current.endpoints.iter_mut().zip(states) {
            view.state = state.clone();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HealthSnapshot> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }
}
