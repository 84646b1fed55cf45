//! `task::dag`: outputs flow along edges, the concurrency limit holds, build
//! errors name the nodes, FailFast cancels, Continue skips only dependents.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use tern_reactor::time::sleep;
use tern_runtime::task::dag::{Dag, DagError, NodeError, NodeOutcome, Policy};

const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn diamond_passes_outputs_by_name() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let dag = Dag::<String, String>::builder()
                .node("src", &[], |i| async move {
                    assert!(i.is_empty());
                    Ok("s".to_string())
                })
                .node("left", &["src"], |i| async move { Ok(format!("{}L", i["src"])) })
                .node("right", &["src"], |i| async move {
                    sleep(Duration::from_millis(5)).await;
                    Ok(format!("{}R", i["src"]))
                })
                .node("sink", &["left", "right"], |i| async move {
                    assert_eq!(i.len(), 2);
                    assert!(i.get("src").is_none(), "only direct dependencies are passed");
                    Ok(format!("{}+{}", i["left"], i["right"]))
                })
                .build()
                .unwrap();
            for _ in 0..2 {
                // `run` borrows the graph: it can run again.
                let report = timeout(LIMIT, dag.run(4, Policy::FailFast)).await.unwrap();
                assert!(report.is_success(), "{report:?}");
                assert_eq!(report.output("sink").map(String::as_str), Some("sL+sR"));
                assert_eq!(report.nodes.len(), 4);
                let sink = report.get("sink").unwrap();
                let right = report.get("right").unwrap();
                assert!(sink.started.unwrap() >= right.started.unwrap() + right.elapsed.unwrap());
                assert!(right.elapsed.unwrap() >= Duration::from_millis(5));
            }
        })
    });
}

/// 24 independent nodes and a limit of 3: never more than 3 run at once (counted
/// by the nodes themselves), and the limit is reached.
#[test]
fn concurrency_limit_is_respected() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let running = Arc::new(AtomicUsize::new(0));
            let max = Arc::new(AtomicUsize::new(0));
            let mut b = Dag::<usize, ()>::builder();
            for i in 0..24 {
                let (running, max) = (running.clone(), max.clone());
                b = b.node(&format!("n{i}"), &[], move |_| {
                    let (running, max) = (running.clone(), max.clone());
                    async move {
                        let now = running.fetch_add(1, SeqCst) + 1;
                        max.fetch_max(now, SeqCst);
                        sleep(Duration::from_millis(3)).await;
                        running.fetch_sub(1, SeqCst);
                        Ok(i)
                    }
                });
            }
            let dag = b.build().unwrap();
            let report = timeout(LIMIT, dag.run(3, Policy::FailFast)).await.unwrap();
            assert!(report.is_success());
            assert_eq!(max.load(SeqCst), 3, "limit exceeded or never reached");
            assert!(report.max_in_flight <= 3);
            let report = timeout(LIMIT, dag.run(1, Policy::Continue)).await.unwrap();
            assert!(report.is_success());
            assert_eq!(max.load(SeqCst), 3);
        })
    });
}

#[test]
fn build_errors_name_the_nodes() {
    let ok = |_| async { Ok::<u8, ()>(0) };
    let e = Dag::builder().node("a", &[], ok).node("a", &[], ok).build().unwrap_err();
    assert_eq!(e, DagError::DuplicateNode { name: "a".into() });
    assert!(e.to_string().contains("\"a\""));

    let e = Dag::builder().node("a", &[], ok).node("b", &["a", "ghost"], ok).build().unwrap_err();
    assert_eq!(e, DagError::MissingDependency { node: "b".into(), missing: "ghost".into() });
    let msg = e.to_string();
    assert!(msg.contains("\"b\"") && msg.contains("\"ghost\""), "{msg}");

    // x -> y -> z -> x, plus an unrelated head and a tail hanging off the cycle.
    let e = Dag::builder()
        .node("head", &[], ok)
        .node("x", &["head", "z"], ok)
        .node("y", &["x"], ok)
        .node("z", &["y"], ok)
        .node("tail", &["z"], ok)
        .build()
        .unwrap_err();
    let DagError::Cycle { nodes } = &e else { panic!("{e:?}") };
    let mut sorted = nodes.clone();
    sorted.sort();
    assert_eq!(sorted, ["x", "y", "z"]);
    // Each depends on the next, the last on the first: x -> z -> y -> x.
    let pos = nodes.iter().position(|n| n == "x").unwrap();
    let rot: Vec<_> = nodes[pos..].iter().chain(&nodes[..pos]).cloned().collect();
    assert_eq!(rot, ["x", "z", "y"]);
    let msg = e.to_string();
    assert!(["\"x\"", "\"y\"", "\"z\""].iter().all(|n| msg.contains(n)), "{msg}");

    let e = Dag::builder().node("self", &["self"], ok).build().unwrap_err();
    assert_eq!(e, DagError::Cycle { nodes: vec!["self".into()] });
}

