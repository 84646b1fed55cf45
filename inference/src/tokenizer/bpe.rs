//! `gpt2` vocabularies: byte-level BPE with merge ranks, as llama.cpp's
//! `llm_tokenizer_bpe` runs them.
//!
//! Text → pre-tokenizer regexes (`tokenizer.ggml.pre`, llama.cpp's table) → each piece's
//! UTF-8 bytes mapped to characters by GPT-2's `bytes_to_unicode` → BPE: repeatedly merge
//! the adjacent pair with the lowest rank in `tokenizer.ggml.merges` (ties: leftmost).
//! With `ignore_merges` (the Llama 3 pre-tokenizer) a piece that is itself a token is
//! taken whole. The regex split and the BPE run in the `tokenizers` crate (a `Sequence`
//! of `Split` pre-tokenizers and a `ByteLevel` one, and its `BPE` model).
//!
//! Control and unknown tokens are left out of the BPE vocabulary, so plain text never
//! becomes one of them (as in the Hugging Face tokenizers, where they are added tokens
//! outside the model); the special-token split in `super` handles them. A piece needing
//! a byte whose token is missing is an error, where llama.cpp and the `tokenizers` crate
//! silently drop the byte.
//!
//! The regexes run on `fancy-regex` with the `regex` crate's Unicode tables, where
//! llama.cpp hand-codes the common ones over its own tables; on llama.cpp's tokenizer
//! test files (`models/ggml-vocab-*.gguf.inp` / `.out`) the ids agree exactly.

use tokenizers::models::bpe::{Vocab as BpeVocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{
    Model, OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer, PreTokenizerWrapper,
    SplitDelimiterBehavior,
};

use super::error::TokenizerError;
use super::vocab::{TokenType, Vocab, KEY_MERGES, KEY_PRE, KEY_TOKENS};

/// GPT-2's pre-tokenizer regex.
const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";

/// Llama 3's pre-tokenizer regex, as llama.cpp writes it (the case-insensitive group
/// spelled out).
const LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Qwen 2's: Llama 3's with single digits.
const QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Qwen 3.5's: Qwen 2's with combining marks in words.
const QWEN35: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// DeepSeek LLM's, in turn (llama.cpp's hand-expanded letter class).
const DEEPSEEK_LLM: [&str; 6] = [
    r"[\r\n]",
    r"\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
    r"\s?[!-/:-~！-／：-～‘-‟　-。]+",
    r"\s+$",
    r"[一-龥ࠀ-一가-퟿]+",
    r"\p{N}+",
];

/// The pre-tokenizer of a `tokenizer.ggml.pre` name (llama.cpp `llm_tokenizer_bpe`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PreTokenizerSpec {
    /// Regexes applied in turn, each splitting the pieces of the one before.
    pub regexes: &'static [&'static str],
    /// Take a piece that is a whole token without merging (Llama 3).
    pub ignore_merges: bool,
    /// llama.cpp's default for `add_bos_token`.
    pub add_bos: bool,
}

/// The supported `tokenizer.ggml.pre` names, for messages.
pub(crate) const SUPPORTED_PRE: &str =
    "default (or absent), llama3, llama-v3, llama-bpe, falcon3, falcon-h1, \
     pixtral, midm-2.0, lfm2, jina-v5-nano, dbrx, smaug-bpe, gpt-2, phi-2, jina-es, jina-de, gigachat, \
     jina-v2-es, jina-v2-de, a.x-4.0, mellum, modern-bert, exaone4, mpt, olmo, jais, qwen2, \
     deepseek-r1-qwen, kormo, f2llmv2, stablelm2, megrez, qwen35, starcoder, refact, command-r, smollm, \
     codeshell, exaone, minerva-7b, falcon, deepseek-coder, deepseek-llm";

