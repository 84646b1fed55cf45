//! [`StreamDecoder`]: token ids → text while generating, one token at a time.
//!
//! A token may end in the middle of a UTF-8 character (byte-level BPE pieces, `<0xNN>`
//! byte tokens), so its bytes cannot always be shown at once. The decoder keeps the
//! bytes of an incomplete trailing character until later tokens complete it; anything
//! that can never become valid becomes U+FFFD, exactly as [`super::Tokenizer::decode`]
//! would render it. The concatenation of every [`StreamDecoder::push`] result and
//! [`StreamDecoder::finish`] equals `decode` of the same ids.

use super::Tokenizer;

/// Incremental decoder: feed ids with [`StreamDecoder::push`], end with
/// [`StreamDecoder::finish`].
///
/// ```
/// use tern_inference::gguf::{GgufFile, GgufWriter};
/// use tern_inference::tokenizer::{synth::write_byte_level_vocab, StreamDecoder, Tokenizer};
///
/// let mut w = GgufWriter::new();
/// write_byte_level_vocab(&mut w, 300).unwrap();
/// let tok = Tokenizer::from_gguf(&GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap()).unwrap();
/// let ids = tok.encode("né", false).unwrap(); // 'é' is two byte tokens here
/// let mut d = StreamDecoder::new(&tok);
/// let parts: Vec<String> = ids.iter().map(|&id| d.push(id)).collect();
/// assert_eq!(parts.concat() + &d.finish(), "né");
/// assert!(parts.iter().all(|p| !p.contains('\u{FFFD}')));
/// ```
#[derive(Debug, Clone)]
pub struct StreamDecoder {
    tokenizer: Tokenizer,
    /// Bytes of an incomplete UTF-8 character waiting for the next token.
    pending: Vec<u8>,
    /// Whether the leading space of the first non-empty piece is still to be dropped
    /// (`llama` dummy prefix, as `decode`).
    strip_space: bool,
}

impl StreamDecoder {
    /// A decoder for ids from `tokenizer` (shares it; cheap).
    pub fn new(tokenizer: &Tokenizer) -> StreamDecoder {
        StreamDecoder {
            tokenizer: tokenizer.clone(),
            pending: Vec::new(),
            strip_space: tokenizer.strips_leading_space(),
        }
    }

    /// Adds token `id`; returns the text completed by it: valid UTF-8, possibly empty
    /// (a control token, or the first bytes of a character split across tokens). Ids
    /// outside the vocabulary add nothing.
    pub fn push(&mut self, id: u32) -> String {
        let mut piece = self.tokenizer.token_bytes(id);
        if piece.is_empty() {
            return String::new();
        }
        if self.strip_space {
            self.strip_space = false;
            if piece[0] == b' ' {
                piece = &piece[1..];
            }
        }
        self.pending.extend_from_slice(piece);
        let mut out = String::new();
        let mut start = 0;
        loop {
            match std::str::from_utf8(&self.pending[start..]) {
                Ok(s) => {
                    out.push_str(s);
                    start = self.pending.len();
                    break;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    out.push_str(&String::from_utf8_lossy(&self.pending[start..start + valid]));
                    match e.error_len() {
                        // Can never be valid: one U+FFFD, as `from_utf8_lossy`.
                        Some(n) => {
                            out.push('\u{FFFD}');
                            start += valid + n;
                        }
                        // An incomplete character at the end: keep it for later tokens.
                        None => {
                            start += valid;
                            break;
                        }
                    }
                }
            }
        }
        self.pending.drain(..start);
        out
    }

    /// The bytes still held (an incomplete character), U+FFFD for them; empty if none.
    pub fn finish(self) -> String {
        String::from_utf8_lossy(&self.pending).into_owned()
    }
}
