//! Tokenizers read from GGUF metadata, following llama.cpp (`llama-vocab.cpp`) and the
//! GGUF spec (`docs/gguf.md`, "Tokenizer").
//!
//! | file | one job |
//! | --- | --- |
//! | `error.rs` | [`TokenizerError`] |
//! | `vocab.rs` | tokens, [`TokenType`]s, special ids, end-of-generation set: read and checked |
//! | `bpe.rs` | `gpt2`: byte-level BPE (pre-tokenizer regexes + merges, via the `tokenizers` crate) |
//! | `spm.rs` | `llama`: SentencePiece BPE by scores with `<0xNN>` byte fallback |
//! | `stream.rs` | [`StreamDecoder`]: token ids → text as it becomes valid UTF-8 |
//! | `synth.rs` | [`synth::write_byte_level_vocab`]: a `gpt2` vocabulary for synthetic models |
//!
//! Keys read (all under `tokenizer.ggml.` except the last):
//!
//! | key | use | default |
//! | --- | --- | --- |
//! | `model` | `gpt2` or `llama` | required |
//! | `tokens` | token texts by id (string array) | required |
//! | `token_type` | [`TokenType`] by id (integer array, same length) | all normal |
//! | `scores` | `llama`: merge priority by id (`f32` array, same length) | all 0 |
//! | `merges` | `gpt2`: `"left right"` by rank (string array) | required for `gpt2` |
//! | `pre` | `gpt2`: pre-tokenizer name (llama.cpp's table) | `default` |
//! | `bos_token_id`, `eos_token_id`, `unknown_token_id` | special ids | `llama`: 1, 2, 0; `gpt2`: none |
//! | `eot_token_id`, `eom_token_id` | end of turn / message | by text (`<\|eot_id\|>`, `<\|eom_id\|>`, ...) |
//! | `padding_token_id` | padding | none |
//! | `add_bos_token` | BOS first when `add_special` | `llama`: true; `gpt2`: true for the Llama 3 pre-tokenizers, else false |
//! | `add_eos_token` | EOS last when `add_special` | false |
//! | `add_space_prefix` | `llama`: the dummy-prefix space | true |
//! | `tokenizer.chat_template` | [`Tokenizer::chat_template`] | none |
//!
//! Special tokens: control, user-defined and unknown tokens are split out of the text
//! before the model runs (longest text first, as llama.cpp's `tokenizer_st_partition`);
//! [`Tokenizer::encode`] splits out only user-defined ones (a `"<|eot_id|>"` typed by
//! a user stays text), [`Tokenizer::encode_with_special`] all of them (for chat
//! templates). Plain text never produces a control token, nor an unknown one except as
//! the SentencePiece fallback for a character without byte tokens.
//!
//! Decoding is lossless (`decode(encode(s)) == s`, see [`Tokenizer::decode`] for the
//! exceptions); control, unknown and out-of-range ids render as nothing; llama.cpp's
//! `clean_spaces` post-processing (dropping the space before `.`) is not applied.
//!
//! ```
//! use tern_inference::gguf::GgufWriter;
//! use tern_inference::tokenizer::{synth::write_byte_level_vocab, StreamDecoder, Tokenizer};
//!
//! let mut w = GgufWriter::new();
//! write_byte_level_vocab(&mut w, 512).unwrap();
//! let file = tern_inference::gguf::GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
//! let tok = Tokenizer::from_gguf(&file).unwrap();
//! let ids = tok.encode("Hello, world!", true).unwrap();
//! assert_eq!(ids[0], tok.bos().unwrap());
//! assert_eq!(tok.decode(&ids), "Hello, world!");
//!
//! let mut stream = StreamDecoder::new(&tok);
//! let text: String = ids.iter().map(|&id| stream.push(id)).collect::<String>() + &stream.finish();
//! assert_eq!(text, "Hello, world!");
//! ```

mod bpe;
mod error;
mod spm;
mod stream;
pub mod synth;
mod vocab;

use std::fmt;
use std::sync::Arc;

use crate::gguf::{GgufFile, Metadata};

