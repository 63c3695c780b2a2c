//! The `metrics` feature: a pool's events and numbers exported through the `metrics` crate's
//! facade (to Prometheus, StatsD, ... with the recorder the application installs), every
//! metric labelled with the pool's name (`pool`).
//! (The metrics are listed in the `pool` module's docs.)

use super::events::{EventHook, PoolEvent};
use crate::pool::PoolState;
use std::sync::Arc;

/// The exporter's event hook for the pool named `pool`.
pub(crate) fn hook(pool: &str) -> EventHook {
    let pool = pool.to_owned();
    Arc::new(move |event: &PoolEvent<'_>| {
        let label = [("pool", pool.clone())];
        match event {
            PoolEvent::CheckedOut { waited } => {
                metrics::histogram!("nimue_pool_checkout_wait_seconds", &label)
                    .record(waited.as_secs_f64());
            }
            PoolEvent::TimedOut { .. } => {
                metrics::counter!("nimue_pool_timeouts_total", &label).increment(1);
            }
            PoolEvent::Rejected => {
                metrics::counter!("nimue_pool_rejected_total", &label).increment(1);
            }
            PoolEvent::Opened { .. } => {
                metrics::counter!("nimue_pool_connections_opened_total", &label).increment(1);
            }
            PoolEvent::ConnectFailed { .. } => {
                metrics::counter!("nimue_pool_connect_failures_total", &label).increment(1);
            }
            PoolEvent::DirtyReturn { .. } => {
                metrics::counter!("nimue_pool_dirty_returns_total", &label).increment(1);
            }
            PoolEvent::Closed { reason } => {
                let labels = [
                    ("pool", pool.clone()),
                    ("reason", reason.as_str().to_owned()),
                ];
                metrics::counter!("nimue_pool_connections_closed_total", &labels).increment(1);
            }
        }
    })
}

/// Set the gauges from the pool's numbers (the checker calls it every round).
pub(crate) fn gauges(pool: &str, state: &PoolState) {
    let label = [("pool", pool.to_owned())];
    let set = |name: &'static str, n: usize| metrics::gauge!(name, &label).set(n as f64);
    set("nimue_pool_connections_idle", state.idle);
    set("nimue_pool_connections_in_use", state.in_use);
    set("nimue_pool_connections_pending", state.pending);
    set("nimue_pool_connections_total", state.total);
    set("nimue_pool_connections_max", state.max_size);
    set("nimue_pool_waiting", state.waiting);
}
