//! `block_on` from inside a runtime (a task, or another `block_on`) panics with a
//! clear message instead of deadlocking, and leaves everything usable.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use common::*;
use tern_runtime::Runtime;

const MSG: &str = "Cannot start a runtime from within a runtime";

#[test]
fn block_on_inside_a_task_panics() {
    each(ALL, |rt, _| {
        let other = Arc::new(Runtime::new_current_thread());
        let o = other.clone();
        // Another runtime's block_on, inside a task.
        let err = rt.block_on(rt.spawn(async move { o.block_on(async { 1 }) })).unwrap_err();
        assert!(err.is_panic());
        let msg = panic_message(&*err.into_panic());
        assert!(msg.contains(MSG), "{msg}");

        // The free function (which starts a runtime of its own), inside a task.
        let err = rt.block_on(rt.spawn(async { tern_runtime::block_on(async { 2 }) })).unwrap_err();
        let msg = panic_message(&*err.into_panic());
        assert!(msg.contains(MSG), "{msg}");

        // A multi-thread runtime's block_on, inside a task.
        let mt = Arc::new(Flavor::MultiThread(1).build());
        let m = mt.clone();
        let err = rt.block_on(rt.spawn(async move { m.block_on(async { 3 }) })).unwrap_err();
        assert!(panic_message(&*err.into_panic()).contains(MSG));

        // Everything still works, including the runtimes used above.
        assert_eq!(rt.block_on(rt.spawn(async { 4 })).unwrap(), 4);
        assert_eq!(other.block_on(async { tern_runtime::spawn(async { 5 }).await.unwrap() }), 5);
        assert_eq!(mt.block_on(async { tern_runtime::spawn(async { 6 }).await.unwrap() }), 6);
    });
}

#[test]
fn block_on_inside_block_on_panics() {
    each(ALL, |rt, _| {
        // The same runtime.
        let r = rt.block_on(async { catch_unwind(AssertUnwindSafe(|| rt.block_on(async { 1 }))) });
        let msg = panic_message(&*r.unwrap_err());
        assert!(msg.contains(MSG), "{msg}");

        // Another runtime of either flavour.
        for other in [Flavor::CurrentThread.build(), Flavor::MultiThread(2).build()] {
            let r = rt.block_on(async { catch_unwind(AssertUnwindSafe(|| other.block_on(async { 1 }))) });
            assert!(panic_message(&*r.unwrap_err()).contains(MSG));
            // Once outside, the other runtime works.
            assert_eq!(other.block_on(async { tern_runtime::spawn(async { 2 }).await.unwrap() }), 2);
        }

        // The outer runtime still works afterwards.
        assert_eq!(rt.block_on(async { tern_runtime::spawn(async { 3 }).await.unwrap() }), 3);
    });
}

#[test]
fn thread_is_usable_after_nested_block_on_panic_escapes() {
    each(ALL, |rt, _| {
        let r = catch_unwind(AssertUnwindSafe(|| rt.block_on(async { rt.block_on(async {}) })));
        assert!(panic_message(&*r.unwrap_err()).contains(MSG));
        // Not marked as "inside a runtime" any more, and (current-thread) the
        // core was put back.
        assert!(tern_runtime::Handle::try_current().is_err());
        assert_eq!(rt.block_on(async { tern_runtime::spawn(async { 5 }).await.unwrap() }), 5);
        let other = Runtime::new_current_thread();
        assert_eq!(other.block_on(async { 6 }), 6);
    });
}

#[test]
fn block_on_under_enter_is_allowed() {
    each(ALL, |rt, _| {
        // `enter` only sets the current handle; it does not drive the runtime.
        let _g = rt.handle().enter();
        assert_eq!(rt.block_on(async { tern_runtime::spawn(async { 7 }).await.unwrap() }), 7);
        let other = Runtime::new_current_thread();
        assert_eq!(other.block_on(async { 8 }), 8);
    });
}

#[test]
#[should_panic(expected = "Cannot start a runtime from within a runtime")]
fn nested_block_on_current_thread_should_panic() {
    with_deadline("current-thread", BODY_DEADLINE, || {
        let rt = Runtime::new_current_thread();
        rt.block_on(async { rt.block_on(async {}) });
    });
}

#[test]
#[should_panic(expected = "Cannot start a runtime from within a runtime")]
fn nested_block_on_multi_thread_should_panic() {
    with_deadline("multi-thread", BODY_DEADLINE, || {
        let rt = Flavor::MultiThread(2).build();
        rt.block_on(async { rt.block_on(async {}) });
    });
}

#[test]
#[should_panic(expected = "Cannot start a runtime from within a runtime")]
fn free_block_on_inside_block_on_should_panic() {
    with_deadline("free fn", BODY_DEADLINE, || {
        tern_runtime::block_on(async { tern_runtime::block_on(async {}) });
    });
}
