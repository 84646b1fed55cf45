//! [`Vocab`]: the tokenizer metadata shared by every model type, read and validated:
//! token texts and types, scores, special token ids, BOS / EOS flags, end-of-generation
//! tokens.
//!
//! Source: llama.cpp `llama-vocab.cpp` (`llama_vocab::impl::load`), GGUF spec
//! (`docs/gguf.md`, "Tokenizer").

use std::collections::HashMap;

use crate::gguf::{Array, Metadata, Value};

use super::error::TokenizerError;

/// `tokenizer.ggml.model`: `gpt2` or `llama`.
pub(crate) const KEY_MODEL: &str = "tokenizer.ggml.model";
/// `tokenizer.ggml.pre`: the pre-tokenizer of a `gpt2` vocabulary.
pub(crate) const KEY_PRE: &str = "tokenizer.ggml.pre";
/// `tokenizer.ggml.tokens`: string array, the token texts by id.
pub(crate) const KEY_TOKENS: &str = "tokenizer.ggml.tokens";
/// `tokenizer.ggml.token_type`: integer array, [`TokenType`] by id.
pub(crate) const KEY_TOKEN_TYPE: &str = "tokenizer.ggml.token_type";
/// `tokenizer.ggml.scores`: `f32` array, SentencePiece scores by id.
pub(crate) const KEY_SCORES: &str = "tokenizer.ggml.scores";
/// `tokenizer.ggml.merges`: string array `"left right"`, by rank.
pub(crate) const KEY_MERGES: &str = "tokenizer.ggml.merges";
/// `tokenizer.ggml.bos_token_id`.
pub(crate) const KEY_BOS: &str = "tokenizer.ggml.bos_token_id";
/// `tokenizer.ggml.eos_token_id`.
pub(crate) const KEY_EOS: &str = "tokenizer.ggml.eos_token_id";
/// `tokenizer.ggml.eot_token_id`.
pub(crate) const KEY_EOT: &str = "tokenizer.ggml.eot_token_id";
/// `tokenizer.ggml.eom_token_id`.
pub(crate) const KEY_EOM: &str = "tokenizer.ggml.eom_token_id";
/// `tokenizer.ggml.unknown_token_id`.
pub(crate) const KEY_UNK: &str = "tokenizer.ggml.unknown_token_id";
/// `tokenizer.ggml.padding_token_id`.
pub(crate) const KEY_PAD: &str = "tokenizer.ggml.padding_token_id";
/// `tokenizer.ggml.add_bos_token`.
pub(crate) const KEY_ADD_BOS: &str = "tokenizer.ggml.add_bos_token";
/// `tokenizer.ggml.add_eos_token`.
pub(crate) const KEY_ADD_EOS: &str = "tokenizer.ggml.add_eos_token";
/// `tokenizer.ggml.add_space_prefix`.
pub(crate) const KEY_ADD_SPACE_PREFIX: &str = "tokenizer.ggml.add_space_prefix";
/// `tokenizer.chat_template`.
pub(crate) const KEY_CHAT_TEMPLATE: &str = "tokenizer.chat_template";

/// Token texts that end generation whatever their type; llama.cpp makes them control
/// tokens (`special_eog_ids` in `llama_vocab::impl::load`).
const EOG_TEXTS: [&str; 22] = [
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<\u{ff5c}end\u{2581}of\u{2581}sentence\u{ff5c}>",
    "[e~[",
];

/// Texts llama.cpp takes for the end-of-turn token when `tokenizer.ggml.eot_token_id`
/// is absent, in order of preference.
const EOT_TEXTS: [&str; 11] = [
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "<\u{ff5c}end\u{2581}of\u{2581}sentence\u{ff5c}>",
    "<end_of_utterance>",
];

/// The type of a token (`tokenizer.ggml.token_type`; llama.cpp `llama_token_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenType {
    /// 0: undefined (treated as normal).
    Undefined,
    /// 1: an ordinary piece of text.
    Normal,
    /// 2: the unknown token (`<unk>`): never produced from text except as the SentencePiece
    /// fallback, rendered as nothing.
    Unknown,
    /// 3: a control token (`<s>`, `<|eot_id|>`): never produced from plain text, parsed
    /// by [`super::Tokenizer::encode_with_special`], rendered as nothing.
    Control,
    /// 4: a user-defined token: always split out of the text before the model runs,
    /// rendered as its text.
    UserDefined,
    /// 5: an unused (reserved) token.
    Unused,
    /// 6: a byte token (SentencePiece `<0xNN>`).
    Byte,
}

