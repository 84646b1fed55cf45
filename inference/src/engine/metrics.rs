//! [`EngineMetrics`]: counters and gauges the scheduler updates, read by `/metrics`.
//!
//! Plain relaxed atomics: each value is exact on its own; a snapshot of several is
//! not taken at one instant.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the time-to-first-token histogram buckets.
pub const TTFT_BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// Engine counters (monotonic) and gauges.
#[derive(Debug, Default)]
pub struct EngineMetrics {
    /// Requests admitted to the queue.
    pub submitted: AtomicU64,
    /// Requests refused with `Overloaded`.
    pub rejected: AtomicU64,
    /// Requests that ended with `Done`.
    pub completed: AtomicU64,
    /// Requests whose client went away before the end.
    pub cancelled: AtomicU64,
    /// Requests that timed out.
    pub timed_out: AtomicU64,
    /// Requests that failed (model error, shutdown cut).
    pub failed: AtomicU64,
    /// Prompt tokens prefilled.
    pub prompt_tokens: AtomicU64,
    /// Tokens generated.
    pub generated_tokens: AtomicU64,
    /// Engine steps run.
    pub steps: AtomicU64,
    /// Total time in steps, nanoseconds.
    pub step_nanos: AtomicU64,
    /// Gauge: requests waiting for a slot.
    pub queue_depth: AtomicU64,
    /// Gauge: slots holding a sequence.
    pub active_slots: AtomicU64,
    /// Slots in all.
    pub slots: AtomicU64,
    ttft_buckets: [AtomicU64; TTFT_BUCKETS.len()],
    ttft_count: AtomicU64,
    ttft_nanos: AtomicU64,
}

impl EngineMetrics {
    pub(super) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(super) fn set(gauge: &AtomicU64, v: u64) {
        gauge.store(v, Ordering::Relaxed);
    }

    /// Records one time to first token (submit to first generated token).
    pub(super) fn observe_ttft(&self, d: Duration) {
        let s = d.as_secs_f64();
        for (b, &le) in self.ttft_buckets.iter().zip(&TTFT_BUCKETS) {
            if s <= le {
                b.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.ttft_count.fetch_add(1, Ordering::Relaxed);
        self.ttft_nanos.fetch_add(d.as_nanos().min(u64::MAX as u128) as u64, Ordering::Relaxed);
    }

    /// Requests with a first token so far, and their mean time to first token.
    pub fn ttft(&self) -> (u64, Duration) {
        let n = self.ttft_count.load(Ordering::Relaxed);
        let total = self.ttft_nanos.load(Ordering::Relaxed);
        (n, Duration::from_nanos(total.checked_div(n).unwrap_or(0)))
    }

    /// The Prometheus text exposition (format 0.0.4) of every value, names prefixed
    /// `tern_`.
    pub fn render_prometheus(&self) -> String {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: String| {
            let _ =
                writeln!(out, "# HELP tern_{name} {help}\n# TYPE tern_{name} {kind}\ntern_{name} {value}");
        };
        metric(
            "requests_submitted_total",
            "counter",
            "Requests admitted to the queue.",
            get(&self.submitted).to_string(),
        );
        metric(
            "requests_rejected_total",
            "counter",
            "Requests refused because the queue was full.",
            get(&self.rejected).to_string(),
        );
        metric(
            "requests_completed_total",
            "counter",
            "Requests that finished.",
            get(&self.completed).to_string(),
        );
        metric(
            "requests_cancelled_total",
            "counter",
            "Requests whose client went away.",
            get(&self.cancelled).to_string(),
        );
        metric(
            "requests_timed_out_total",
            "counter",
            "Requests that timed out.",
            get(&self.timed_out).to_string(),
        );
        metric(
            "requests_failed_total",
            "counter",
            "Requests that failed or were cut at shutdown.",
            get(&self.failed).to_string(),
        );
        metric(
            "prompt_tokens_total",
            "counter",
            "Prompt tokens prefilled.",
            get(&self.prompt_tokens).to_string(),
        );
        metric(
            "generated_tokens_total",
            "counter",
            "Tokens generated.",
            get(&self.generated_tokens).to_string(),
        );
        metric(
            "steps_total",
            "counter",
            "Engine steps (batched forward passes).",
            get(&self.steps).to_string(),
        );
        metric(
            "step_seconds_total",
            "counter",
            "Time spent in engine steps.",
            format!("{:.6}", get(&self.step_nanos) as f64 / 1e9),
        );
        metric("queue_depth", "gauge", "Requests waiting for a slot.", get(&self.queue_depth).to_string());
        metric("slots_active", "gauge", "Slots holding a sequence.", get(&self.active_slots).to_string());
        metric("slots_total", "gauge", "KV cache slots.", get(&self.slots).to_string());
        let _ = writeln!(
            out,
            "# HELP tern_time_to_first_token_seconds Submit to first generated token.\n# TYPE tern_time_to_first_token_seconds histogram"
        );
        for (b, le) in self.ttft_buckets.iter().zip(TTFT_BUCKETS) {
            let _ = writeln!(out, "tern_time_to_first_token_seconds_bucket{{le=\"{le}\"}} {}", get(b));
        }
        let count = get(&self.ttft_count);
        let _ = writeln!(out, "tern_time_to_first_token_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ =
            writeln!(out, "tern_time_to_first_token_seconds_sum {:.6}", get(&self.ttft_nanos) as f64 / 1e9);
        let _ = writeln!(out, "tern_time_to_first_token_seconds_count {count}");
        out
    }
}
