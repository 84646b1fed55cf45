//! [`DagReport`]: what happened to every node of a run.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::Policy;

/// Why a node failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeError<E> {
    /// Its future returned `Err`.
    Error(E),
    /// Its future panicked (the panic message, when it was a string).
    Panic(String),
}

impl<E: fmt::Display> fmt::Display for NodeError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeError::Error(e) => write!(f, "{e}"),
            NodeError::Panic(msg) => write!(f, "panicked: {msg}"),
        }
    }
}

/// What happened to one node.
#[derive(Debug, Clone)]
pub enum NodeOutcome<T, E> {
    /// It ran and succeeded.
    Ok(Arc<T>),
    /// It ran and failed.
    Failed(NodeError<E>),
    /// It was running when [`Policy::FailFast`] aborted the run; its future was
    /// dropped. (Also the outcome when the runtime shut down under it.)
    Cancelled,
    /// It never ran.
    Skipped {
        /// The failed node that caused it: a (transitive) dependency under
        /// [`Policy::Continue`], the run's first failure under [`Policy::FailFast`].
        because: String,
    },
}

impl<T, E> NodeOutcome<T, E> {
    /// `true` for [`NodeOutcome::Ok`].
    pub fn is_ok(&self) -> bool {
        matches!(self, NodeOutcome::Ok(_))
    }
}

/// One node's entry in a [`DagReport`].
#[derive(Debug, Clone)]
pub struct NodeReport<T, E> {
    /// The node's name.
    pub name: String,
    /// What happened to it.
    pub outcome: NodeOutcome<T, E>,
    /// When it was started, from the start of the run (`None` if skipped).
    pub started: Option<Duration>,
    /// How long it ran: its future's first poll to its completion, or until the
    /// run saw its cancellation (`None` if skipped).
    pub elapsed: Option<Duration>,
}

/// The result of [`Dag::run`](super::Dag::run): one entry per node, in the order
/// the nodes were added.
#[derive(Debug, Clone)]
pub struct DagReport<T, E> {
    /// Every node, in the order they were added.
    pub nodes: Vec<NodeReport<T, E>>,
    /// The policy the run used.
    pub policy: Policy,
    /// Wall-clock time of the whole run.
    pub elapsed: Duration,
    /// The most nodes that were in flight at once.
    pub max_in_flight: usize,
}

impl<T, E> DagReport<T, E> {
    /// `true` when every node succeeded.
    pub fn is_success(&self) -> bool {
        self.nodes.iter().all(|n| n.outcome.is_ok())
    }

    /// The entry for `name`.
    pub fn get(&self, name: &str) -> Option<&NodeReport<T, E>> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The outcome of `name`.
    pub fn outcome(&self, name: &str) -> Option<&NodeOutcome<T, E>> {
        self.get(name).map(|n| &n.outcome)
    }

    /// The output of `name`, when it succeeded.
    pub fn output(&self, name: &str) -> Option<&T> {
        match self.outcome(name)? {
            NodeOutcome::Ok(v) => Some(v),
            _ => None,
        }
    }

    /// The nodes that failed, with their errors.
    pub fn failures(&self) -> impl Iterator<Item = (&str, &NodeError<E>)> {
        self.nodes.iter().filter_map(|n| match &n.outcome {
            NodeOutcome::Failed(e) => Some((n.name.as_str(), e)),
            _ => None,
        })
    }
}
