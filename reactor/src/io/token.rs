//! The `mio::Token` layout: a slab index in the low bits, a generation in the high bits.
//!
//! On 64-bit targets the index takes the low [`INDEX_BITS`] = 24 bits and the generation the
//! high 40; on narrower targets the index takes 16 bits and the generation the rest. The
//! index whose bits are all ones is never handed out: [`WAKER_TOKEN`] (`usize::MAX`) uses it,
//! so the waker's token can never decode to a live source. Each registration takes the next
//! value of a per-driver generation counter (wrapping within the generation bits), so a token
//! left over from an earlier owner of a reused slab slot carries a different generation and
//! its events are dropped. A collision needs 2^40 registrations between the moment `mio`
//! reported an event and the moment it is dispatched.

use mio::Token;

/// Bits of a token holding the slab index.
pub(crate) const INDEX_BITS: u32 = if usize::BITS >= 64 { 24 } else { 16 };
/// Mask of the index bits.
pub(crate) const INDEX_MASK: usize = (1 << INDEX_BITS) - 1;
/// Mask of a generation value (before it is shifted into place).
pub(crate) const GENERATION_MASK: usize = usize::MAX >> INDEX_BITS;
/// Slab indices must be below this; the all-ones index is reserved for the waker.
pub(crate) const MAX_SOURCES: usize = INDEX_MASK;
/// The token of the driver's `mio::Waker`.
pub(crate) const WAKER_TOKEN: Token = Token(usize::MAX);

/// The token of the source in slab slot `index` with `generation`.
pub(crate) fn encode(index: usize, generation: usize) -> Token {
    debug_assert!(index < MAX_SOURCES);
    Token(((generation & GENERATION_MASK) << INDEX_BITS) | index)
}

/// `(index, generation)` of a token made by [`encode`].
pub(crate) fn decode(token: Token) -> (usize, usize) {
    (token.0 & INDEX_MASK, token.0 >> INDEX_BITS)
}

/// The generation following `generation`, wrapping within the generation bits.
pub(crate) fn next_generation(generation: usize) -> usize {
    generation.wrapping_add(1) & GENERATION_MASK
}