impl TokenType {
    /// The type for a `token_type` value, `None` outside 0..=6.
    pub fn from_id(v: i64) -> Option<TokenType> {
        Some(match v {
            0 => TokenType::Undefined,
            1 => TokenType::Normal,
            2 => TokenType::Unknown,
            3 => TokenType::Control,
            4 => TokenType::UserDefined,
            5 => TokenType::Unused,
            6 => TokenType::Byte,
            _ => return None,
        })
    }

    /// The `token_type` value.
    pub fn id(self) -> i32 {
        match self {
            TokenType::Undefined => 0,
            TokenType::Normal => 1,
            TokenType::Unknown => 2,
            TokenType::Control => 3,
            TokenType::UserDefined => 4,
            TokenType::Unused => 5,
            TokenType::Byte => 6,
        }
    }
}

/// Which tokenizer algorithm a vocabulary uses (`tokenizer.ggml.model`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenizerKind {
    /// `gpt2`: byte-level BPE with merge ranks.
    Gpt2,
    /// `llama`: SentencePiece BPE with scores and `<0xNN>` byte fallback.
    Llama,
}

/// The metadata every tokenizer type shares, validated.
#[derive(Debug, Clone)]
pub(crate) struct Vocab {
    pub texts: Vec<String>,
    pub types: Vec<TokenType>,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub eot: Option<u32>,
    pub unk: Option<u32>,
    pub pad: Option<u32>,
    /// Sorted, deduplicated.
    pub eog: Vec<u32>,
    pub add_eos: bool,
    pub chat_template: Option<String>,
}

