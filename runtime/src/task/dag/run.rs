//! [`Dag::run`]: the scheduler loop.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::report::{DagReport, NodeError, NodeOutcome, NodeReport};
use super::{Dag, Inputs, Policy};
use crate::task::{Id, JoinSet};

/// The spawned node's output: its result, plus when its future started and ended.
type Ran<T, E> = (Result<T, E>, Instant, Instant);

struct Run<'a, T, E> {
    dag: &'a Dag<T, E>,
    policy: Policy,
    start: Instant,
    outcomes: Vec<Option<NodeOutcome<T, E>>>,
    started: Vec<Option<Instant>>,
    elapsed: Vec<Option<Duration>>,
    /// Dependencies not finished yet, per node.
    waiting_on: Vec<usize>,
    ready: VecDeque<usize>,
    running: HashMap<Id, usize>,
    /// FailFast: the first failed node; nothing new starts once set.
    stopped_by: Option<usize>,
}

impl<T, E> Dag<T, E>
where
    T: Send + Sync + 'static,
    E: Send + 'static,
{
    /// Runs the graph on the current runtime: every node whose dependencies all
    /// succeeded is spawned as a task, at most `limit` at a time (ready nodes start
    /// in the order they were added), and the report lists what happened to each.
    ///
    /// Dropping the returned future part-way aborts the nodes in flight.
    ///
    /// # Panics
    /// When `limit` is 0, or outside a runtime context.
    pub async fn run(&self, limit: usize, policy: Policy) -> DagReport<T, E> {
        assert!(limit > 0, "Dag::run: the concurrency limit must be at least 1");
        let n = self.nodes.len();
        let mut run = Run {
            dag: self,
            policy,
            start: Instant::now(),
            outcomes: (0..n).map(|_| None).collect(),
            started: vec![None; n],
            elapsed: vec![None; n],
            waiting_on: self.nodes.iter().map(|n| n.deps.len()).collect(),
            ready: (0..n).filter(|&i| self.nodes[i].deps.is_empty()).collect(),
            running: HashMap::new(),
            stopped_by: None,
        };
        let mut set: JoinSet<Ran<T, E>> = JoinSet::new();
        let mut max_in_flight = 0;
        loop {
            while run.stopped_by.is_none() && set.len() < limit {
                let Some(i) = run.ready.pop_front() else { break };
                run.spawn(i, &mut set);
            }
            max_in_flight = max_in_flight.max(set.len());
            let Some(res) = set.join_next_with_id().await else { break };
            match res {
                Ok((id, (result, began, ended))) => {
                    let i = run.running.remove(&id).expect("a running node");
                    run.elapsed[i] = Some(ended.saturating_duration_since(began));
                    match result {
                        Ok(v) => run.succeeded(i, v),
                        Err(e) => run.failed(i, NodeError::Error(e), &set),
                    }
                }
                Err(e) => {
                    let i = run.running.remove(&e.id()).expect("a running node");
                    run.elapsed[i] = run.started[i].map(|s| s.elapsed());
                    if e.is_panic() {
                        let msg = panic_text(&*e.into_panic());
                        run.failed(i, NodeError::Panic(msg), &set);
                    } else {
                        run.outcomes[i] = Some(NodeOutcome::Cancelled);
                    }
                }
            }
        }
        run.report(max_in_flight)
    }
}

impl<T, E> Run<'_, T, E>
where
    T: Send + Sync + 'static,
    E: Send + 'static,
{
    fn spawn(&mut self, i: usize, set: &mut JoinSet<Ran<T, E>>) {
        let node = &self.dag.nodes[i];
        let entries = node
            .deps
            .iter()
            .map(|&d| match &self.outcomes[d] {
                Some(NodeOutcome::Ok(v)) => (self.dag.nodes[d].name.clone(), v.clone()),
                _ => unreachable!("a node starts only after its dependencies succeeded"),
            })
            .collect();
        let fut = (node.run)(Inputs { entries });
        self.started[i] = Some(Instant::now());
        let id = set.spawn(async move {
            let began = Instant::now();
            let r = fut.await;
            (r, began, Instant::now())
        });
        self.running.insert(id, i);
    }

    fn succeeded(&mut self, i: usize, v: T) {
        self.outcomes[i] = Some(NodeOutcome::Ok(Arc::new(v)));
        for &d in &self.dag.dependents[i] {
            self.waiting_on[d] -= 1;
            if self.waiting_on[d] == 0 && self.outcomes[d].is_none() {
                self.ready.push_back(d);
            }
        }
    }

    fn failed(&mut self, i: usize, err: NodeError<E>, set: &JoinSet<Ran<T, E>>) {
        self.outcomes[i] = Some(NodeOutcome::Failed(err));
        match self.policy {
            Policy::FailFast => {
                if self.stopped_by.is_none() {
                    self.stopped_by = Some(i);
                    set.abort_all();
                }
            }
            Policy::Continue => {
                let because = self.dag.nodes[i].name.to_string();
                let mut stack = self.dag.dependents[i].clone();
                while let Some(d) = stack.pop() {
                    if self.outcomes[d].is_none() {
                        self.outcomes[d] = Some(NodeOutcome::Skipped { because: because.clone() });
                        stack.extend_from_slice(&self.dag.dependents[d]);
                    }
                }
            }
        }
    }

    fn report(self, max_in_flight: usize) -> DagReport<T, E> {
        let because = self.stopped_by.map(|i| self.dag.nodes[i].name.to_string()).unwrap_or_default();
        let nodes = self
            .outcomes
            .into_iter()
            .enumerate()
            .map(|(i, outcome)| NodeReport {
                name: self.dag.nodes[i].name.to_string(),
                outcome: outcome.unwrap_or_else(|| NodeOutcome::Skipped { because: because.clone() }),
                started: self.started[i].map(|s| s.saturating_duration_since(self.start)),
                elapsed: self.elapsed[i],
            })
            .collect();
        DagReport { nodes, policy: self.policy, elapsed: self.start.elapsed(), max_in_flight }
    }
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_string()
    }
}