/// FailFast: when "bad" fails, the slow running nodes are cancelled (their
/// futures dropped by the time `run` returns) and nothing else starts.
#[test]
fn fail_fast_cancels_running_and_skips_the_rest() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let (f1, d1) = DropFlag::new();
            let (f2, d2) = DropFlag::new();
            let flags = Arc::new(std::sync::Mutex::new(vec![Some(f1), Some(f2)]));
            let started_after = Arc::new(AtomicUsize::new(0));
            let (fl1, fl2, sa) = (flags.clone(), flags.clone(), started_after.clone());
            let dag = Dag::<u32, String>::builder()
                .node("slow1", &[], move |_| {
                    let f = fl1.lock().unwrap()[0].take();
                    async move {
                        let _f = f;
                        sleep(Duration::from_secs(30)).await;
                        Ok(1)
                    }
                })
                .node("slow2", &[], move |_| {
                    let f = fl2.lock().unwrap()[1].take();
                    async move {
                        let _f = f;
                        sleep(Duration::from_secs(30)).await;
                        Ok(2)
                    }
                })
                .node("bad", &[], |_| async {
                    sleep(Duration::from_millis(10)).await;
                    Err("bad input".to_string())
                })
                .node("queued", &[], move |_| {
                    sa.fetch_add(1, SeqCst);
                    async { Ok(4) }
                })
                .node("after_slow", &["slow1"], |_| async { Ok(5) })
                .build()
                .unwrap();
            let report = timeout(LIMIT, dag.run(3, Policy::FailFast)).await.unwrap();
            assert!(d1.load(SeqCst) && d2.load(SeqCst), "running nodes outlived the run");
            assert_eq!(started_after.load(SeqCst), 0, "a node started after the failure");
            assert!(
                matches!(report.outcome("bad"), Some(NodeOutcome::Failed(NodeError::Error(e))) if e == "bad input")
            );
            assert!(matches!(report.outcome("slow1"), Some(NodeOutcome::Cancelled)));
            assert!(matches!(report.outcome("slow2"), Some(NodeOutcome::Cancelled)));
            for n in ["queued", "after_slow"] {
                match report.outcome(n) {
                    Some(NodeOutcome::Skipped { because }) => assert_eq!(because, "bad"),
                    other => panic!("{n}: {other:?}"),
                }
            }
            assert!(report.elapsed < Duration::from_secs(10));
            assert_eq!(report.failures().count(), 1);
        })
    });
}

/// Continue: only the failed node's transitive dependents are skipped.
#[test]
fn continue_skips_only_dependents() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let dag = Dag::<u32, &'static str>::builder()
                .node("a", &[], |_| async { Ok(1) })
                .node("b", &["a"], |_| async { Err("b broke") })
                .node("c", &["b"], |_| async { Ok(3) })
                .node("d", &["c", "e"], |_| async { Ok(4) })
                .node("e", &["a"], |i| async move {
                    sleep(Duration::from_millis(5)).await;
                    Ok(i["a"] + 10)
                })
                .node("f", &["e"], |i| async move { Ok(i["e"] * 2) })
                .node("g", &[], |_| async { panic!("g panicked") })
                .node("h", &["g"], |_| async { Ok(8) })
                .build()
                .unwrap();
            let report = timeout(LIMIT, dag.run(2, Policy::Continue)).await.unwrap();
            assert_eq!(report.output("a"), Some(&1));
            assert_eq!(report.output("e"), Some(&11));
            assert_eq!(report.output("f"), Some(&22));
            assert!(matches!(report.outcome("b"), Some(NodeOutcome::Failed(NodeError::Error("b broke")))));
            match report.outcome("g") {
                Some(NodeOutcome::Failed(NodeError::Panic(msg))) => assert_eq!(msg, "g panicked"),
                other => panic!("g: {other:?}"),
            }
            for (n, cause) in [("c", "b"), ("d", "b"), ("h", "g")] {
                match report.outcome(n) {
                    Some(NodeOutcome::Skipped { because }) => assert_eq!(because, cause, "{n}"),
                    other => panic!("{n}: {other:?}"),
                }
            }
            // Report completeness: every node exactly once, in definition order,
            // with timings exactly for the nodes that ran.
            let names: Vec<_> = report.nodes.iter().map(|n| n.name.as_str()).collect();
            assert_eq!(names, ["a", "b", "c", "d", "e", "f", "g", "h"]);
            for n in &report.nodes {
                let ran = !matches!(n.outcome, NodeOutcome::Skipped { .. });
                assert_eq!(n.started.is_some(), ran, "{}", n.name);
                assert_eq!(n.elapsed.is_some(), ran, "{}", n.name);
            }
            assert!(!report.is_success());
            assert_eq!(report.policy, Policy::Continue);
        })
    });
}

/// Dropping a running `run` future aborts the nodes in flight.
#[test]
fn dropping_run_aborts_nodes() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let (flag, dropped) = DropFlag::new();
            let flag = Arc::new(std::sync::Mutex::new(Some(flag)));
            let dag = Dag::<(), ()>::builder()
                .node("forever", &[], move |_| {
                    let f = flag.lock().unwrap().take();
                    async move {
                        let _f = f;
                        std::future::pending().await
                    }
                })
                .build()
                .unwrap();
            assert!(tern_runtime::task::wait_for(Duration::from_millis(20), dag.run(1, Policy::FailFast))
                .await
                .is_err());
            assert!(timeout(LIMIT, signal_when(LIMIT, move || dropped.load(SeqCst))).await.unwrap());
        })
    });
}
