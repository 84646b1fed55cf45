//! A deterministic `gpt2` byte-level vocabulary of any size ≥ [`MIN_VOCAB`], for
//! synthetic models (`crate::model::synth`) and tests.
//!
//! Layout: ids 0..4 are control tokens ([`BOS`] `<|begin_of_text|>`, [`EOS`]
//! `<|end_of_text|>`, [`EOT`] `<|eot_id|>`, [`PAD`] `<|pad|>`); ids 4..260 the 256
//! byte tokens in byte order (GPT-2's byte-to-unicode characters); the rest merged
//! tokens, each the concatenation of two earlier tokens with its merge in
//! `tokenizer.ggml.merges` (rank = order of creation). The merges come first from BPE
//! training on a fixed English text (most frequent adjacent pair, ties to the lowest
//! ids), then, once that runs out, from extending lower-case words (`Ġ?[a-z]+`) by one
//! letter, breadth first. Pre-tokenizer `llama-bpe` (Llama 3's regex), `add_bos_token`
//! true, `add_eos_token` false. The same `vocab_size` always gives the same metadata.

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::gguf::{Array, GgufWriter};

use super::bpe::byte_to_char;
use super::error::TokenizerError;
use super::vocab::{
    KEY_ADD_BOS, KEY_ADD_EOS, KEY_BOS, KEY_EOS, KEY_EOT, KEY_MERGES, KEY_MODEL, KEY_PAD, KEY_PRE, KEY_TOKENS,
    KEY_TOKEN_TYPE,
};

/// The smallest vocabulary: 4 control tokens and 256 byte tokens.
pub const MIN_VOCAB: usize = 260;
/// `<|begin_of_text|>`, the BOS token.
pub const BOS: u32 = 0;
/// `<|end_of_text|>`, the EOS token.
pub const EOS: u32 = 1;
/// `<|eot_id|>`, the end-of-turn token.
pub const EOT: u32 = 2;
/// `<|pad|>`, the padding token.
pub const PAD: u32 = 3;

const SPECIALS: [&str; 4] = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|pad|>"];

/// The text the first merges are learnt from.
const CORPUS: &str = "The quick brown fox jumps over the lazy dog. This is a small model that \
    runs on the CPU, and its weights are random, so the text it writes is noise; but the \
    tokenizer is real. It turns the words of a prompt into tokens, and tokens back into \
    words. When the model is asked a question, the answer is streamed to the user one \
    token at a time, and the server sends each piece of text as soon as it is complete. \
    There are three values for each weight: minus one, zero and one. The people who made \
    these models found that they work well for their size, and they are fast to run \
    because the matrix products need no multiplication. In the beginning there was the \
    word, and then there were many words, and then there were more of them than anyone \
    could count. We would like to thank everyone for their time and their help with this \
    work. What is the name of the city where you were born? How many people live there, \
    and what do they do for a living? Where there is a will, there is a way. The rain in \
    Spain stays mainly in the plain. I think, therefore I am. To be, or not to be: that is \
    the question. All that glitters is not gold. Let me know if you have any questions \
    about the results of this test, and I will answer them as soon as I can.";

/// A generated vocabulary: token texts, merges (`"left right"`, by rank), token types.
#[derive(Debug, Clone, PartialEq)]
struct SynthVocab {
    tokens: Vec<String>,
    merges: Vec<String>,
    types: Vec<i32>,
}

/// The vocabulary of `vocab_size` tokens (see the module docs).
///
/// Errors: `vocab_size` below [`MIN_VOCAB`] or above `u32::MAX`
/// ([`TokenizerError::BadInput`]).
fn byte_level_vocab(vocab_size: usize) -> Result<SynthVocab, TokenizerError> {
    if vocab_size < MIN_VOCAB || u32::try_from(vocab_size).is_err() {
        return Err(TokenizerError::BadInput(format!(
            "a synthetic byte-level vocabulary needs {MIN_VOCAB}..=u32::MAX tokens, not {vocab_size}"
        )));
    }
    let mut tokens: Vec<String> = SPECIALS.iter().map(|s| s.to_string()).collect();
    tokens.extend((0..=255u8).map(|b| byte_to_char(b).to_string()));
    let mut ids: HashMap<String, u32> =
        tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
    let mut merges = Vec::with_capacity(vocab_size - MIN_VOCAB);

    // Stage 1: BPE training on CORPUS, pieces split as `Ġ?letters`, digits, one other
    // character, like the pre-tokenizer would.
    let mut words: BTreeMap<Vec<u32>, usize> = BTreeMap::new();
    for piece in corpus_pieces(CORPUS) {
        let w: Vec<u32> = piece.bytes().map(|b| ids[&byte_to_char(b).to_string()]).collect();
        *words.entry(w).or_insert(0) += 1;
    }
    let mut words: Vec<(Vec<u32>, usize)> = words.into_iter().collect();
    while tokens.len() < vocab_size {
        let mut counts: BTreeMap<(u32, u32), usize> = BTreeMap::new();
        for (w, n) in &words {
            for p in w.windows(2) {
                *counts.entry((p[0], p[1])).or_insert(0) += n;
            }
        }
        // Most frequent; ties to the smallest pair (BTreeMap order, first max wins).
        let Some((&(a, b), &n)) = counts.iter().rev().max_by_key(|(_, &n)| n) else { break };
        if n < 2 {
            break;
        }
        let joined = format!("{}{}", tokens[a as usize], tokens[b as usize]);
        // A text already made by another pair: rewrite the corpus to it, record no merge.
        let id = match ids.get(&joined) {
            Some(&id) => id,
            None => {
                let id = tokens.len() as u32;
                merges.push(format!("{} {}", tokens[a as usize], tokens[b as usize]));
                ids.insert(joined.clone(), id);
                tokens.push(joined);
                id
            }
        };
        for (w, _) in &mut words {
            let mut i = 0;
            while i + 1 < w.len() {
                if w[i] == a && w[i + 1] == b {
                    w[i] = id;
                    w.remove(i + 1);
                }
                i += 1;
            }
        }
    }

    // Stage 2: extend lower-case words by one letter, breadth first.
    let is_word = |t: &str| {
        let rest = t.strip_prefix('Ġ').unwrap_or(t);
        !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_lowercase())
    };
    let letters: Vec<u32> = (b'a'..=b'z').map(|b| ids[&(b as char).to_string()]).collect();
    let mut queue: VecDeque<u32> = VecDeque::new();
    queue.push_back(ids["Ġ"]);
    queue.extend(letters.iter().copied());
    queue.extend((MIN_VOCAB as u32..tokens.len() as u32).filter(|&i| is_word(&tokens[i as usize])));
    while tokens.len() < vocab_size {
        let Some(t) = queue.pop_front() else { break };
        for &l in &letters {
            if tokens.len() >= vocab_size {
                break;
            }
            let joined = format!("{}{}", tokens[t as usize], tokens[l as usize]);
            if ids.contains_key(&joined) {
                continue;
            }
            let id = tokens.len() as u32;
            merges.push(format!("{} {}", tokens[t as usize], tokens[l as usize]));
            ids.insert(joined.clone(), id);
            tokens.push(joined);
            queue.push_back(id);
        }
    }

    let types = (0..tokens.len()).map(|i| if i < SPECIALS.len() { 3 } else { 1 }).collect();
    Ok(SynthVocab { tokens, merges, types })
}

