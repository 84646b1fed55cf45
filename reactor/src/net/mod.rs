//! Network types on the I/O driver (in progress).