pub use error::TokenizerError;
pub use stream::StreamDecoder;
pub use vocab::{TokenType, TokenizerKind};

use bpe::{BpeEncoder, PreTokenizerSpec};
use spm::SpmEncoder;
use vocab::{Vocab, KEY_ADD_BOS, KEY_ADD_SPACE_PREFIX, KEY_BOS, KEY_MERGES, KEY_MODEL, KEY_PRE, KEY_TOKENS};

/// A tokenizer built from GGUF metadata. Cheap to clone (shared); `Send + Sync`.
#[derive(Clone)]
pub struct Tokenizer {
    inner: Arc<Inner>,
}

struct Inner {
    kind: TokenizerKind,
    vocab: Vocab,
    /// Every token's decoded bytes, concatenated; token `i` is
    /// `pieces[piece_ends[i - 1]..piece_ends[i]]`.
    pieces: Vec<u8>,
    piece_ends: Vec<usize>,
    /// Control, user-defined and unknown tokens with non-empty text, longest first.
    specials: Vec<u32>,
    add_bos: bool,
    /// `llama` with the dummy prefix: a space before text that starts the input or
    /// follows a special token, and one leading space stripped when decoding.
    add_space_prefix: bool,
    engine: Engine,
}

enum Engine {
    Bpe(Box<BpeEncoder>),
    Spm(SpmEncoder),
}

/// A piece of input text after splitting out special tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fragment<'a> {
    Text(&'a str),
    Token(u32),
}

impl fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.inner;
        f.debug_struct("Tokenizer")
            .field("kind", &t.kind)
            .field("vocab_size", &t.vocab.len())
            .field("bos", &t.vocab.bos)
            .field("eos", &t.vocab.eos)
            .field("eog", &t.vocab.eog)
            .field("add_bos", &t.add_bos)
            .field("add_eos", &t.vocab.add_eos)
            .field("add_space_prefix", &t.add_space_prefix)
            .field("specials", &t.specials.len())
            .finish_non_exhaustive()
    }
}

impl Tokenizer {
    /// The tokenizer of a GGUF file ([`Tokenizer::from_metadata`] on its metadata).
    pub fn from_gguf(file: &GgufFile) -> Result<Tokenizer, TokenizerError> {
        Tokenizer::from_metadata(file.metadata())
    }