impl Vocab {
    /// Reads tokens, types and special ids. `kind` picks llama.cpp's defaults (SPM:
    /// BOS 1, EOS 2, UNK 0 when absent and inside the vocabulary; gpt2: none).
    pub fn read(md: &Metadata, kind: TokenizerKind) -> Result<Vocab, TokenizerError> {
        let texts = md.get_str_array(KEY_TOKENS)?.to_vec();
        if texts.is_empty() {
            return Err(TokenizerError::bad(KEY_TOKENS, "the vocabulary is empty"));
        }
        if u32::try_from(texts.len()).is_err() {
            return Err(TokenizerError::bad(KEY_TOKENS, format!("{} tokens exceed u32 ids", texts.len())));
        }
        let n = texts.len();
        let mut types = match md.get(KEY_TOKEN_TYPE) {
            None => vec![TokenType::Normal; n],
            Some(v) => {
                let values = int_array(KEY_TOKEN_TYPE, v)?;
                if values.len() != n {
                    return Err(TokenizerError::bad(
                        KEY_TOKEN_TYPE,
                        format!("{} entries for {n} tokens", values.len()),
                    ));
                }
                values
                    .into_iter()
                    .enumerate()
                    .map(|(i, t)| {
                        TokenType::from_id(t).ok_or_else(|| {
                            TokenizerError::bad(
                                format!("{KEY_TOKEN_TYPE}[{i}]"),
                                format!("{t} is not a token type (0..=6)"),
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?
            }
        };

        let (def_bos, def_eos, def_unk) = match kind {
            TokenizerKind::Llama => (Some(1), Some(2), Some(0)),
            TokenizerKind::Gpt2 => (None, None, None),
        };
        let id = |key: &str, default: Option<u32>| -> Result<Option<u32>, TokenizerError> {
            if !md.contains_key(key) {
                return Ok(default.filter(|&d| (d as usize) < n));
            }
            let v = md.get_uint(key)?;
            if v >= n as u64 {
                return Err(TokenizerError::bad(
                    key,
                    format!("token id {v} is outside the vocabulary of {n}"),
                ));
            }
            Ok(Some(v as u32))
        };
        let bos = id(KEY_BOS, def_bos)?;
        let eos = id(KEY_EOS, def_eos)?;
        let mut eot = id(KEY_EOT, None)?;
        let mut eom = id(KEY_EOM, None)?;
        let unk = id(KEY_UNK, def_unk)?;
        let pad = id(KEY_PAD, None)?;
        let add_eos = md.get_bool_or(KEY_ADD_EOS, false)?;
        if add_eos && eos.is_none() {
            return Err(TokenizerError::bad(
                KEY_EOS,
                format!("{KEY_ADD_EOS} is set but there is no EOS token"),
            ));
        }
        let chat_template = match md.get(KEY_CHAT_TEMPLATE) {
            None => None,
            Some(_) => Some(md.get_str(KEY_CHAT_TEMPLATE)?.to_string()),
        };

        // llama.cpp: end-of-generation tokens by text, made control (the last id of a
        // duplicated text wins, as in its `token_to_id` map).
        let mut by_text: HashMap<&str, u32> = HashMap::with_capacity(16);
        for (i, t) in texts.iter().enumerate() {
            if EOG_TEXTS.contains(&t.as_str()) {
                by_text.insert(t.as_str(), i as u32);
            }
        }
        if eot.is_none() {
            eot = EOT_TEXTS.iter().find_map(|t| by_text.get(t).copied());
        }
        if eom.is_none() {
            eom = by_text.get("<|eom_id|>").copied();
        }
        for &i in by_text.values() {
            types[i as usize] = TokenType::Control;
        }
        let mut eog: Vec<u32> =
            by_text.values().copied().chain([eos, eot, eom].into_iter().flatten()).collect();
        // llama.cpp's exceptions: with gpt-oss's `<|return|>` + `<|call|>` (or solar-open's
        // `<|calls|>` + `<|flush|>`), `<|end|>` only ends a message; with gemma 4's
        // `<|tool_response>` or plamo's `<|plamo:eos|>`, `</s>` is a normal token.
        let eog_id = |eog: &[u32], t: &str| eog.iter().copied().find(|&i| texts[i as usize] == t);
        if let Some(end) = eog_id(&eog, "<|end|>") {
            let call = eog_id(&eog, "<|call|>").or(eog_id(&eog, "<|calls|>")).is_some();
            if call && eog_id(&eog, "<|return|>").or(eog_id(&eog, "<|flush|>")).is_some() {
                eog.retain(|&i| i != end);
                types[end as usize] = TokenType::UserDefined;
            }
        }
        if let Some(s) = eog_id(&eog, "</s>") {
            if eog_id(&eog, "<|tool_response>").or(eog_id(&eog, "<|plamo:eos|>")).is_some() {
                eog.retain(|&i| i != s);
                types[s as usize] = TokenType::Normal;
            }
        }
        eog.sort_unstable();
        eog.dedup();

        Ok(Vocab { texts, types, bos, eos, eot, unk, pad, eog, add_eos, chat_template })
    }

    pub fn len(&self) -> usize {
        self.texts.len()
    }
}

/// The elements of an integer array of any integer element type, as `i64`.
fn int_array(key: &str, v: &Value) -> Result<Vec<i64>, TokenizerError> {
    let mismatch = || {
        TokenizerError::Gguf(crate::gguf::GgufError::TypeMismatch {
            key: key.to_string(),
            expected: "array of integers",
            found: v.type_description(),
        })
    };
    let Value::Array(a) = v else { return Err(mismatch()) };
    Ok(match a {
        Array::I32(x) => x.iter().map(|&t| i64::from(t)).collect(),
        Array::U32(x) => x.iter().map(|&t| i64::from(t)).collect(),
        Array::I8(x) => x.iter().map(|&t| i64::from(t)).collect(),
        Array::U8(x) => x.iter().map(|&t| i64::from(t)).collect(),
        Array::I16(x) => x.iter().map(|&t| i64::from(t)).collect(),
        Array::U16(x) => x.iter().map(|&t| i64::from(t)).collect(),
        Array::I64(x) => x.clone(),
        Array::U64(x) => x.iter().map(|&t| i64::try_from(t).unwrap_or(i64::MAX)).collect(),
        _ => return Err(mismatch()),
    })
}

/// The `f32` scores (`tokenizer.ggml.scores`), `n` of them; zeros when absent (llama.cpp).
pub(crate) fn read_scores(md: &Metadata, n: usize) -> Result<Vec<f32>, TokenizerError> {
    if !md.contains_key(KEY_SCORES) {
        return Ok(vec![0.0; n]);
    }
    let s = md.get_f32_array(KEY_SCORES)?;
    if s.len() != n {
        return Err(TokenizerError::bad(KEY_SCORES, format!("{} entries for {n} tokens", s.len())));
    }
    Ok(s.to_vec())
}
