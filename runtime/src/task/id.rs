//! Task identifiers.

use std::fmt;
use std::num::NonZeroU64;

/// An opaque identifier of a spawned task.
///
/// Unique among all tasks alive in the process at the same time (across runtimes),
/// unless one of them outlived about 2^32 later spawns. The low 32 bits name the
/// task's slot in its runtime's registry; the high 32 bits are a generation drawn
/// from a process-wide counter. tokio documents the same uniqueness rule.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(pub(crate) NonZeroU64);

impl Id {
    /// The id of a task never bound to a registry (spawned after shutdown).
    pub(crate) const UNREGISTERED: Id = match NonZeroU64::new(1 << 32) {
        Some(v) => Id(v),
        None => unreachable!(),
    };

    /// `slot` is the registry slot plus one (so at least 1, and the id is never
    /// zero); `generation` is any value of the process-wide counter, 0 included.
    /// (Clamping generation 0 to 1 once made the first two spawns of a process
    /// share an id when the second reused the first's slot.)
    pub(crate) fn from_parts(generation: u32, slot: u32) -> Id {
        let raw = (u64::from(generation) << 32) | u64::from(slot);
        Id(NonZeroU64::new(raw).expect("a registered task's slot is at least 1"))
    }

    /// The registry slot plus one (0: never registered).
    pub(crate) fn slot(self) -> u32 {
        self.0.get() as u32
    }

    /// The id as a number, e.g. for logs and metrics.
    pub fn as_u64(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.0)
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}