    /// Builds the tokenizer described by `md` (keys and defaults in the module docs).
    ///
    /// Errors: [`TokenizerError::Unsupported`] for a `tokenizer.ggml.model` other than
    /// `gpt2` / `llama`; [`TokenizerError::Gguf`] for a missing required key or a key of
    /// the wrong type; [`TokenizerError::BadMetadata`] naming the key for an empty
    /// vocabulary, arrays of a length other than the vocabulary's, a token type outside
    /// 0..=6, a special id past the vocabulary, `add_bos_token` / `add_eos_token` without
    /// the token, a malformed `<0xNN>` byte token, a merge that is not two tokens whose
    /// concatenation is a token, or an unknown pre-tokenizer. Never panics.
    pub fn from_metadata(md: &Metadata) -> Result<Tokenizer, TokenizerError> {
        let kind = match md.get_str(KEY_MODEL)? {
            "gpt2" => TokenizerKind::Gpt2,
            "llama" => TokenizerKind::Llama,
            other => return Err(TokenizerError::Unsupported(other.to_string())),
        };
        let vocab = Vocab::read(md, kind)?;
        let (engine, default_add_bos, add_space_prefix) = match kind {
            TokenizerKind::Gpt2 => {
                let pre = match md.get(KEY_PRE) {
                    None => None,
                    Some(_) => Some(md.get_str(KEY_PRE)?),
                };
                let spec = PreTokenizerSpec::from_name(pre).ok_or_else(|| {
                    TokenizerError::bad(
                        KEY_PRE,
                        format!(
                            "pre-tokenizer {:?} is not supported (supported: {})",
                            pre.unwrap_or_default(),
                            bpe::SUPPORTED_PRE
                        ),
                    )
                })?;
                let merges = md.get_str_array(KEY_MERGES)?;
                (Engine::Bpe(Box::new(BpeEncoder::new(&vocab, merges, spec)?)), spec.add_bos, false)
            }
            TokenizerKind::Llama => {
                let scores = vocab::read_scores(md, vocab.len())?;
                for (i, (text, ty)) in vocab.texts.iter().zip(&vocab.types).enumerate() {
                    if *ty == TokenType::Byte && spm::parse_byte_token(text).is_none() {
                        return Err(TokenizerError::bad(
                            format!("{KEY_TOKENS}[{i}]"),
                            format!("byte token {text:?} is not <0xNN>"),
                        ));
                    }
                }
                let prefix = md.get_bool_or(KEY_ADD_SPACE_PREFIX, true)?;
                (Engine::Spm(SpmEncoder::new(&vocab, &scores)), true, prefix)
            }
        };
        let add_bos = md.get_bool_or(KEY_ADD_BOS, default_add_bos)?;
        if add_bos && vocab.bos.is_none() {
            return Err(TokenizerError::bad(
                KEY_BOS,
                format!("{KEY_ADD_BOS} is set but there is no BOS token"),
            ));
        }

        let mut pieces = Vec::new();
        let mut piece_ends = Vec::with_capacity(vocab.len());
        for (text, ty) in vocab.texts.iter().zip(&vocab.types) {
            render(kind, text, *ty, &mut pieces);
            piece_ends.push(pieces.len());
        }
        let mut specials: Vec<u32> = (0..vocab.len() as u32)
            .filter(|&i| {
                let i = i as usize;
                !vocab.texts[i].is_empty()
                    && matches!(
                        vocab.types[i],
                        TokenType::Control | TokenType::UserDefined | TokenType::Unknown
                    )
            })
            .collect();
        specials.sort_by_key(|&i| std::cmp::Reverse(vocab.texts[i as usize].len()));

        let inner = Inner { kind, vocab, pieces, piece_ends, specials, add_bos, add_space_prefix, engine };
        Ok(Tokenizer { inner: Arc::new(inner) })
    }

    /// Which algorithm (`tokenizer.ggml.model`).
    pub fn kind(&self) -> TokenizerKind {
        self.inner.kind
    }

    /// The number of tokens (ids are `0..vocab_size`).
    pub fn vocab_size(&self) -> usize {
        self.inner.vocab.len()
    }

    /// Encodes `text` (UTF-8, any content) to token ids. Control and unknown token texts
    /// in `text` stay text; user-defined tokens are split out. With `add_special`, BOS
    /// first if `tokenizer.ggml.add_bos_token` (see the module docs for its default) and
    /// EOS last if `tokenizer.ggml.add_eos_token`. An empty `text` gives no ids (or just
    /// BOS / EOS).
    ///
    /// Errors: [`TokenizerError::Unencodable`] when the vocabulary has no token for a
    /// byte of `text` (a byte-level vocabulary missing a byte token; a SentencePiece one
    /// without `<0xNN>` tokens and without an unknown token);
    /// [`TokenizerError::Backend`] if the `tokenizers` crate fails.
    pub fn encode(&self, text: &str, add_special: bool) -> Result<Vec<u32>, TokenizerError> {
        self.encode_impl(text, add_special, false)
    }

    /// As [`Tokenizer::encode`], but control and unknown token texts inside `text`
    /// (`"<|eot_id|>"`, `"<s>"`) become their ids: for prompts built by a chat template.
    /// Where special texts overlap, the longest is split out first (llama.cpp).
    ///
    /// Errors: as [`Tokenizer::encode`].
    pub fn encode_with_special(&self, text: &str, add_special: bool) -> Result<Vec<u32>, TokenizerError> {
        self.encode_impl(text, add_special, true)
    }