/// Splits `text` into `Ġ?letters`, digit runs and single other characters (ASCII).
fn corpus_pieces(text: &str) -> Vec<&str> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        if b[i] == b' ' && b.get(i + 1).is_some_and(u8::is_ascii_alphabetic) {
            i += 1;
        }
        if b[i].is_ascii_alphabetic() {
            while i < b.len() && b[i].is_ascii_alphabetic() {
                i += 1;
            }
        } else if b[i].is_ascii_digit() {
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        } else {
            i += 1;
        }
        out.push(&text[start..i]);
    }
    out
}

/// Writes a `gpt2` tokenizer with exactly `vocab_size` tokens into `writer`'s metadata
/// (keys `tokenizer.ggml.*`; layout in the module docs).
///
/// Errors: `vocab_size` outside `MIN_VOCAB..=u32::MAX` ([`TokenizerError::BadInput`]);
/// a `tokenizer.ggml.*` key already present ([`TokenizerError::Gguf`]).
pub fn write_byte_level_vocab(writer: &mut GgufWriter, vocab_size: usize) -> Result<(), TokenizerError> {
    let SynthVocab { tokens, merges, types } = byte_level_vocab(vocab_size)?;
    writer.add(KEY_MODEL, "gpt2")?;
    writer.add(KEY_PRE, "llama-bpe")?;
    writer.add(KEY_TOKENS, Array::from(tokens))?;
    writer.add(KEY_TOKEN_TYPE, Array::from(types))?;
    writer.add(KEY_MERGES, Array::from(merges))?;
    writer.add(KEY_BOS, BOS)?;
    writer.add(KEY_EOS, EOS)?;
    writer.add(KEY_EOT, EOT)?;
    writer.add(KEY_PAD, PAD)?;
    writer.add(KEY_ADD_BOS, true)?;
    writer.add(KEY_ADD_EOS, false)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_size_consistent_merges_and_unique_texts() {
        for n in [MIN_VOCAB, 261, 512, 5000] {
            let SynthVocab { tokens, merges, types } = byte_level_vocab(n).unwrap();
            assert_eq!((tokens.len(), types.len(), merges.len()), (n, n, n - MIN_VOCAB));
            let set: std::collections::HashSet<&String> = tokens.iter().collect();
            assert_eq!(set.len(), n, "duplicate token texts");
            let index: HashMap<&str, usize> =
                tokens.iter().enumerate().map(|(i, t)| (t.as_str(), i)).collect();
            for (k, m) in merges.iter().enumerate() {
                let (a, b) = m.split_once(' ').unwrap();
                let pos = |t: &str| index[t];
                let joined = pos(&format!("{a}{b}"));
                assert_eq!(joined, MIN_VOCAB + k, "merge {k} {m:?} makes token {joined}");
                assert!(pos(a) < joined && pos(b) < joined);
            }
        }
        assert_eq!(byte_level_vocab(1000).unwrap(), byte_level_vocab(1000).unwrap());
        assert!(matches!(byte_level_vocab(259), Err(TokenizerError::BadInput(_))));
    }

    #[test]
    fn training_learns_english_first() {
        let SynthVocab { tokens, merges, .. } = byte_level_vocab(400).unwrap();
        assert!(tokens.contains(&"Ġthe".to_string()), "{:?}", &merges[..20]);
        assert!(tokens.contains(&"Ġand".to_string()));
    }

    #[test]
    fn a_full_2b4t_sized_vocab_is_quick_and_exact() {
        let SynthVocab { tokens, merges, .. } = byte_level_vocab(128_256).unwrap();
        assert_eq!(tokens.len(), 128_256);
        assert_eq!(merges.len(), 128_256 - MIN_VOCAB);
    }
}
