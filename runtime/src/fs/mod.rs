//! Files over the blocking pool (in progress).
