//! Tokenizer tests: hand-built `gpt2` and `llama` vocabularies written with `GgufWriter`
//! and read back; ids checked against hand-worked merges; decode round trips on random
//! Unicode; special-token parsing; streaming decode; hostile metadata; the synthetic
//! vocabulary of `synth` models.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tern_inference::gguf::{Array, GgufError, GgufFile, GgufWriter, Value};
use tern_inference::model::{synth_bytes, SynthShape};
use tern_inference::tokenizer::{synth, StreamDecoder, TokenType, Tokenizer, TokenizerError, TokenizerKind};

// ---- helpers ----

fn load(entries: &[(&str, Value)]) -> Result<Tokenizer, TokenizerError> {
    let mut w = GgufWriter::new();
    for (k, v) in entries {
        w.add(k, v.clone()).unwrap();
    }
    let file = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
    Tokenizer::from_gguf(&file)
}

fn strings(v: &[&str]) -> Value {
    Value::Array(Array::from(v.iter().map(|s| s.to_string()).collect::<Vec<_>>()))
}

fn ints(v: &[i32]) -> Value {
    Value::Array(Array::from(v.to_vec()))
}

/// Replaces (or adds, or with `None` removes) `key` in `entries`.
fn with(
    entries: &[(&'static str, Value)],
    key: &'static str,
    value: Option<Value>,
) -> Vec<(&'static str, Value)> {
    let mut out: Vec<_> = entries.iter().filter(|(k, _)| *k != key).cloned().collect();
    if let Some(v) = value {
        out.push((key, v));
    }
    out
}

/// GPT-2's byte-to-unicode character for `b` (written out independently of the crate).
fn gpt2_char(b: u8) -> char {
    let keeps = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    if keeps(b) {
        return b as char;
    }
    let n = (0..b).filter(|&x| !keeps(x)).count() as u32;
    char::from_u32(256 + n).unwrap()
}

/// A text generator mixing ASCII, whitespace runs, newlines, emoji, CJK, combining
/// marks, control characters and arbitrary code points.
fn random_text(rng: &mut StdRng) -> String {
    const POOL: &[&str] = &[
        "a",
        "b",
        "c",
        "h",
        "e",
        "t",
        "l",
        "d",
        "s",
        "the",
        " the",
        "ball",
        " ",
        "  ",
        "   ",
        "\n",
        "\r\n",
        "\t",
        "😀",
        "🦀",
        "👩‍👩‍👧",
        "中文",
        "日本語",
        "é",
        "ß",
        "e\u{301}",
        "1",
        "23",
        "4567",
        ".",
        ",",
        "'s",
        "'",
        "<",
        "|",
        ">",
        "<|",
        "|>",
        "\u{0}",
        "\u{7f}",
        "\u{ad}",
        "\u{FFFD}",
        "▁",
        "Ġ",
        "hello",
        "world",
        "xyz",
        "<tool>",
    ];
    let n = rng.random_range(0..24);
    let mut s = String::new();
    for _ in 0..n {
        if rng.random_range(0..5) == 0 {
            let c = loop {
                if let Some(c) = char::from_u32(rng.random_range(0..0x11_0000)) {
                    break c;
                }
            };
            s.push(c);
        } else {
            s.push_str(POOL[rng.random_range(0..POOL.len())]);
        }
    }
    s
}

// ---- a hand-built gpt2 vocabulary ----

const HE: u32 = 257;
const G_THE: u32 = 258;
const LL: u32 = 259;
const BC: u32 = 260;
const AB: u32 = 261;
const BOT: u32 = 262;
const EOT_ID: u32 = 263;
const TOOL: u32 = 264;
const END_OF_TEXT: u32 = 265;
const XYZ: u32 = 266;
const CTRL_HELLO: u32 = 267;
const PLAIN_EOT_LOOKALIKE: u32 = 268;

/// Ids 0..256: byte `b` is token `b`. Then merged tokens, specials and oddities; see the
/// constants above.
fn gpt2_entries(pre: &str) -> Vec<(&'static str, Value)> {
    let mut tokens: Vec<String> = (0..=255u8).map(|b| gpt2_char(b).to_string()).collect();
    let mut types = vec![1; 256];
    for (text, ty) in [
        ("Ġt", 1),
        ("he", 1),
        ("Ġthe", 1),
        ("ll", 1),
        ("bc", 1),
        ("ab", 1),
        ("<|begin_of_text|>", 3),
        ("<|eot_id|>", 3),
        ("<tool>", 4),
        ("<|end_of_text|>", 3),
        ("xyz", 1),
        ("hello", 3),
        ("<|im_end|>", 1), // normal-typed, but llama.cpp's EOG list makes it control
    ] {
        tokens.push(text.to_string());
        types.push(ty);
    }
    // Ranks: "b c" (4) before "a b" (5), so "abc" → a + bc.
    let merges = ["Ġ t", "h e", "Ġt he", "l l", "b c", "a b"];
    vec![
        ("tokenizer.ggml.model", Value::from("gpt2")),
        ("tokenizer.ggml.pre", Value::from(pre)),
        ("tokenizer.ggml.tokens", Value::Array(Array::from(tokens))),
        ("tokenizer.ggml.token_type", ints(&types)),
        ("tokenizer.ggml.merges", strings(&merges)),
        ("tokenizer.ggml.bos_token_id", Value::U32(BOT)),
        ("tokenizer.ggml.eos_token_id", Value::U32(END_OF_TEXT)),
        ("tokenizer.chat_template", Value::from("{{ messages }}")),
    ]
}

fn gpt2(pre: &str) -> Tokenizer {
    load(&gpt2_entries(pre)).unwrap()
}

/// The id of the byte token of ASCII `c`.
fn b(c: char) -> u32 {
    assert!(c.is_ascii());
    c as u32
}

#[test]
fn gpt2_ids_follow_merge_ranks() {
    let t = gpt2("gpt-2");
    assert_eq!(t.kind(), TokenizerKind::Gpt2);
    assert_eq!(t.vocab_size(), 269);
    // "the": t h e → "h e" → [t, he] ("t he" is no merge). " ball": Ġ b a l l → "l l".
    assert_eq!(t.encode("the ball", false).unwrap(), [b('t'), HE, b(' '), b('b'), b('a'), LL]);
    // " the": Ġ t h e → "Ġ t" (rank 0) → "h e" (1) → "Ġt he" (2).
    assert_eq!(t.encode(" the", false).unwrap(), [G_THE]);
    assert_eq!(t.encode(" t", false).unwrap(), [256]); // "Ġt"
    assert_eq!(t.encode("the the", false).unwrap(), [b('t'), HE, G_THE]);
    // Lower rank wins over leftmost: "b c" (4) before "a b" (5).
    assert_eq!(t.encode("abc", false).unwrap(), [b('a'), BC]);
    assert_eq!(t.encode("abd", false).unwrap(), [AB, b('d')]);
    // Multi-byte characters become their bytes' tokens; newline is byte 10.
    assert_eq!(t.encode("é\n", false).unwrap(), [0xC3, 0xA9, 10]);
    // The GPT-2 regex splits "'s", digits, and keeps a space run before a word apart.
    assert_eq!(t.encode("it's", false).unwrap(), [b('i'), b('t'), b('\''), b('s')]);
    assert_eq!(t.encode("a  b", false).unwrap(), [b('a'), b(' '), b(' '), b('b')]);
    assert_eq!(t.encode("", false).unwrap(), Vec::<u32>::new());
    // add_bos_token is absent and gpt-2 does not default it on.
    assert!(!t.add_bos());
    assert_eq!(t.encode("abc", true).unwrap(), [b('a'), BC]);
}

#[test]
fn gpt2_llama3_pre_takes_whole_tokens_and_adds_bos() {
    let t = gpt2("llama-bpe");
    // ignore_merges: "xyz" is a token, so the piece is taken whole.
    assert_eq!(t.encode("xyz", false).unwrap(), [XYZ]);
    assert_eq!(gpt2("gpt-2").encode("xyz", false).unwrap(), [b('x'), b('y'), b('z')]);
    // The Llama 3 pre-tokenizers default add_bos_token on (llama.cpp).
    assert!(t.add_bos());
    assert_eq!(t.encode("abc", true).unwrap(), [BOT, b('a'), BC]);
    assert_eq!(t.encode("", true).unwrap(), [BOT]);
    // The key overrides the default.
    let entries = with(&gpt2_entries("llama-bpe"), "tokenizer.ggml.add_bos_token", Some(Value::Bool(false)));
    assert_eq!(load(&entries).unwrap().encode("abc", true).unwrap(), [b('a'), BC]);
    // Llama 3 regex: digits in groups of three, a space run before a word splits.
    assert_eq!(t.encode("12345", false).unwrap(), [b('1'), b('2'), b('3'), b('4'), b('5')]);
}

#[test]
fn gpt2_control_tokens_never_come_from_plain_text() {
    for pre in ["gpt-2", "llama-bpe", "default", "qwen2", "starcoder"] {
        let t = gpt2(pre);
        for text in ["hello", "<|eot_id|>", "<|begin_of_text|>x", " hello", "<|end_of_text|>"] {
            let ids = t.encode(text, false).unwrap();
            assert!(
                ids.iter().all(|&id| t.token_type(id) != Some(TokenType::Control)),
                "{pre}: {text:?} → {ids:?}"
            );
            assert_eq!(t.decode(&ids), text, "{pre}");
        }
    }
}

#[test]
fn gpt2_special_tokens_are_parsed_only_when_asked() {
    let t = gpt2("llama-bpe");
    let text = "<|begin_of_text|>abc<|eot_id|><|eot_id|>x<|im_end|>";
    assert_eq!(
        t.encode_with_special(text, false).unwrap(),
        [BOT, b('a'), BC, EOT_ID, EOT_ID, b('x'), PLAIN_EOT_LOOKALIKE]
    );
    let plain = t.encode(text, false).unwrap();
    assert!(!plain.contains(&EOT_ID) && !plain.contains(&BOT) && !plain.contains(&PLAIN_EOT_LOOKALIKE));
    assert_eq!(t.decode(&plain), text);
    // Specials render as nothing.
    assert_eq!(t.decode(&t.encode_with_special(text, true).unwrap()), "abcx");
    // User-defined tokens are split out even without special parsing, and render as text.
    assert_eq!(t.encode("a<tool>b", false).unwrap(), [b('a'), TOOL, b('b')]);
    assert_eq!(t.decode(&[b('a'), TOOL, b('b')]), "a<tool>b");
}

#[test]
fn gpt2_special_ids_eog_and_template() {
    let t = gpt2("llama-bpe");
    assert_eq!((t.bos(), t.eos()), (Some(BOT), Some(END_OF_TEXT)));
    // No eot key: taken by text as llama.cpp does.
    assert_eq!(t.eot(), Some(EOT_ID));
    assert!(t.is_eog(END_OF_TEXT) && t.is_eog(EOT_ID));
    // "<|im_end|>" is in llama.cpp's EOG list: EOG and forced to control.
    assert!(t.is_eog(PLAIN_EOT_LOOKALIKE));
    assert_eq!(t.token_type(PLAIN_EOT_LOOKALIKE), Some(TokenType::Control));
    assert!(!t.is_eog(BOT) && !t.is_eog(b('a')) && !t.is_eog(CTRL_HELLO) && !t.is_eog(9999));
    assert_eq!(t.eog_tokens(), [EOT_ID, END_OF_TEXT, PLAIN_EOT_LOOKALIKE]);
    assert_eq!(t.chat_template(), Some("{{ messages }}"));
    assert_eq!(
        load(&with(&gpt2_entries("gpt-2"), "tokenizer.chat_template", None)).unwrap().chat_template(),
        None
    );
    assert_eq!(t.token_text(G_THE), Some("Ġthe"));
    assert_eq!(t.token_text(269), None);
    assert_eq!(t.token_bytes(G_THE), b" the");
    assert_eq!(t.token_bytes(0xC3), [0xC3]);
    assert_eq!(t.token_bytes(EOT_ID), b"");
    assert_eq!(t.token_bytes(u32::MAX), b"");
    assert_eq!(t.token_id("<tool>"), Some(TOOL));
    // An explicit eot key wins over the text.
    let e = with(&gpt2_entries("gpt-2"), "tokenizer.ggml.eot_token_id", Some(Value::U32(TOOL)));
    let t2 = load(&e).unwrap();
    assert_eq!(t2.eot(), Some(TOOL));
    assert!(t2.is_eog(TOOL) && t2.is_eog(EOT_ID));
}

#[test]
fn gpt2_random_unicode_round_trips() {
    let mut rng = StdRng::seed_from_u64(11);
    for pre in ["gpt-2", "llama-bpe", "default", "qwen2", "starcoder"] {
        let t = gpt2(pre);
        for _ in 0..300 {
            let s = random_text(&mut rng);
            let ids = t.encode(&s, false).unwrap();
            assert_eq!(t.decode(&ids), s, "{pre}: {ids:?}");
            assert_eq!(t.decode(&t.encode(&s, true).unwrap()), s);
            let with_special = t.encode_with_special(&s, false).unwrap();
            if !["hello", "<|"].iter().any(|c| s.contains(c)) {
                assert_eq!(t.decode(&with_special), s);
            }
            assert!(ids.iter().all(|&id| (id as usize) < t.vocab_size()));
        }
    }
}

#[test]
fn gpt2_long_whitespace_and_long_words() {
    let t = gpt2("llama-bpe");
    for s in [" ".repeat(20_000), "\n".repeat(5000) + "x", "ab".repeat(10_000), "é".repeat(5000)] {
        assert_eq!(t.decode(&t.encode(&s, false).unwrap()), s);
    }
}

#[test]
fn gpt2_missing_byte_token_is_an_error_not_a_silent_drop() {
    // Byte 0xC3 (first byte of "é") typed control: not usable by the BPE.
    let mut e = gpt2_entries("gpt-2");
    let mut types: Vec<i32> = vec![1; 269];
    for id in [BOT, EOT_ID, END_OF_TEXT, CTRL_HELLO] {
        types[id as usize] = 3;
    }
    types[TOOL as usize] = 4;
    types[0xC3] = 3;
    e = with(&e, "tokenizer.ggml.token_type", Some(ints(&types)));
    let t = load(&e).unwrap();
    assert_eq!(t.encode("abc", false).unwrap(), [b('a'), BC]);
    match t.encode("café", false) {
        Err(TokenizerError::Unencodable { reason, .. }) => assert!(reason.contains("0xC3"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

// ---- a hand-built llama (SentencePiece) vocabulary ----

const UNK: u32 = 0;
const S: u32 = 1;
const SLASH_S: u32 = 2;
const BYTE0: u32 = 3; // <0x00> .. <0xFF> at 3..259
const SP: u32 = 259; // "▁"
const HELLO: u32 = 271;
const HE_S: u32 = 266;

fn spm_entries() -> Vec<(&'static str, Value)> {
    let mut tokens = vec!["<unk>".to_string(), "<s>".to_string(), "</s>".to_string()];
    let mut types = vec![2, 3, 3];
    let mut scores = vec![0.0f32; 3];
    for b in 0..=255u8 {
        tokens.push(format!("<0x{b:02X}>"));
        types.push(6);
        scores.push(0.0);
    }
    for (text, score) in [
        ("▁", -10.0), // 259
        ("h", -10.0), // 260
        ("e", -10.0),
        ("l", -10.0),
        ("o", -10.0),
        ("w", -10.0),
        ("▁h", -5.0), // 265
        ("he", -3.0), // 266
        ("ll", -2.0), // 267
        ("lo", -6.0),
        ("llo", -4.0),
        ("hell", -1.0),  // 270
        ("hello", -0.5), // 271
        ("▁he", -7.0),
        ("▁▁", -9.0), // 273
        ("<s", 5.0),  // would win every merge if control tokens took part
        ("s>", 5.0),
        ("s", -10.0),
        ("<", -10.0),
        (">", -10.0),
    ] {
        tokens.push(text.to_string());
        types.push(1);
        scores.push(score);
    }
    let n = tokens.len();
    vec![
        ("tokenizer.ggml.model", Value::from("llama")),
        ("tokenizer.ggml.tokens", Value::Array(Array::from(tokens))),
        ("tokenizer.ggml.token_type", ints(&types)),
        ("tokenizer.ggml.scores", Value::Array(Array::from(scores))),
        ("tokenizer.ggml.padding_token_id", Value::U32(n as u32 - 1)),
    ]
}

fn spm() -> Tokenizer {
    load(&spm_entries()).unwrap()
}

#[test]
fn spm_ids_follow_scores_with_dummy_prefix_and_bos() {
    let t = spm();
    assert_eq!(t.kind(), TokenizerKind::Llama);
    // "▁hello": "ll" (-2) → "he" (-3) → "hell" (-1) → "hello" (-0.5); "▁hello" is no token.
    assert_eq!(t.encode("hello", false).unwrap(), [SP, HELLO]);
    // Defaults: BOS 1, EOS 2, UNK 0, add_bos true.
    assert_eq!((t.bos(), t.eos()), (Some(S), Some(SLASH_S)));
    assert!(t.add_bos());
    assert_eq!(t.encode("hello", true).unwrap(), [S, SP, HELLO]);
    assert_eq!(t.decode(&[S, SP, HELLO]), "hello");
    // "▁he": "▁h" (-5) loses to "he" (-3); then "▁he" (-7) merges.
    assert_eq!(t.encode("he", false).unwrap(), [272]);
    // Spaces are ▁; "▁▁" is a token.
    assert_eq!(t.encode(" hello", false).unwrap(), [273, HELLO]);
    assert_eq!(t.decode(&[273, HELLO]), " hello");
    // Without the dummy prefix.
    let t2 =
        load(&with(&spm_entries(), "tokenizer.ggml.add_space_prefix", Some(Value::Bool(false)))).unwrap();
    assert_eq!(t2.encode("hello", false).unwrap(), [HELLO]);
    assert_eq!(t2.decode(&[SP, HELLO]), " hello");
    assert_eq!(t.encode("", true).unwrap(), [S]);
    assert_eq!(t.pad(), Some(278));
}

#[test]
fn spm_byte_fallback_for_characters_outside_the_vocabulary() {
    let t = spm();
    // "é" = C3 A9; "😀" = F0 9F 98 80.
    assert_eq!(t.encode("é", false).unwrap(), [SP, BYTE0 + 0xC3, BYTE0 + 0xA9]);
    assert_eq!(
        t.encode("he😀", false).unwrap(),
        [272, BYTE0 + 0xF0, BYTE0 + 0x9F, BYTE0 + 0x98, BYTE0 + 0x80]
    );
    assert_eq!(t.decode(&t.encode("hé😀 wow\n", true).unwrap()), "hé😀 wow\n");
    assert_eq!(t.token_bytes(BYTE0 + 0x0A), b"\n");
    assert_eq!(t.token_bytes(HE_S), b"he");
    assert_eq!(t.token_bytes(SP), b" ");
    assert_eq!(t.token_bytes(S), b"");
}

#[test]
fn spm_control_tokens_never_merge_from_text_and_parse_when_asked() {
    let t = spm();
    let plain = t.encode("<s>hello</s>", false).unwrap();
    assert!(!plain.contains(&S) && !plain.contains(&SLASH_S), "{plain:?}");
    assert_eq!(t.decode(&plain), "<s>hello</s>");
    // Parsed: the dummy prefix goes before text at the start and after a special token.
    assert_eq!(t.encode_with_special("hello</s>", false).unwrap(), [SP, HELLO, SLASH_S]);
    assert_eq!(t.encode_with_special("<s>hello", false).unwrap(), [S, SP, HELLO]);
    assert!(t.is_eog(SLASH_S) && !t.is_eog(S));
}

#[test]
fn spm_unknown_token_when_there_are_no_byte_tokens() {
    let e = spm_entries();
    let mut tokens: Vec<String> = match &e[1].1 {
        Value::Array(a) => a.as_strings().unwrap().to_vec(),
        _ => unreachable!(),
    };
    let mut types = vec![1; tokens.len()];
    types[0] = 2;
    for tok in tokens.iter_mut().take(259).skip(3) {
        *tok = format!("x{tok}"); // no longer byte tokens
    }
    let e = with(&e, "tokenizer.ggml.tokens", Some(Value::Array(Array::from(tokens))));
    let e = with(&e, "tokenizer.ggml.token_type", Some(ints(&types)));
    let t = load(&e).unwrap();
    assert_eq!(t.encode("hé", false).unwrap(), [265, UNK]);
    assert_eq!(t.decode(&[265, UNK]), "h");
}

#[test]
fn spm_random_unicode_round_trips() {
    let t = spm();
    let mut rng = StdRng::seed_from_u64(5);
    for _ in 0..500 {
        // A literal U+2581 is a space to SentencePiece.
        let s = random_text(&mut rng).replace('▁', " ");
        assert_eq!(t.decode(&t.encode(&s, false).unwrap()), s);
        assert_eq!(t.decode(&t.encode(&s, true).unwrap()), s);
    }
}

// ---- streaming ----

#[test]
fn stream_holds_back_a_character_split_across_tokens() {
    let t = spm();
    let ids = t.encode("hé😀", false).unwrap();
    let mut d = StreamDecoder::new(&t);
    let parts: Vec<String> = ids.iter().map(|&id| d.push(id)).collect();
    // ▁h, C3, A9, F0, 9F, 98, 80: the dummy-prefix space is dropped.
    assert_eq!(
        ids,
        [265, BYTE0 + 0xC3, BYTE0 + 0xA9, BYTE0 + 0xF0, BYTE0 + 0x9F, BYTE0 + 0x98, BYTE0 + 0x80]
    );
    assert_eq!(parts, ["h", "", "é", "", "", "", "😀"]);
    assert_eq!(d.finish(), "");

    let g = gpt2("gpt-2");
    let mut d = StreamDecoder::new(&g);
    assert_eq!(d.push(0xE4), ""); // 中 = E4 B8 AD
    assert_eq!(d.push(EOT_ID), ""); // control: nothing, and the held bytes stay
    assert_eq!(d.push(0xB8), "");
    assert_eq!(d.push(0xAD), "中");
    assert_eq!(d.push(0xE4), "");
    assert_eq!(d.finish(), "\u{FFFD}"); // an incomplete character at the end
}

#[test]
fn stream_concatenation_equals_decode_for_random_ids() {
    let mut rng = StdRng::seed_from_u64(3);
    for t in [gpt2("llama-bpe"), spm()] {
        for _ in 0..500 {
            let n = rng.random_range(0..20);
            // Mostly byte tokens, to make broken and split UTF-8 likely.
            let ids: Vec<u32> = (0..n)
                .map(|_| match rng.random_range(0..4) {
                    0 => rng.random_range(0..t.vocab_size() as u32 + 3),
                    _ => match t.kind() {
                        TokenizerKind::Gpt2 => rng.random_range(0x80..0x100),
                        TokenizerKind::Llama => BYTE0 + rng.random_range(0x80..0x100),
                    },
                })
                .collect();
            let mut d = StreamDecoder::new(&t);
            let mut out = String::new();
            for &id in &ids {
                out += &d.push(id);
            }
            out += &d.finish();
            assert_eq!(out, t.decode(&ids), "{ids:?}");
        }
        // And for real encodings.
        for _ in 0..200 {
            let s = random_text(&mut rng).replace('▁', " ");
            let ids = t.encode(&s, true).unwrap();
            let mut d = StreamDecoder::new(&t);
            let parts: Vec<String> = ids.iter().map(|&id| d.push(id)).collect();
            assert!(parts.iter().all(|p| !p.contains('\u{FFFD}') || s.contains('\u{FFFD}')));
            assert_eq!(parts.concat() + &d.finish(), s);
        }
    }
}

// ---- hostile metadata ----

fn err(entries: &[(&str, Value)]) -> TokenizerError {
    load(entries).expect_err("load should fail")
}

fn bad_key(e: TokenizerError) -> String {
    match e {
        TokenizerError::BadMetadata { key, .. } => key,
        other => panic!("expected BadMetadata, got {other:?}"),
    }
}

#[test]
fn missing_or_mistyped_keys_name_the_key() {
    let g = gpt2_entries("gpt-2");
    match err(&with(&g, "tokenizer.ggml.tokens", None)) {
        TokenizerError::Gguf(GgufError::MissingKey { key }) => assert_eq!(key, "tokenizer.ggml.tokens"),
        other => panic!("{other:?}"),
    }
    match err(&with(&g, "tokenizer.ggml.tokens", Some(ints(&[1, 2, 3])))) {
        TokenizerError::Gguf(GgufError::TypeMismatch { key, .. }) => assert_eq!(key, "tokenizer.ggml.tokens"),
        other => panic!("{other:?}"),
    }
    match err(&with(&g, "tokenizer.ggml.model", None)) {
        TokenizerError::Gguf(GgufError::MissingKey { key }) => assert_eq!(key, "tokenizer.ggml.model"),
        other => panic!("{other:?}"),
    }
    match err(&with(&g, "tokenizer.ggml.merges", None)) {
        TokenizerError::Gguf(GgufError::MissingKey { key }) => assert_eq!(key, "tokenizer.ggml.merges"),
        other => panic!("{other:?}"),
    }
    let e = err(&with(&g, "tokenizer.ggml.model", Some(Value::from("bert"))));
    assert!(matches!(&e, TokenizerError::Unsupported(m) if m == "bert"), "{e:?}");
    assert!(e.to_string().contains("bert"));
    match err(&with(&g, "tokenizer.ggml.token_type", Some(strings(&["1"])))) {
        TokenizerError::Gguf(GgufError::TypeMismatch { key, .. }) => {
            assert_eq!(key, "tokenizer.ggml.token_type")
        }
        other => panic!("{other:?}"),
    }
    let s = spm_entries();
    match err(&with(&s, "tokenizer.ggml.scores", Some(ints(&[0; 279])))) {
        TokenizerError::Gguf(GgufError::TypeMismatch { key, .. }) => assert_eq!(key, "tokenizer.ggml.scores"),
        other => panic!("{other:?}"),
    }
    match err(&with(&g, "tokenizer.ggml.bos_token_id", Some(Value::F32(1.0)))) {
        TokenizerError::Gguf(GgufError::TypeMismatch { key, .. }) => {
            assert_eq!(key, "tokenizer.ggml.bos_token_id")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn inconsistent_values_name_the_key() {
    let g = gpt2_entries("gpt-2");
    let s = spm_entries();
    assert_eq!(
        bad_key(err(&with(&g, "tokenizer.ggml.merges", Some(strings(&["h e", "q zz"]))))),
        "tokenizer.ggml.merges[1]"
    );
    // Both sides are tokens but the result is not.
    assert_eq!(
        bad_key(err(&with(&g, "tokenizer.ggml.merges", Some(strings(&["x y"]))))),
        "tokenizer.ggml.merges[0]"
    );
    assert_eq!(
        bad_key(err(&with(&g, "tokenizer.ggml.merges", Some(strings(&["he"]))))),
        "tokenizer.ggml.merges[0]"
    );
    // A merge with a control token on one side.
    let mut e = with(&g, "tokenizer.ggml.merges", Some(strings(&["h e", "<|eot_id|> a"])));
    assert_eq!(bad_key(err(&e)), "tokenizer.ggml.merges[1]");
    e = with(&g, "tokenizer.ggml.bos_token_id", Some(Value::U32(269)));
    assert_eq!(bad_key(err(&e)), "tokenizer.ggml.bos_token_id");
    e = with(&g, "tokenizer.ggml.eos_token_id", Some(Value::U64(u64::MAX)));
    assert_eq!(bad_key(err(&e)), "tokenizer.ggml.eos_token_id");
    e = with(&g, "tokenizer.ggml.token_type", Some(ints(&[1; 268])));
    assert_eq!(bad_key(err(&e)), "tokenizer.ggml.token_type");
    let mut types = vec![1; 269];
    types[17] = 9;
    e = with(&g, "tokenizer.ggml.token_type", Some(ints(&types)));
    assert_eq!(bad_key(err(&e)), "tokenizer.ggml.token_type[17]");
    types[17] = -1;
    e = with(&g, "tokenizer.ggml.token_type", Some(ints(&types)));
    assert_eq!(bad_key(err(&e)), "tokenizer.ggml.token_type[17]");
    e = with(&g, "tokenizer.ggml.pre", Some(Value::from("no-such-pre")));
    assert_eq!(bad_key(err(&e)), "tokenizer.ggml.pre");
    e = with(&g, "tokenizer.ggml.tokens", Some(strings(&[])));
    assert_eq!(bad_key(err(&e)), "tokenizer.ggml.tokens");
    // add_bos_token without a BOS token.
    e = with(&g, "tokenizer.ggml.bos_token_id", None);
    e = with(&e, "tokenizer.ggml.add_bos_token", Some(Value::Bool(true)));
    assert_eq!(bad_key(err(&e)), "tokenizer.ggml.bos_token_id");
    e = with(&g, "tokenizer.ggml.eos_token_id", None);
    e = with(&e, "tokenizer.ggml.add_eos_token", Some(Value::Bool(true)));
    assert_eq!(bad_key(err(&e)), "tokenizer.ggml.eos_token_id");
    // llama: scores of the wrong length, a byte token that is not <0xNN>.
    e = with(&s, "tokenizer.ggml.scores", Some(Value::Array(Array::from(vec![0f32; 3]))));
    assert_eq!(bad_key(err(&e)), "tokenizer.ggml.scores");
    let mut tokens: Vec<String> = match &s[1].1 {
        Value::Array(a) => a.as_strings().unwrap().to_vec(),
        _ => unreachable!(),
    };
    tokens[3 + 7] = "<0xZZ>".into();
    e = with(&s, "tokenizer.ggml.tokens", Some(Value::Array(Array::from(tokens))));
    assert_eq!(bad_key(err(&e)), "tokenizer.ggml.tokens[10]");
    // Display names the key.
    let msg = err(&with(&g, "tokenizer.ggml.bos_token_id", Some(Value::U32(1000)))).to_string();
    assert!(msg.contains("tokenizer.ggml.bos_token_id") && msg.contains("1000"), "{msg}");
}

#[test]
fn every_key_replaced_by_every_value_type_never_panics() {
    let values = [
        Value::U8(255),
        Value::I32(-1),
        Value::U32(u32::MAX),
        Value::U64(3),
        Value::F32(f32::NAN),
        Value::Bool(true),
        Value::from(""),
        Value::from("llama"),
        strings(&[]),
        strings(&["", "a b", " "]),
        ints(&[]),
        ints(&[-7, 3, 99]),
        Value::Array(Array::from(vec![f32::NAN; 279])),
        Value::Array(Array::Array(vec![Array::from(vec![1u8])])),
    ];
    for base in [gpt2_entries("llama-bpe"), spm_entries()] {
        for (key, _) in &base {
            for v in &values {
                let e = with(&base, key, Some(v.clone()));
                if let Ok(t) = load(&e) {
                    let ids = t.encode_with_special("héllo <|eot_id|> wörld 😀", true).unwrap_or_default();
                    let _ = t.decode(&ids);
                }
            }
            let _ = load(&with(&base, key, None));
        }
    }
}

// ---- the synthetic vocabulary ----

#[test]
fn synth_tiny_model_carries_a_working_tokenizer() {
    let file = GgufFile::from_bytes(synth_bytes(SynthShape::TINY, 1).unwrap()).unwrap();
    let t = Tokenizer::from_gguf(&file).unwrap();
    assert_eq!(t.vocab_size(), SynthShape::TINY.vocab_size);
    assert_eq!(
        (t.bos(), t.eos(), t.eot(), t.pad()),
        (Some(synth::BOS), Some(synth::EOS), Some(synth::EOT), Some(synth::PAD))
    );
    assert!(t.is_eog(synth::EOS) && t.is_eog(synth::EOT) && !t.is_eog(synth::BOS));
    let ids = t.encode("The quick brown fox jumps over the lazy dog.", true).unwrap();
    assert_eq!(ids[0], synth::BOS);
    // Merges learnt from English text compress it.
    assert!(ids.len() < 35, "{ids:?}");
    assert_eq!(t.decode(&ids), "The quick brown fox jumps over the lazy dog.");
    assert_eq!(
        t.encode_with_special("<|begin_of_text|>hi<|eot_id|>", false).unwrap(),
        [vec![synth::BOS], t.encode("hi", false).unwrap(), vec![synth::EOT]].concat()
    );
    let mut rng = StdRng::seed_from_u64(9);
    for _ in 0..300 {
        let s = random_text(&mut rng);
        let ids = t.encode(&s, true).unwrap();
        assert!(ids.iter().all(|&id| (id as usize) < 512));
        assert_eq!(t.decode(&ids), s);
    }
}

#[test]
fn synth_vocabulary_sizes() {
    for n in [synth::MIN_VOCAB, 300, 1000] {
        let mut w = GgufWriter::new();
        synth::write_byte_level_vocab(&mut w, n).unwrap();
        let t = Tokenizer::from_gguf(&GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap()).unwrap();
        assert_eq!(t.vocab_size(), n);
        assert_eq!(t.decode(&t.encode("né 中文 🦀\n", false).unwrap()), "né 中文 🦀\n");
    }
    let mut w = GgufWriter::new();
    assert!(matches!(synth::write_byte_level_vocab(&mut w, 259), Err(TokenizerError::BadInput(_))));
    // Keys already present: an error, not a panic.
    let mut w = GgufWriter::new();
    w.add("tokenizer.ggml.model", "llama").unwrap();
    assert!(matches!(synth::write_byte_level_vocab(&mut w, 300), Err(TokenizerError::Gguf(_))));
    // synth refuses a model vocabulary too small for the tokenizer.
    let small = SynthShape { vocab_size: 100, ..SynthShape::TINY };
    assert!(synth_bytes(small, 0).is_err());
}

// ---- llama.cpp's tokenizer fixtures (optional) ----

/// llama.cpp's `models/ggml-vocab-*.gguf` with their `.inp` / `.out` tokenizer tests
/// (expected ids made by the Hugging Face tokenizers), from the directory named by
/// `TERN_VOCAB_FIXTURES` (not shipped: the vocabularies are megabytes; llama.cpp's
/// `models/` holds them). Every file whose tokenizer tern supports must match exactly.
/// Run: `TERN_VOCAB_FIXTURES=llama.cpp/models cargo test -p tern-inference --test
/// tokenizer -- --ignored`.
#[test]
#[ignore = "needs TERN_VOCAB_FIXTURES: a directory with llama.cpp's models/ggml-vocab-*.gguf{,.inp,.out}"]
fn llama_cpp_vocab_fixtures_match() {
    let dir =
        std::env::var("TERN_VOCAB_FIXTURES").expect("TERN_VOCAB_FIXTURES: llama.cpp's models/ directory");
    let mut checked = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        if path.extension().is_none_or(|e| e != "gguf") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let file = GgufFile::open(&path).unwrap();
        let t = match Tokenizer::from_gguf(&file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{name}: not supported: {e}");
                continue;
            }
        };
        // Random text round trips through every vocabulary tern loads (refact's lacks
        // some byte tokens: text needing them is refused, not silently dropped).
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..200 {
            let s = random_text(&mut rng).replace('▁', " ");
            let ids = match t.encode(&s, true) {
                Ok(ids) => ids,
                Err(TokenizerError::Unencodable { .. }) => continue,
                Err(e) => panic!("{name}: {e}"),
            };
            if !ids.contains(&0) || t.token_type(0) != Some(TokenType::Unknown) {
                assert_eq!(t.decode(&ids), s, "{name}");
            }
        }
        let (inp, out) = (path.with_extension("gguf.inp"), path.with_extension("gguf.out"));
        let (Ok(inp), Ok(out)) = (std::fs::read_to_string(&inp), std::fs::read_to_string(&out)) else {
            eprintln!("{name}: loads and round-trips (no .inp / .out)");
            continue;
        };
        let mut texts: Vec<&str> = inp.split("\n__ggml_vocab_test__\n").collect();
        if inp.ends_with("\n__ggml_vocab_test__\n") {
            texts.pop();
        }
        let expected: Vec<&str> = out.lines().collect();
        assert_eq!(texts.len(), expected.len(), "{name}");
        let mut bad = 0;
        for (text, want) in texts.iter().zip(&expected) {
            let want: Vec<u32> = want.split_whitespace().map(|x| x.parse().unwrap()).collect();
            let got = t.encode(text, false).unwrap();
            assert_eq!(t.decode(&got), *text, "{name}");
            if got != want {
                bad += 1;
                eprintln!("{name}: {text:?}\n  got  {got:?}\n  want {want:?}");
            }
        }
        if name == "ggml-vocab-llama-bpe.gguf" {
            // Llama 3's chat framing, ids as in Meta's tokenizer.
            let chat = "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>";
            assert_eq!(
                t.encode_with_special(chat, false).unwrap(),
                [128000, 128006, 882, 128007, 271, 6151, 128009]
            );
            assert!(!t.encode(chat, false).unwrap().iter().any(|&id| id >= 128000));
            assert_eq!((t.bos(), t.add_bos()), (Some(128000), true));
            assert!(t.is_eog(128009) && t.is_eog(t.eos().unwrap()) && !t.is_eog(128006));
            assert_eq!(t.encode("hi", true).unwrap(), [128000, 6151]);
        }
        eprintln!("{name}: {} of {} match", texts.len() - bad, texts.len());
        assert_eq!(bad, 0, "{name}");
        checked += 1;
    }
    assert!(checked > 0, "no supported fixtures in {dir}");
}

#[test]
fn llama_cpp_eog_exceptions() {
    let vocab = |extra: &[&str]| {
        let mut tokens: Vec<String> = (0..=255u8).map(|b| gpt2_char(b).to_string()).collect();
        tokens.extend(extra.iter().map(|s| s.to_string()));
        load(&[
            ("tokenizer.ggml.model", Value::from("gpt2")),
            ("tokenizer.ggml.tokens", Value::Array(Array::from(tokens))),
            ("tokenizer.ggml.merges", strings(&[])),
        ])
        .unwrap()
    };
    // gpt-oss: <|end|> ends a message, not generation, and renders as text.
    let t = vocab(&["<|end|>", "<|return|>", "<|call|>"]);
    assert_eq!(t.eog_tokens(), [257, 258]);
    assert_eq!(t.token_type(256), Some(TokenType::UserDefined));
    assert_eq!(t.decode(&[256]), "<|end|>");
    // Without both partners it is EOG (and the end-of-turn token), and control.
    let t = vocab(&["<|end|>", "<|return|>"]);
    assert_eq!((t.eog_tokens(), t.eot()), (&[256, 257][..], Some(256)));
    assert_eq!(t.token_type(256), Some(TokenType::Control));
    assert_eq!(t.decode(&[256, b('a')]), "a");
    // gemma 4: </s> is normal next to <|tool_response>.
    let t = vocab(&["</s>", "<|tool_response>"]);
    assert_eq!(t.eog_tokens(), [257]);
    assert_eq!(t.token_type(256), Some(TokenType::Normal));
    let t = vocab(&["</s>"]);
    assert!(t.is_eog(256));
    assert_eq!((t.bos(), t.eos(), t.add_bos()), (None, None, false));
}