    fn encode_impl(
        &self,
        text: &str,
        add_special: bool,
        parse_special: bool,
    ) -> Result<Vec<u32>, TokenizerError> {
        let t = &self.inner;
        let mut out = Vec::with_capacity(text.len() / 3 + 2);
        if add_special && t.add_bos {
            out.extend(t.vocab.bos);
        }
        // llama.cpp: the dummy prefix goes before text that starts the input or follows a
        // special token.
        let mut after_special = true;
        for fragment in self.partition(text, parse_special) {
            match fragment {
                Fragment::Text(s) => {
                    match &t.engine {
                        Engine::Bpe(e) => e.encode(s, &mut out)?,
                        Engine::Spm(e) => e.encode(s, t.add_space_prefix && after_special, &mut out)?,
                    }
                    after_special = false;
                }
                Fragment::Token(id) => {
                    out.push(id);
                    after_special = true;
                }
            }
        }
        if add_special && t.vocab.add_eos {
            out.extend(t.vocab.eos);
        }
        Ok(out)
    }

    /// Splits the special tokens out of `text` (llama.cpp `tokenizer_st_partition`):
    /// for each special token, longest first, every occurrence inside the remaining text
    /// fragments.
    fn partition<'a>(&self, text: &'a str, parse_special: bool) -> Vec<Fragment<'a>> {
        let t = &self.inner;
        let mut frags = if text.is_empty() { Vec::new() } else { vec![Fragment::Text(text)] };
        for &id in &t.specials {
            let ty = t.vocab.types[id as usize];
            if !parse_special && ty != TokenType::UserDefined {
                continue;
            }
            let pat = t.vocab.texts[id as usize].as_str();
            if !frags.iter().any(|f| matches!(f, Fragment::Text(s) if s.contains(pat))) {
                continue;
            }
            let mut next = Vec::with_capacity(frags.len() + 2);
            for f in frags {
                let Fragment::Text(mut rest) = f else {
                    next.push(f);
                    continue;
                };
                while let Some(pos) = rest.find(pat) {
                    if pos > 0 {
                        next.push(Fragment::Text(&rest[..pos]));
                    }
                    next.push(Fragment::Token(id));
                    rest = &rest[pos + pat.len()..];
                }
                if !rest.is_empty() {
                    next.push(Fragment::Text(rest));
                }
            }
            frags = next;
        }
        frags
    }

    /// Decodes `ids` to text: the tokens' bytes ([`Tokenizer::token_bytes`]) joined,
    /// then read as UTF-8 with invalid sequences replaced by U+FFFD (as
    /// [`String::from_utf8_lossy`]). Control, unknown and unused (`llama`) tokens and ids
    /// outside the vocabulary render as nothing. For `llama` with the dummy prefix, one
    /// leading space of the result is dropped (the one `encode` added).
    ///
    /// `decode(&encode(s, add_special)?) == s` for every string `s`, except: with a
    /// `llama` vocabulary, a literal `▁` (U+2581) comes back as a space, text right after
    /// a user-defined token gets a space added (the dummy prefix, as llama.cpp), and
    /// characters encoded as the unknown token are lost.
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut bytes = Vec::with_capacity(ids.len() * 4);
        for &id in ids {
            bytes.extend_from_slice(self.token_bytes(id));
        }
        if self.inner.add_space_prefix && bytes.first() == Some(&b' ') {
            bytes.remove(0);
        }
        match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }
    }

    /// The bytes token `id` renders as in the middle of a decoded sequence: for `gpt2`
    /// the byte-level characters mapped back to bytes; for `llama` the text with `▁` as
    /// a space, or the byte of a `<0xNN>` token; a user-defined token's text as is;
    /// nothing (empty) for control, unknown, unused (`llama`) and out-of-range ids. May
    /// be part of a UTF-8 character.
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        let t = &self.inner;
        let i = id as usize;
        match t.piece_ends.get(i) {
            Some(&end) => {
                let start = if i == 0 { 0 } else { t.piece_ends[i - 1] };
                &t.pieces[start..end]
            }
            None => &[],
        }
    }

    /// The text of token `id` as stored in `tokenizer.ggml.tokens` (byte-level
    /// characters for `gpt2`, `▁` for spaces for `llama`), `None` outside the vocabulary.
    pub fn token_text(&self, id: u32) -> Option<&str> {
        self.inner.vocab.texts.get(id as usize).map(String::as_str)
    }

    /// The type of token `id` as the tokenizer uses it (`tokenizer.ggml.token_type`, with
    /// the end-of-generation texts made control as in [`Tokenizer::is_eog`]), `None`
    /// outside the vocabulary.
    pub fn token_type(&self, id: u32) -> Option<TokenType> {
        self.inner.vocab.types.get(id as usize).copied()
    }

    /// The id of the token whose text is exactly `text` (the last one if several), if
    /// any. Linear in the vocabulary size.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.inner.vocab.texts.iter().rposition(|t| t == text).map(|i| i as u32)
    }

    /// The beginning-of-sequence token.
    pub fn bos(&self) -> Option<u32> {
        self.inner.vocab.bos
    }

    /// The end-of-sequence token.
    pub fn eos(&self) -> Option<u32> {
        self.inner.vocab.eos
    }

    /// The end-of-turn token (`tokenizer.ggml.eot_token_id`, else by text as llama.cpp:
    /// the first of `<|eot_id|>`, `<|im_end|>`, `<|end|>`, `<end_of_turn>`,
    /// `<|endoftext|>`, `<|end_of_text|>`, `<EOT>`, ... in the vocabulary).
    pub fn eot(&self) -> Option<u32> {
        self.inner.vocab.eot
    }

    /// The padding token (`tokenizer.ggml.padding_token_id`).
    pub fn pad(&self) -> Option<u32> {
        self.inner.vocab.pad
    }

    /// Whether BOS is prepended by `encode(.., true)`.
    pub fn add_bos(&self) -> bool {
        self.inner.add_bos
    }

    /// Whether generating `id` ends generation (llama.cpp `llama_vocab::is_eog`): EOS,
    /// EOT, EOM (`tokenizer.ggml.eom_token_id` or `<|eom_id|>`), and any token with one of
    /// llama.cpp's end-of-generation texts (`<|eot_id|>`, `<|end_of_text|>`, `<|im_end|>`,
    /// `</s>`, `<|endoftext|>`, `<end_of_turn>`, `<|end|>`, `<EOT>`, ...; such tokens are
    /// control tokens whatever their `token_type`, with llama.cpp's two exceptions for
    /// gpt-oss's `<|end|>` and gemma 4's `</s>`). Out-of-range ids: false.
    pub fn is_eog(&self, id: u32) -> bool {
        self.inner.vocab.eog.binary_search(&id).is_ok()
    }

    /// The end-of-generation tokens, sorted.
    pub fn eog_tokens(&self) -> &[u32] {
        &self.inner.vocab.eog
    }

    /// The Jinja chat template (`tokenizer.chat_template`), if the file has one.
    pub fn chat_template(&self) -> Option<&str> {
        self.inner.vocab.chat_template.as_deref()
    }

    /// Whether decoding drops one leading space (the `llama` dummy prefix).
    pub(crate) fn strips_leading_space(&self) -> bool {
        self.inner.add_space_prefix
    }
}

/// Appends the bytes token text `text` of type `ty` decodes to (llama.cpp
/// `token_to_piece` with `special = false`).
fn render(kind: TokenizerKind, text: &str, ty: TokenType, out: &mut Vec<u8>) {
    match (ty, kind) {
        (TokenType::Control | TokenType::Unknown, _) => {}
        (TokenType::UserDefined, _) => out.extend_from_slice(text.as_bytes()),
        (_, TokenizerKind::Gpt2) => bpe::unmap_bytes(text, out),
        (TokenType::Unused, TokenizerKind::Llama) => {}
        (TokenType::Byte, TokenizerKind::Llama) => out.extend(spm::parse_byte_token(text)),
        (_, TokenizerKind::Llama) => {
            for c in text.chars() {
                let c = if c == spm::SPACE_MARK { ' ' } else { c };
                out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync + Clone + fmt::Debug + 'static>() {}

    #[test]
    fn tokenizer_is_send_sync_clone_debug() {
        assert_send_sync::<Tokenizer>();
        assert_send_sync::<StreamDecoder>();
    }
}
