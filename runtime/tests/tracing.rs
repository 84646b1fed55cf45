//! The `tracing` feature: every task gets a tokio-console-compatible
//! `runtime.spawn` span (target `tokio::task`), its polls run inside it, and its
//! wakers emit `tokio::task::waker` events carrying the span's id.
//!
//! Run with `cargo test -p tern-runtime --features tracing --test tracing`.
#![cfg(feature = "tracing")]

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};
use std::task::{Context, Poll};

use tern_runtime::{Builder, Runtime};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Field values as text (`str` fields verbatim, numbers in decimal).
#[derive(Default, Debug, Clone)]
struct Fields(HashMap<String, String>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_string(), format!("{value:?}"));
    }
}

impl Fields {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

#[derive(Debug, Clone)]
struct SpanRecord {
    id: u64,
    name: &'static str,
    target: &'static str,
    fields: Fields,
    /// Times the span was entered.
    enters: u64,
}

#[derive(Debug, Clone)]
struct EventRecord {
    target: &'static str,
    fields: Fields,
    /// The span entered on the emitting thread, if any.
    current: Option<u64>,
}

/// A subscriber that records every span, enter and event.
#[derive(Default)]
struct Recorder {
    next_id: AtomicU64,
    spans: Mutex<HashMap<u64, SpanRecord>>,
    events: Mutex<Vec<EventRecord>>,
}

thread_local! {
    /// The spans entered on this thread, innermost last.
    static STACK: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

impl Subscriber for &'static Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.next_id.fetch_add(1, Relaxed) + 1;
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let meta = attrs.metadata();
        let span = SpanRecord { id, name: meta.name(), target: meta.target(), fields, enters: 0 };
        self.spans.lock().unwrap().insert(id, span);
        Id::from_u64(id)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        if let Some(s) = self.spans.lock().unwrap().get_mut(&span.into_u64()) {
            values.record(&mut s.fields);
        }
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let current = STACK.with(|s| s.borrow().last().copied());
        self.events.lock().unwrap().push(EventRecord { target: event.metadata().target(), fields, current });
    }

    fn enter(&self, span: &Id) {
        STACK.with(|s| s.borrow_mut().push(span.into_u64()));
        if let Some(s) = self.spans.lock().unwrap().get_mut(&span.into_u64()) {
            s.enters += 1;
        }
    }

    fn exit(&self, span: &Id) {
        STACK.with(|s| {
            let popped = s.borrow_mut().pop();
            assert_eq!(popped, Some(span.into_u64()), "spans exited out of order");
        });
    }
}

/// The process-wide recorder (worker threads need a global default).
fn recorder() -> &'static Recorder {
    static RECORDER: OnceLock<&'static Recorder> = OnceLock::new();
    RECORDER.get_or_init(|| {
        let r: &'static Recorder = Box::leak(Box::default());
        tracing::subscriber::set_global_default(r).expect("no other global subscriber");
        r
    })
}

fn span_of_task(name: &str) -> SpanRecord {
    let spans = recorder().spans.lock().unwrap();
    let found: Vec<_> = spans.values().filter(|s| s.fields.get("task.name") == Some(name)).cloned().collect();
    assert_eq!(found.len(), 1, "spans named {name}: {found:?}");
    found.into_iter().next().unwrap()
}

fn events_of_span(id: u64) -> Vec<EventRecord> {
    let events = recorder().events.lock().unwrap();
    events.iter().filter(|e| e.fields.get("task.id") == Some(id.to_string().as_str())).cloned().collect()
}

/// Poll 1: clone the waker, wake by reference, clone and drop, wake by value,
/// emit an event, return `Pending`. Poll 2: emit an event, return `Ready`.
struct WakerDance {
    polls: u32,
}

impl Future for WakerDance {
    type Output = u32;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
        self.polls += 1;
        tracing::info!(target: "tracing_test", poll = self.polls);
        if self.polls == 2 {
            return Poll::Ready(self.polls);
        }
        let w = cx.waker().clone();
        w.wake_by_ref();
        drop(w.clone());
        w.wake();
        Poll::Pending
    }
}

