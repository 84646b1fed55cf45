//! DAG execution: async processors wired by named dependencies.
//!
//! Build a graph with [`Dag::builder`]: each node has a unique name, the names of
//! the nodes it depends on, and a closure that receives their outputs
//! ([`Inputs`]) and returns a future. [`DagBuilder::build`] rejects duplicate
//! names, dependencies on unknown nodes and cycles, naming the nodes involved.
//! [`Dag::run`] runs every node once its dependencies succeeded, at most `limit`
//! at a time, each as its own task, and returns a [`DagReport`] with every node's
//! [`NodeOutcome`] and timings.
//!
//! **Outputs.** The whole graph has one output type `T` and one error type `E`.
//! Each output is stored once as an `Arc<T>` and shared with every dependent (no
//! `Clone` needed). Graphs whose nodes produce different kinds of data use an enum
//! for `T`, or `Arc<dyn Any + Send + Sync>` with `downcast_ref` in the consumer.
//! One type keeps the builder free of type-level bookkeeping and the report
//! uniform, and an enum keeps the mismatch checks in the user's `match`.
//!
//! **Failures.** A node fails when its future returns `Err(E)` or panics
//! ([`NodeError`]). With [`Policy::FailFast`] the first failure aborts every
//! running node (reported [`NodeOutcome::Cancelled`]; their futures are dropped
//! before `run` returns) and skips every node not started yet. With
//! [`Policy::Continue`] only the failed node's transitive dependents are skipped.
//!
//! ```
//! use tern_runtime::task::dag::{Dag, NodeOutcome, Policy};
//!
//! tern_runtime::Runtime::new().unwrap().block_on(async {
//!     let dag = Dag::<u64, String>::builder()
//!         .node("a", &[], |_| async { Ok(2) })
//!         .node("b", &["a"], |i| async move { Ok(i["a"] * 10) })
//!         .node("c", &["a"], |i| async move { Ok(i["a"] + 1) })
//!         .node("d", &["b", "c"], |i| async move { Ok(i["b"] + i["c"]) })
//!         .build()
//!         .unwrap();
//!     let report = dag.run(2, Policy::FailFast).await;
//!     assert!(report.is_success());
//!     assert_eq!(report.output("d"), Some(&23));
//!     assert!(matches!(report.outcome("a"), Some(NodeOutcome::Ok(_))));
//! });
//! ```

mod build;
mod report;
mod run;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use build::{DagBuilder, DagError};
pub use report::{DagReport, NodeError, NodeOutcome, NodeReport};

type BoxFut<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'static>>;
type NodeFn<T, E> = Arc<dyn Fn(Inputs<T>) -> BoxFut<T, E> + Send + Sync + 'static>;

/// What [`Dag::run`] does when a node fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Abort every running node and skip every node not started yet.
    FailFast,
    /// Skip the failed node's transitive dependents; run everything else.
    Continue,
}

struct Node<T, E> {
    name: Arc<str>,
    deps: Vec<usize>,
    run: NodeFn<T, E>,
}

/// A validated graph of async processors; see the [module docs](self).
///
/// `run` takes `&self`, so a graph can be run any number of times.
pub struct Dag<T, E> {
    nodes: Vec<Node<T, E>>,
    /// `dependents[i]`: the nodes that depend on node `i`.
    dependents: Vec<Vec<usize>>,
    index: HashMap<Arc<str>, usize>,
}

impl<T, E> Dag<T, E> {
    /// An empty builder.
    pub fn builder() -> DagBuilder<T, E> {
        DagBuilder::new()
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// `true` for a graph without nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Node names, in the order they were added.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.nodes.iter().map(|n| &*n.name)
    }

    /// The names `name` depends on, or `None` for an unknown node.
    pub fn dependencies(&self, name: &str) -> Option<Vec<&str>> {
        let &i = self.index.get(name)?;
        Some(self.nodes[i].deps.iter().map(|&d| &*self.nodes[d].name).collect())
    }
}

impl<T, E> fmt::Debug for Dag<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for n in &self.nodes {
            m.entry(&&*n.name, &n.deps.iter().map(|&d| &*self.nodes[d].name).collect::<Vec<_>>());
        }
        m.finish()
    }
}

/// The outputs of a node's dependencies, by name.
pub struct Inputs<T> {
    entries: Vec<(Arc<str>, Arc<T>)>,
}

impl<T> Inputs<T> {
    /// The output of dependency `name`, or `None` when `name` is not one.
    pub fn get(&self, name: &str) -> Option<&T> {
        self.entries.iter().find(|(n, _)| &**n == name).map(|(_, v)| &**v)
    }

    /// The shared output of dependency `name` (to keep it beyond the node's future).
    pub fn get_arc(&self, name: &str) -> Option<Arc<T>> {
        self.entries.iter().find(|(n, _)| &**n == name).map(|(_, v)| v.clone())
    }

    /// `(name, output)` for every dependency, in the order they were declared.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &T)> {
        self.entries.iter().map(|(n, v)| (&**n, &**v))
    }

    /// Number of dependencies.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` for a node without dependencies.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<T> std::ops::Index<&str> for Inputs<T> {
    type Output = T;

    /// # Panics
    /// When `name` is not a dependency of the node.
    fn index(&self, name: &str) -> &T {
        match self.get(name) {
            Some(v) => v,
            None => panic!("{name:?} is not a dependency of this node"),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Inputs<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}
