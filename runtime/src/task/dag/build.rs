//! [`DagBuilder`] and the checks of [`DagBuilder::build`].

use std::collections::HashMap;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use super::{BoxFut, Dag, Inputs, Node, NodeFn};

/// Collects nodes for a [`Dag`]; see [`Dag::builder`].
pub struct DagBuilder<T, E> {
    nodes: Vec<(String, Vec<String>, NodeFn<T, E>)>,
}

/// Why [`DagBuilder::build`] rejected a graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DagError {
    /// Two nodes share a name.
    DuplicateNode {
        /// The repeated name.
        name: String,
    },
    /// A node depends on a name no node has.
    MissingDependency {
        /// The node that declared the dependency.
        node: String,
        /// The unknown name.
        missing: String,
    },
    /// The dependencies form a cycle.
    Cycle {
        /// The nodes of the cycle, each depending on the next; the last one
        /// depends on the first (one node that depends on itself is a cycle too).
        nodes: Vec<String>,
    },
}

impl fmt::Display for DagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DagError::DuplicateNode { name } => write!(f, "duplicate node name {name:?}"),
            DagError::MissingDependency { node, missing } => {
                write!(f, "node {node:?} depends on {missing:?}, which is not a node")
            }
            DagError::Cycle { nodes } => {
                f.write_str("dependency cycle: ")?;
                for n in nodes {
                    write!(f, "{n:?} -> ")?;
                }
                write!(f, "{:?} (each depends on the next)", nodes[0])
            }
        }
    }
}

impl Error for DagError {}

impl<T, E> DagBuilder<T, E> {
    pub(super) fn new() -> DagBuilder<T, E> {
        DagBuilder { nodes: Vec::new() }
    }

    /// Adds node `name`, which runs once every node in `deps` succeeded: `f` gets
    /// their outputs and returns the node's future. Repeated names in `deps` count
    /// once. Errors are reported by [`build`](DagBuilder::build).
    pub fn node<F, Fut>(mut self, name: &str, deps: &[&str], f: F) -> DagBuilder<T, E>
    where
        F: Fn(Inputs<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        let run: NodeFn<T, E> = Arc::new(move |inputs| Box::pin(f(inputs)) as BoxFut<T, E>);
        let deps = deps.iter().map(|d| d.to_string()).collect();
        self.nodes.push((name.to_string(), deps, run));
        self
    }

    /// Checks the graph: no duplicate names, no unknown dependency, no cycle.
    pub fn build(self) -> Result<Dag<T, E>, DagError> {
        let mut index: HashMap<Arc<str>, usize> = HashMap::new();
        for (i, (name, _, _)) in self.nodes.iter().enumerate() {
            if index.insert(Arc::from(name.as_str()), i).is_some() {
                return Err(DagError::DuplicateNode { name: name.clone() });
            }
        }
        let mut nodes = Vec::with_capacity(self.nodes.len());
        for (name, deps, run) in self.nodes {
            let mut ids: Vec<usize> = Vec::with_capacity(deps.len());
            for d in &deps {
                match index.get(d.as_str()) {
                    Some(&j) if !ids.contains(&j) => ids.push(j),
                    Some(_) => {}
                    None => return Err(DagError::MissingDependency { node: name, missing: d.clone() }),
                }
            }
            let name = index.get_key_value(name.as_str()).expect("indexed").0.clone();
            nodes.push(Node { name, deps: ids, run });
        }
        if let Some(cycle) = find_cycle(&nodes) {
            let nodes = cycle.into_iter().map(|i| nodes[i].name.to_string()).collect();
            return Err(DagError::Cycle { nodes });
        }
        let mut dependents = vec![Vec::new(); nodes.len()];
        for (i, n) in nodes.iter().enumerate() {
            for &d in &n.deps {
                dependents[d].push(i);
            }
        }
        Ok(Dag { nodes, dependents, index })
    }
}

/// Depth-first search along "depends on" edges, from each node in order; returns
/// the first cycle found, as a path where each node depends on the next.
fn find_cycle<T, E>(nodes: &[Node<T, E>]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut mark = vec![Mark::New; nodes.len()];
    for root in 0..nodes.len() {
        if mark[root] != Mark::New {
            continue;
        }
        // (node, index of the next dependency to visit)
        let mut path: Vec<(usize, usize)> = vec![(root, 0)];
        mark[root] = Mark::OnPath;
        while let Some(&mut (node, ref mut next)) = path.last_mut() {
            if let Some(&dep) = nodes[node].deps.get(*next) {
                *next += 1;
                match mark[dep] {
                    Mark::New => {
                        mark[dep] = Mark::OnPath;
                        path.push((dep, 0));
                    }
                    Mark::OnPath => {
                        let start = path.iter().position(|&(n, _)| n == dep).expect("on path");
                        return Some(path[start..].iter().map(|&(n, _)| n).collect());
                    }
                    Mark::Done => {}
                }
            } else {
                mark[node] = Mark::Done;
                path.pop();
            }
        }
    }
    None
}

impl<T, E> fmt::Debug for DagBuilder<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.nodes.iter().map(|(n, d, _)| (n, d))).finish()
    }
}