fn check_task_span(rt: Runtime, name: &str) {
    let _ = recorder();
    let builder = tern_runtime::task::Builder::new().name(name);
    let (h, line, file) = (builder.spawn_on(WakerDance { polls: 0 }, rt.handle()), line!(), file!());
    let id = h.id();
    assert_eq!(rt.block_on(h).unwrap(), 2);
    drop(rt);

    let span = span_of_task(name);
    assert_eq!(span.name, "runtime.spawn");
    assert_eq!(span.target, "tokio::task");
    let f = &span.fields;
    assert_eq!(f.get("kind"), Some("task"));
    assert_eq!(f.get("task.id"), Some(id.as_u64().to_string().as_str()));
    assert_eq!(f.get("loc.file"), Some(file), "the spawn's caller, through #[track_caller]");
    assert_eq!(f.get("loc.line"), Some(line.to_string().as_str()));
    assert!(f.get("loc.col").is_some_and(|c| c.parse::<u32>().unwrap() > 0));
    assert!(span.enters >= 2, "two polls, {} enters", span.enters);

    // The future's own events were emitted inside the task's span.
    let events = recorder().events.lock().unwrap();
    let inside: Vec<_> =
        events.iter().filter(|e| e.target == "tracing_test" && e.current == Some(span.id)).collect();
    assert_eq!(inside.len(), 2, "one event per poll inside the span: {inside:?}");
    drop(events);

    let ops: Vec<_> = events_of_span(span.id)
        .into_iter()
        .filter(|e| e.target == "tokio::task::waker")
        .map(|e| e.fields.get("op").unwrap().to_string())
        .collect();
    for op in ["waker.clone", "waker.wake_by_ref", "waker.drop", "waker.wake"] {
        assert!(ops.iter().any(|o| o == op), "no {op} event for the task: {ops:?}");
    }
    assert_eq!(ops[..5], ["waker.clone", "waker.wake_by_ref", "waker.clone", "waker.drop", "waker.wake"]);
}

#[test]
fn multi_thread_task_span_fields_polls_and_waker_events() {
    let rt = Builder::new_multi_thread().worker_threads(2).build().unwrap();
    check_task_span(rt, "traced-multi");
}

#[test]
fn current_thread_task_span_fields_polls_and_waker_events() {
    let rt = Builder::new_current_thread().build().unwrap();
    check_task_span(rt, "traced-current");
}

#[test]
fn unnamed_and_blocking_tasks_get_spans_of_their_kind() {
    let _ = recorder();
    let rt = Builder::new_multi_thread().worker_threads(1).build().unwrap();
    // Unique markers in the location tell the spans apart from other tests'.
    let (task, task_line) = (rt.spawn(async { 1 }), line!());
    let (job, job_line) = (rt.spawn_blocking(|| 2), line!());
    let task_id = task.id();
    assert_eq!(rt.block_on(async { task.await.unwrap() + job.await.unwrap() }), 3);
    drop(rt);

    let spans = recorder().spans.lock().unwrap();
    let at = |line: u32| -> Vec<SpanRecord> {
        spans
            .values()
            .filter(|s| {
                s.fields.get("loc.file") == Some(file!())
                    && s.fields.get("loc.line") == Some(line.to_string().as_str())
            })
            .cloned()
            .collect()
    };
    let task = at(task_line);
    assert_eq!(task.len(), 1, "{task:?}");
    assert_eq!(task[0].fields.get("kind"), Some("task"));
    assert_eq!(task[0].fields.get("task.name"), None, "unnamed task");
    assert_eq!(task[0].fields.get("task.id"), Some(task_id.as_u64().to_string().as_str()));
    let job = at(job_line);
    assert_eq!(job.len(), 1, "{job:?}");
    assert_eq!((job[0].name, job[0].target), ("runtime.spawn", "tokio::task"));
    assert_eq!(job[0].fields.get("kind"), Some("blocking"));
    assert!(job[0].enters >= 1, "the job runs inside its span");
}
