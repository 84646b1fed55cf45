//! `llama` vocabularies: SentencePiece BPE as llama.cpp's `llm_tokenizer_spm` runs it.
//!
//! Spaces become U+2581 (`▁`), with one more in front when the dummy prefix applies;
//! the text is split into UTF-8 characters; then, repeatedly, the adjacent pair whose
//! concatenation is a token with the highest score (`tokenizer.ggml.scores`; ties: the
//! leftmost) is merged. A final piece that is not a token (a character outside the
//! vocabulary) becomes its bytes' `<0xNN>` tokens (byte fallback), else a token whose
//! text is that single byte, else one unknown token per character.
//!
//! Only normal, user-defined and undefined tokens take part in merging: control,
//! unknown, unused and byte tokens are never produced from text (as in SentencePiece;
//! llama.cpp would also merge into them).

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use super::error::TokenizerError;
use super::vocab::{TokenType, Vocab};

/// The SentencePiece word-boundary mark, U+2581.
pub(crate) const SPACE_MARK: char = '\u{2581}';

/// A ready SentencePiece encoder.
#[derive(Debug, Clone)]
pub(crate) struct SpmEncoder {
    /// Mergeable token text → (id, score); the last id of a duplicated text wins.
    pieces: HashMap<String, (u32, f32)>,
    /// The token for each byte (byte fallback).
    byte_tokens: Box<[Option<u32>; 256]>,
    unk: Option<u32>,
}

/// The byte of a SentencePiece byte token text `<0xNN>`.
pub(crate) fn parse_byte_token(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

impl SpmEncoder {
    /// Builds the encoder from the vocabulary and its scores (one per token).
    pub fn new(vocab: &Vocab, scores: &[f32]) -> SpmEncoder {
        let mut pieces = HashMap::with_capacity(vocab.len());
        let mut all: HashMap<&str, u32> = HashMap::with_capacity(vocab.len());
        for (i, (text, ty)) in vocab.texts.iter().zip(&vocab.types).enumerate() {
            all.insert(text, i as u32);
            if matches!(ty, TokenType::Normal | TokenType::UserDefined | TokenType::Undefined) {
                pieces.insert(text.clone(), (i as u32, scores[i]));
            }
        }
        // llama.cpp `byte_to_token`: `<0xNN>` (upper-case hex), else the byte as text.
        let mut byte_tokens = Box::new([None; 256]);
        for (b, slot) in byte_tokens.iter_mut().enumerate() {
            *slot = all.get(format!("<0x{b:02X}>").as_str()).copied().or_else(|| {
                let single = [b as u8];
                std::str::from_utf8(&single).ok().and_then(|s| pieces.get(s)).map(|&(id, _)| id)
            });
        }
        SpmEncoder { pieces, byte_tokens, unk: vocab.unk }
    }

    /// Appends the ids of `text` (no special tokens inside) to `out`, with a leading
    /// space first when `prefix_space`.
    ///
    /// Errors: a character with no token, no byte tokens for its bytes and no unknown
    /// token ([`TokenizerError::Unencodable`]).
    pub fn encode(&self, text: &str, prefix_space: bool, out: &mut Vec<u32>) -> Result<(), TokenizerError> {
        let mut s = String::with_capacity(text.len() + 3);
        if prefix_space {
            s.push(SPACE_MARK);
        }
        s.extend(text.chars().map(|c| if c == ' ' { SPACE_MARK } else { c }));
        if s.is_empty() {
            return Ok(());
        }

        // Symbols: byte ranges of `s`, linked; a merged-away symbol has len 0.
        let mut syms: Vec<Symbol> = Vec::with_capacity(s.len());
        for (i, (start, c)) in s.char_indices().enumerate() {
            syms.push(Symbol { start, len: c.len_utf8(), prev: i.checked_sub(1), next: Some(i + 1) });
        }
        if let Some(last) = syms.last_mut() {
            last.next = None;
        }
        let mut queue = BinaryHeap::new();
        let try_add =
            |syms: &[Symbol], queue: &mut BinaryHeap<Bigram>, left: Option<usize>, right: Option<usize>| {
                let (Some(l), Some(r)) = (left, right) else { return };
                let size = syms[l].len + syms[r].len;
                let text = &s[syms[l].start..syms[l].start + size];
                if let Some(&(_, score)) = self.pieces.get(text) {
                    queue.push(Bigram { score, left: l, right: r, size });
                }
            };
        for i in 1..syms.len() {
            try_add(&syms, &mut queue, Some(i - 1), Some(i));
        }
        while let Some(b) = queue.pop() {
            let (l, r) = (b.left, b.right);
            if syms[l].len == 0 || syms[r].len == 0 || syms[l].len + syms[r].len != b.size {
                continue; // stale: one side was merged since
            }
            syms[l].len += syms[r].len;
            syms[r].len = 0;
            syms[l].next = syms[r].next;
            if let Some(n) = syms[r].next {
                syms[n].prev = Some(l);
            }
            try_add(&syms, &mut queue, syms[l].prev, Some(l));
            try_add(&syms, &mut queue, Some(l), syms[l].next);
        }

        let mut i = Some(0);
        while let Some(k) = i {
            let piece = &s[syms[k].start..syms[k].start + syms[k].len];
            match self.pieces.get(piece) {
                Some(&(id, _)) => out.push(id),
                None => self.fallback(piece, out)?,
            }
            i = syms[k].next;
        }
        Ok(())
    }

    /// Byte fallback for one unmerged piece (a single character).
    fn fallback(&self, piece: &str, out: &mut Vec<u32>) -> Result<(), TokenizerError> {
        for c in piece.chars() {
            let mut buf = [0; 4];
            let bytes = c.encode_utf8(&mut buf).as_bytes();
            let ids: Option<Vec<u32>> = bytes.iter().map(|&b| self.byte_tokens[b as usize]).collect();
            match (ids, self.unk) {
                (Some(ids), _) => out.extend(ids),
                (None, Some(unk)) => out.push(unk),
                (None, None) => {
                    return Err(TokenizerError::Unencodable {
                        ch: if c == SPACE_MARK { ' ' } else { c },
                        reason: "not in the vocabulary, no <0xNN> byte tokens for it and no unknown token"
                            .into(),
                    })
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

/// A candidate merge; the heap pops the highest score, then the leftmost.
#[derive(Debug, Clone, Copy)]
struct Bigram {
    score: f32,
    left: usize,
    right: usize,
    size: usize,
}

impl Ord for Bigram {
    fn cmp(&self, other: &Bigram) -> Ordering {
        self.score.total_cmp(&other.score).then_with(|| other.left.cmp(&self.left))
    }
}

impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Bigram) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Bigram {
    fn eq(&self, other: &Bigram) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Bigram {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_token_texts() {
        assert_eq!(parse_byte_token("<0x0A>"), Some(10));
        assert_eq!(parse_byte_token("<0xff>"), Some(255));
        assert_eq!(parse_byte_token("<0x1>"), None);
        assert_eq!(parse_byte_token("<0x100>"), None);
        assert_eq!(parse_byte_token("<0xZZ>"), None);
        assert_eq!(parse_byte_token("<0x+1>"), None);
        assert_eq!(parse_byte_token("0x41"), None);
    }
}
