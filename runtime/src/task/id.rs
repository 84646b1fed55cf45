//! Task identifiers.

use std::fmt;
use std::num::NonZeroU64;

/// An opaque identifier of a spawned task.
///
/// Unique among all tasks alive in the process at the same time; the low 32 bits
/// name the task's slot in its runtime's registry and the high 32 bits count how
/// often that slot's shard was reused, so an id recurs only after about 2^32
/// further spawns on the same shard (tokio documents the same uniqueness rule).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(pub(crate) NonZeroU64);

impl Id {
    pub(crate) fn from_parts(generation: u32, slot: u32) -> Id {
        let raw = (u64::from(generation) << 32) | u64::from(slot);
        // Slot 0 with generation 0 is the only zero; callers never build it.
        Id(NonZeroU64::new(raw).unwrap_or(NonZeroU64::MIN))
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