impl PreTokenizerSpec {
    /// The spec for `name` (`None`: the key is absent, llama.cpp's `default`).
    pub fn from_name(name: Option<&str>) -> Option<PreTokenizerSpec> {
        let spec = |regexes, ignore_merges, add_bos| PreTokenizerSpec { regexes, ignore_merges, add_bos };
        Some(match name {
            None | Some("default") => {
                spec(&[r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", "[0-9][0-9][0-9]"] as &[_], false, false)
            }
            Some(
                "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral" | "midm-2.0"
                | "lfm2" | "jina-v5-nano",
            ) => spec(&[LLAMA3], true, true),
            Some("dbrx" | "smaug-bpe") => spec(&[LLAMA3], false, false),
            Some(
                "gpt-2" | "phi-2" | "jina-es" | "jina-de" | "gigachat" | "jina-v2-es" | "jina-v2-de"
                | "a.x-4.0" | "mellum" | "modern-bert" | "exaone4" | "mpt" | "olmo" | "jais",
            ) => spec(&[GPT2], false, false),
            Some("qwen2" | "deepseek-r1-qwen" | "kormo" | "f2llmv2" | "stablelm2" | "megrez") => {
                spec(&[QWEN2], false, false)
            }
            Some("qwen35") => spec(&[QWEN35], false, false),
            Some("starcoder" | "refact" | "command-r" | "smollm" | "codeshell" | "exaone" | "minerva-7b") => {
                spec(&[r"\p{N}", GPT2], false, false)
            }
            Some("falcon") => spec(&[r"[\p{P}\$\+<=>\^~\|`]+", GPT2, "[0-9][0-9][0-9]"], false, false),
            Some("deepseek-coder") => spec(
                &[r"[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+", "[一-龥ࠀ-一가-\u{d7ff}]+", r"\p{N}"],
                false,
                false,
            ),
            Some("deepseek-llm") => spec(&DEEPSEEK_LLM, false, false),
            Some(_) => return None,
        })
    }
}

/// GPT-2's `bytes_to_unicode`: printable Latin-1 bytes map to themselves, the other 68
/// bytes, in order, to U+0100 onwards.
const BYTE_TO_CHAR: [char; 256] = {
    let mut table = ['\0'; 256];
    let mut next = 256u32;
    let mut b = 0usize;
    while b < 256 {
        let cp = if keeps_itself(b as u8) {
            b as u32
        } else {
            next += 1;
            next - 1
        };
        table[b] = match char::from_u32(cp) {
            Some(c) => c,
            None => '\0',
        };
        b += 1;
    }
    table
};

const fn keeps_itself(b: u8) -> bool {
    matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF)
}

/// The character GPT-2's byte-level mapping gives byte `b`.
pub(crate) fn byte_to_char(b: u8) -> char {
    BYTE_TO_CHAR[b as usize]
}

/// The byte behind a byte-level character, `None` for a character outside the mapping.
pub(crate) fn char_to_byte(c: char) -> Option<u8> {
    let cp = u32::from(c);
    if cp < 256 {
        return keeps_itself(cp as u8).then_some(cp as u8);
    }
    let n = cp.checked_sub(256)? as usize;
    (0..=255u8).filter(|&b| !keeps_itself(b)).nth(n)
}

/// The bytes of a byte-level token text: each mapped character becomes its byte; a
/// character outside the mapping (a hand-added token) keeps its own UTF-8 bytes.
pub(crate) fn unmap_bytes(text: &str, out: &mut Vec<u8>) {
    for c in text.chars() {
        match char_to_byte(c) {
            Some(b) => out.push(b),
            None => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
}

/// A ready byte-level BPE encoder.
pub(crate) struct BpeEncoder {
    pre: PreTokenizerWrapper,
    model: BPE,
}

impl std::fmt::Debug for BpeEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BpeEncoder").field("pre", &self.pre).finish_non_exhaustive()
    }
}

impl BpeEncoder {
    /// Builds the encoder from the vocabulary (control and unknown tokens left out), the
    /// merges and the pre-tokenizer.
    ///
    /// Errors: a merge without a space, or whose sides or concatenation are not tokens
    /// the BPE may produce ([`TokenizerError::BadMetadata`] naming
    /// `tokenizer.ggml.merges[i]`).
    pub fn new(
        vocab: &Vocab,
        merges: &[String],
        spec: PreTokenizerSpec,
    ) -> Result<BpeEncoder, TokenizerError> {
        let mut map = BpeVocab::default();
        map.reserve(vocab.len());
        for (i, (text, ty)) in vocab.texts.iter().zip(&vocab.types).enumerate() {
            if !matches!(ty, TokenType::Control | TokenType::Unknown) {
                map.insert(text.clone(), i as u32);
            }
        }
        let mut pairs = Vec::with_capacity(merges.len());
        let mut joined = String::new();
        for (i, m) in merges.iter().enumerate() {
            let key = || format!("{KEY_MERGES}[{i}]");
            // llama.cpp: the separator is the first space after the first byte.
            let sep = m.bytes().skip(1).position(|c| c == b' ').map(|p| p + 1);
            let Some(sep) = sep else {
                return Err(TokenizerError::bad(key(), format!("{m:?} is not \"left right\"")));
            };
            let (a, b) = (&m[..sep], &m[sep + 1..]);
            for part in [a, b] {
                if !map.contains_key(part) {
                    return Err(TokenizerError::bad(
                        key(),
                        format!("{m:?}: {part:?} is not a (non-control) token in {KEY_TOKENS}"),
                    ));
                }
            }
            joined.clear();
            joined.push_str(a);
            joined.push_str(b);
            if !map.contains_key(&joined) {
                return Err(TokenizerError::bad(
                    key(),
                    format!(
                        "{m:?}: the merged token {joined:?} is not a (non-control) token in {KEY_TOKENS}"
                    ),
                ));
            }
            pairs.push((a.to_string(), b.to_string()));
        }
        let model = BPE::builder()
            .vocab_and_merges(map, pairs)
            .ignore_merges(spec.ignore_merges)
            .build()
            .map_err(|e| TokenizerError::Backend(format!("building the BPE model: {e}")))?;
        let mut steps = Vec::with_capacity(spec.regexes.len() + 1);
        for r in spec.regexes {
            let split =
                Split::new(SplitPattern::Regex((*r).to_string()), SplitDelimiterBehavior::Isolated, false)
                    .map_err(|e| TokenizerError::bad(KEY_PRE, format!("regex {r:?}: {e}")))?;
            steps.push(PreTokenizerWrapper::Split(split));
        }
        steps.push(PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, false, false)));
        Ok(BpeEncoder { pre: PreTokenizerWrapper::Sequence(Sequence::new(steps)), model })
    }

    /// Appends the ids of `text` (no special tokens inside) to `out`.
    ///
    /// Errors: a byte whose token is missing ([`TokenizerError::Unencodable`]).
    pub fn encode(&self, text: &str, out: &mut Vec<u32>) -> Result<(), TokenizerError> {
        if text.is_empty() {
            return Ok(());
        }
        let mut pts = PreTokenizedString::from(text);
        self.pre
            .pre_tokenize(&mut pts)
            .map_err(|e| TokenizerError::Backend(format!("pre-tokenizer: {e}")))?;
        for (piece, _, _) in pts.get_splits(OffsetReferential::Original, OffsetType::None) {
            let tokens =
                self.model.tokenize(piece).map_err(|e| TokenizerError::Backend(format!("BPE: {e}")))?;
            // The BPE model drops characters it has no token for: check nothing was lost.
            let covered: usize = tokens.iter().map(|t| t.value.chars().count()).sum();
            if covered != piece.chars().count() {
                return Err(self.unencodable(piece));
            }
            out.extend(tokens.iter().map(|t| t.id));
        }
        Ok(())
    }

    fn unencodable(&self, piece: &str) -> TokenizerError {
        let mut bytes = Vec::new();
        unmap_bytes(piece, &mut bytes);
        let text = String::from_utf8_lossy(&bytes);
        let missing = piece.chars().find(|c| self.model.token_to_id(c.encode_utf8(&mut [0; 4])).is_none());
        let ch = text.chars().next().unwrap_or('\u{FFFD}');
        let reason = match missing.and_then(char_to_byte) {
            Some(b) => format!("in {text:?}: byte 0x{b:02X} has no (non-control) token in {KEY_TOKENS}"),
            None => format!("in {text:?}: a byte has no (non-control) token in {KEY_TOKENS}"),
        };
        TokenizerError::Unencodable { ch, reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_mapping_is_gpt2s_and_a_bijection() {
        assert_eq!(byte_to_char(b'A'), 'A');
        assert_eq!(byte_to_char(b' '), 'Ġ');
        assert_eq!(byte_to_char(b'\n'), 'Ċ');
        assert_eq!(byte_to_char(0), 'Ā');
        assert_eq!(byte_to_char(0xAD), 'Ń');
        let mut seen = std::collections::HashSet::new();
        for b in 0..=255u8 {
            let c = byte_to_char(b);
            assert!(seen.insert(c));
            assert_eq!(char_to_byte(c), Some(b));
        }
        assert_eq!(char_to_byte('▁'), None);
        assert_eq!(char_to_byte('\u{144}'), None);
    }

    #[test]
    fn every_named_pre_tokenizer_compiles() {
        for name in SUPPORTED_PRE.split(", ") {
            let name = name.split(' ').next().unwrap();
            let spec = PreTokenizerSpec::from_name(Some(name)).unwrap_or_else(|| panic!("{name}"));
            for r in spec.regexes {
                Split::new(SplitPattern::Regex((*r).to_string()), SplitDelimiterBehavior::Isolated, false)
                    .unwrap_or_else(|e| panic!("{name}: {r}: {e}"));
            }
        }
        assert!(PreTokenizerSpec::from_name(Some("no-such-pre")).is_none());
    }
}
