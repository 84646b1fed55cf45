//! Sampler and stop-string tests: greedy against `argmax`, seeds, the empirical
//! distribution against softmax (chi-square), each truncation stage's exact support, the
//! repetition penalty, validation, no allocation per token; `StopMatcher` on hand-made
//! streams and against a naive whole-text reference over random chunkings.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tern_inference::model::argmax;
use tern_inference::sampler::{Sampler, SamplingError, SamplingParams, StopMatcher, StopOutcome};

// ---- allocation counting: allocations made on this thread ----

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards every call to `System` unchanged; only bumps a const-initialised
// thread-local `Cell` (no allocation, no destructor).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|a| a.set(a.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|a| a.set(a.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> usize {
    ALLOCS.with(|a| a.get())
}

// ---- helpers ----

/// Temperature 1, no truncation, no penalty, seeded.
fn plain(seed: u64) -> SamplingParams {
    SamplingParams {
        temperature: 1.0,
        top_k: 0,
        top_p: 1.0,
        min_p: 0.0,
        seed: Some(seed),
        ..Default::default()
    }
}

fn random_logits(rng: &mut StdRng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-scale..scale)).collect()
}

/// softmax(logits / t) in f64.
fn softmax(logits: &[f32], t: f64) -> Vec<f64> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let w: Vec<f64> = logits.iter().map(|&l| ((l as f64 - max) / t).exp()).collect();
    let s: f64 = w.iter().sum();
    w.iter().map(|x| x / s).collect()
}

fn counts(sampler: &mut Sampler, logits: &[f32], history: &[u32], draws: usize) -> Vec<usize> {
    let mut c = vec![0; logits.len()];
    for _ in 0..draws {
        c[sampler.sample(logits, history) as usize] += 1;
    }
    c
}

/// Pearson's chi-square of `counts` against `probs` over the bins with `probs > 0`;
/// panics if a zero-probability bin was drawn.
fn chi_square(counts: &[usize], probs: &[f64]) -> f64 {
    let n: usize = counts.iter().sum();
    let mut chi = 0.0;
    for (&c, &p) in counts.iter().zip(probs) {
        if p == 0.0 {
            assert_eq!(c, 0, "a token of probability 0 was drawn: {counts:?}");
            continue;
        }
        let e = p * n as f64;
        chi += (c as f64 - e).powi(2) / e;
    }
    chi
}

/// 1e-4 upper quantiles of chi-square with `df` degrees of freedom.
fn chi_critical(df: usize) -> f64 {
    match df {
        1 => 15.14,
        2 => 18.42,
        3 => 21.11,
        5 => 25.74,
        7 => 29.88,
        9 => 33.72,
        _ => panic!("no table entry for df {df}"),
    }
}

// ---- greedy ----

#[test]
fn greedy_equals_argmax() {
    let mut rng = StdRng::seed_from_u64(1);
    let mut s = Sampler::new(SamplingParams::greedy()).unwrap();
    for n in [1, 2, 7, 100, 32_000] {
        for _ in 0..20 {
            let mut logits = random_logits(&mut rng, n, 10.0);
            // Ties and NaNs.
            for _ in 0..n / 10 {
                let (i, j) = (rng.random_range(0..n), rng.random_range(0..n));
                logits[i] = logits[j];
            }
            if n > 3 {
                logits[rng.random_range(0..n)] = f32::NAN;
            }
            assert_eq!(s.sample(&logits, &[]), argmax(&logits));
        }
    }
}

#[test]
fn greedy_ties_go_to_the_lowest_id_and_nan_never_wins() {
    let mut s = Sampler::new(SamplingParams::greedy()).unwrap();
    assert_eq!(s.sample(&[1.0, 3.0, 3.0, 2.0], &[]), 1);
    assert_eq!(s.sample(&[f32::NAN, 1.0, f32::NAN, 1.0], &[]), 1);
    assert_eq!(s.sample(&[f32::NAN, f32::NAN], &[]), 0);
    assert_eq!(s.sample(&[f32::NEG_INFINITY, f32::NEG_INFINITY, -1e30], &[]), 2);
}

#[test]
fn top_k_one_equals_greedy() {
    let mut rng = StdRng::seed_from_u64(2);
    let params = SamplingParams { top_k: 1, temperature: 1.5, top_p: 1.0, min_p: 0.0, ..plain(3) };
    let mut s = Sampler::new(params).unwrap();
    for _ in 0..200 {
        let mut logits = random_logits(&mut rng, 50, 3.0);
        logits[rng.random_range(0..50)] = logits[rng.random_range(0..50)];
        // The maximum tied on purpose half the time.
        if rng.random_bool(0.5) {
            let m = argmax(&logits) as usize;
            let other = rng.random_range(0..50);
            logits[other] = logits[m];
        }
        assert_eq!(s.sample(&logits, &[]), argmax(&logits));
    }
}

// ---- seeds ----

#[test]
fn same_seed_same_tokens_different_seed_different_tokens() {
    let mut rng = StdRng::seed_from_u64(4);
    let logits_seq: Vec<Vec<f32>> = (0..500).map(|_| random_logits(&mut rng, 1000, 2.0)).collect();
    let run = |seed| {
        let mut s = Sampler::new(SamplingParams { seed: Some(seed), ..Default::default() }).unwrap();
        let mut history = vec![];
        for l in &logits_seq {
            let t = s.sample(l, &history);
            history.push(t);
        }
        history
    };
    let a = run(10);
    assert_eq!(a, run(10));
    let b = run(11);
    let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
    assert!(same < 250, "seeds 10 and 11 agree on {same} of 500 draws");
}

#[test]
fn pinned_tokens_for_a_seed() {
    // A seed must give the same tokens on every platform and version: a change here is
    // a change of tern's seeded output and must be deliberate.
    let logits: Vec<f32> = (0..16).map(|i| (i as f32 * 0.37).sin()).collect();
    let mut s = Sampler::new(plain(1234)).unwrap();
    let got: Vec<u32> = (0..12).map(|_| s.sample(&logits, &[])).collect();
    assert_eq!(got, PINNED_1234);
}

const PINNED_1234: [u32; 12] = [7, 4, 13, 0, 7, 4, 3, 11, 11, 1, 10, 3];

#[test]
fn unseeded_samplers_differ() {
    let logits = vec![0.0f32; 1000];
    let mut a = Sampler::new(SamplingParams { seed: None, ..plain(0) }).unwrap();
    let mut b = Sampler::new(SamplingParams { seed: None, ..plain(0) }).unwrap();
    let ta: Vec<u32> = (0..50).map(|_| a.sample(&logits, &[])).collect();
    let tb: Vec<u32> = (0..50).map(|_| b.sample(&logits, &[])).collect();
    assert_ne!(ta, tb);
}

// ---- the distribution ----

#[test]
fn temperature_one_frequencies_match_softmax() {
    let logits = [0.3f32, -1.2, 2.0, 1.1, 0.0, -0.4, 1.6, -2.5];
    let mut s = Sampler::new(plain(5)).unwrap();
    let c = counts(&mut s, &logits, &[], 20_000);
    let chi = chi_square(&c, &softmax(&logits, 1.0));
    assert!(chi < chi_critical(7), "chi-square {chi:.2} (counts {c:?})");
}

#[test]
fn temperature_scales_the_logits() {
    let logits = [0.3f32, -1.2, 2.0, 1.1, 0.0, -0.4, 1.6, -2.5];
    for t in [0.5f32, 2.0] {
        let mut s = Sampler::new(SamplingParams { temperature: t, ..plain(6) }).unwrap();
        let c = counts(&mut s, &logits, &[], 20_000);
        let chi = chi_square(&c, &softmax(&logits, t as f64));
        assert!(chi < chi_critical(7), "t {t}: chi-square {chi:.2} (counts {c:?})");
        // And the temperature-1 distribution is rejected, so the test can fail.
        let wrong = chi_square(&c, &softmax(&logits, 1.0));
        assert!(wrong > 10.0 * chi_critical(7), "t {t}: indistinguishable from t = 1 ({wrong:.2})");
    }
}

#[test]
fn top_k_renormalizes_over_the_k_largest() {
    let logits = [0.3f32, -1.2, 2.0, 1.1, 0.0, -0.4, 1.6, -2.5];
    let mut s = Sampler::new(SamplingParams { top_k: 4, ..plain(7) }).unwrap();
    let c = counts(&mut s, &logits, &[], 20_000);
    // The four largest: ids 2, 6, 3, 0.
    let kept: Vec<f32> = logits
        .iter()
        .enumerate()
        .map(|(i, &l)| if [0, 2, 3, 6].contains(&i) { l } else { f32::NEG_INFINITY })
        .collect();
    let chi = chi_square(&c, &softmax(&kept, 1.0));
    assert!(chi < chi_critical(3), "chi-square {chi:.2} (counts {c:?})");
}

/// ln of probabilities 0.5, 0.3, 0.15, 0.05.
fn four_logits() -> [f32; 4] {
    [0.5f32.ln(), 0.3f32.ln(), 0.15f32.ln(), 0.05f32.ln()]
}

#[test]
fn top_p_keeps_exactly_the_smallest_set_reaching_p() {
    // Masses 0.5 | 0.8 | 0.95 | 1.0, shuffled ids so order comes from the logits.
    let base = four_logits();
    let ids = [2usize, 0, 3, 1];
    let mut logits = [0f32; 4];
    for (rank, &id) in ids.iter().enumerate() {
        logits[id] = base[rank];
    }
    for (top_p, kept) in [(0.3f32, 1), (0.45, 1), (0.75, 2), (0.85, 3), (0.97, 4)] {
        let mut s = Sampler::new(SamplingParams { top_p, temperature: 1.0, ..plain(8) }).unwrap();
        let c = counts(&mut s, &logits, &[], 20_000);
        let mut probs = [0f64; 4];
        let mass: f64 = base[..kept].iter().map(|l| (*l as f64).exp()).sum();
        for (rank, &id) in ids.iter().enumerate().take(kept) {
            probs[id] = (base[rank] as f64).exp() / mass;
        }
        // chi_square asserts the tokens outside the set never appear.
        if kept > 1 {
            let chi = chi_square(&c, &probs);
            assert!(chi < chi_critical(kept - 1), "top_p {top_p}: chi-square {chi:.2} (counts {c:?})");
        } else {
            assert_eq!(c[ids[0]], 20_000, "top_p {top_p}: {c:?}");
        }
    }
}

#[test]
fn top_p_over_a_large_vocabulary_small_and_large_nucleus() {
    // Logits -rank * step over 1500 shuffled ids: the nucleus is a known rank prefix.
    // step 0.2: a few dozen tokens (the 1024-largest shortcut); step 0.0005: over 1024
    // (the full sort).
    let mut rng = StdRng::seed_from_u64(14);
    for (step, top_p, draws) in [(0.2f32, 0.9f32, 2_000), (0.0005, 0.8, 2_500)] {
        let n = 1500;
        let mut ids: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            ids.swap(i, rng.random_range(0..=i));
        }
        let mut logits = vec![0f32; n];
        let mut rank_of = vec![0; n];
        for (rank, &id) in ids.iter().enumerate() {
            logits[id] = -(rank as f32) * step;
            rank_of[id] = rank;
        }
        let probs = softmax(&logits, 1.0);
        let (mut cum, mut size) = (0.0, 0);
        while cum < top_p as f64 {
            cum += probs[ids[size]];
            size += 1;
        }
        assert!((step > 0.1) == (size < 1024), "step {step}: nucleus of {size}");
        // Temperature 1e4 makes the draw near-uniform over whatever survives.
        let params = SamplingParams { top_p, temperature: 1e4, ..plain(15) };
        let mut s = Sampler::new(params).unwrap();
        let c = counts(&mut s, &logits, &[], draws);
        let drawn: Vec<usize> = (0..n).filter(|&id| c[id] > 0).map(|id| rank_of[id]).collect();
        let max_rank = drawn.iter().copied().max().unwrap();
        assert!(max_rank < size, "step {step}: nucleus of {size}, drew rank {max_rank}");
        assert!(drawn.len() as f64 > 0.75 * size as f64, "step {step}: drew {} of {size}", drawn.len());
        // The nucleus's tail is reached (each of its last ten tokens has about
        // draws / size expected hits), so it was not cut short either.
        assert!(max_rank + 10 >= size, "step {step}: nucleus of {size}, drew up to rank {max_rank}");
    }
}

#[test]
fn min_p_excludes_tokens_below_the_fraction_of_the_max() {
    let logits = four_logits();
    // Thresholds: 0.2 * 0.5 = 0.1 keeps three; 0.35 * 0.5 = 0.175 keeps two.
    for (min_p, kept) in [(0.2f32, 3), (0.35, 2), (0.09, 4)] {
        let mut s = Sampler::new(SamplingParams { min_p, ..plain(9) }).unwrap();
        let c = counts(&mut s, &logits, &[], 20_000);
        let mut cut = logits;
        cut[kept..].fill(f32::NEG_INFINITY);
        let chi = chi_square(&c, &softmax(&cut, 1.0));
        assert!(chi < chi_critical(kept - 1), "min_p {min_p}: chi-square {chi:.2} (counts {c:?})");
    }
}

#[test]
fn the_default_chain_applies_min_p_after_top_k_and_temperature_last() {
    // Probabilities (temperature 1) 0.5, 0.3, 0.15, 0.05: top_k 3 drops id 3; min_p 0.35
    // drops id 2 (0.15 / 0.5 = 0.3 < 0.35; at temperature 2 it would be kept). Temperature
    // 2 then flattens the draw between ids 0 and 1 only.
    let logits = four_logits();
    let params = SamplingParams { temperature: 2.0, top_k: 3, top_p: 1.0, min_p: 0.35, ..plain(10) };
    let mut s = Sampler::new(params).unwrap();
    let c = counts(&mut s, &logits, &[], 20_000);
    let mut cut = logits;
    cut[2..].fill(f32::NEG_INFINITY);
    let chi = chi_square(&c, &softmax(&cut, 2.0));
    assert!(chi < chi_critical(1), "chi-square {chi:.2} (counts {c:?})");
}

#[test]
fn nan_and_minus_infinity_are_never_drawn() {
    let logits = [f32::NAN, 0.0, f32::NEG_INFINITY, 0.5, f32::NAN];
    let mut s = Sampler::new(SamplingParams { temperature: 5.0, ..plain(11) }).unwrap();
    let c = counts(&mut s, &logits, &[], 5_000);
    assert_eq!((c[0], c[2], c[4]), (0, 0, 0), "{c:?}");
    assert!(c[1] > 0 && c[3] > 0);
}

// ---- repetition penalty ----

#[test]
fn repetition_penalty_breaks_a_near_tie() {
    let penalized = |p: f32, last_n: usize| SamplingParams {
        repeat_penalty: p,
        repeat_last_n: last_n,
        ..SamplingParams::greedy()
    };
    let logits = [2.0f32, 1.99, 0.5];
    let mut s = Sampler::new(penalized(1.1, 64)).unwrap();
    assert_eq!(s.sample(&logits, &[]), 0);
    assert_eq!(s.sample(&logits, &[0]), 1, "2.0 / 1.1 < 1.99");
    // Negative logits are multiplied: -1.0 * 1.1 < -1.05.
    assert_eq!(s.sample(&[-1.0, -1.05], &[0]), 1);
    // Outside the window: no penalty.
    let mut s1 = Sampler::new(penalized(1.1, 1)).unwrap();
    assert_eq!(s1.sample(&logits, &[0, 2]), 0);
    assert_eq!(s1.sample(&logits, &[2, 0]), 1);
    // Off: 1.0, or a window of 0.
    assert_eq!(Sampler::new(penalized(1.0, 64)).unwrap().sample(&logits, &[0]), 0);
    assert_eq!(Sampler::new(penalized(1.1, 0)).unwrap().sample(&logits, &[0]), 0);
    // Ids outside the vocabulary are ignored.
    assert_eq!(s.sample(&logits, &[7, u32::MAX]), 0);
}

#[test]
fn repetition_penalty_applies_once_per_distinct_token() {
    // 2.0 / 1.1 = 1.82 > 1.7, but 2.0 / 1.1^3 = 1.50 < 1.7.
    let params = SamplingParams { repeat_penalty: 1.1, ..SamplingParams::greedy() };
    let mut s = Sampler::new(params).unwrap();
    assert_eq!(s.sample(&[2.0, 1.7], &[0, 0, 0]), 0);
}

#[test]
fn repetition_penalty_shifts_the_sampled_distribution() {
    let logits = [1.0f32, 1.0, 1.0];
    let mut s = Sampler::new(SamplingParams { repeat_penalty: 2.0, ..plain(12) }).unwrap();
    let c = counts(&mut s, &logits, &[1], 20_000);
    let chi = chi_square(&c, &softmax(&[1.0, 0.5, 1.0], 1.0));
    assert!(chi < chi_critical(2), "chi-square {chi:.2} (counts {c:?})");
}

// ---- validation, Send, allocation ----

#[test]
fn validate_rejects_bad_params_naming_the_field() {
    let bad = |p: SamplingParams, field: &str| {
        let e = p.validate().unwrap_err();
        let SamplingError::InvalidParam { field: f, .. } = &e else { panic!("{e:?}") };
        assert_eq!(*f, field);
        assert!(e.to_string().contains(field), "{e}");
        assert_eq!(Sampler::new(p).unwrap_err().to_string(), e.to_string());
    };
    let d = SamplingParams::default;
    for t in [f32::NAN, -0.1, f32::INFINITY] {
        bad(SamplingParams { temperature: t, ..d() }, "temperature");
    }
    for p in [0.0, -0.5, 1.01, f32::NAN] {
        bad(SamplingParams { top_p: p, ..d() }, "top_p");
    }
    for m in [1.0, -0.01, f32::NAN] {
        bad(SamplingParams { min_p: m, ..d() }, "min_p");
    }
    for r in [0.0, -1.0, f32::NAN, f32::INFINITY] {
        bad(SamplingParams { repeat_penalty: r, ..d() }, "repeat_penalty");
    }
    for ok in
        [d(), SamplingParams::greedy(), SamplingParams { top_p: 1.0, min_p: 0.0, temperature: 0.0, ..d() }]
    {
        ok.validate().unwrap();
    }
    let defaults = d();
    assert_eq!((defaults.temperature, defaults.top_k, defaults.top_p, defaults.min_p), (0.8, 40, 0.95, 0.05));
    assert_eq!((defaults.repeat_penalty, defaults.repeat_last_n, defaults.seed), (1.0, 64, None));
}

#[test]
fn sampler_is_send() {
    fn send<T: Send>() {}
    send::<Sampler>();
    send::<StopMatcher>();
}

#[test]
fn no_allocation_per_token_after_the_first() {
    let mut rng = StdRng::seed_from_u64(13);
    let logits_seq: Vec<Vec<f32>> = (0..20).map(|_| random_logits(&mut rng, 5000, 4.0)).collect();
    let history: Vec<u32> = (0..100).map(|_| rng.random_range(0..5000)).collect();
    let chains = [
        SamplingParams { seed: Some(1), repeat_penalty: 1.2, ..Default::default() },
        SamplingParams { top_k: 0, top_p: 0.9, repeat_penalty: 1.1, ..plain(2) },
        SamplingParams { repeat_penalty: 1.3, ..SamplingParams::greedy() },
        plain(3),
    ];
    for params in chains {
        let mut s = Sampler::new(params.clone()).unwrap();
        s.sample(&logits_seq[0], &history);
        let before = allocs();
        for l in &logits_seq {
            s.sample(l, &history);
        }
        assert_eq!(allocs() - before, 0, "{params:?}");
    }
}

#[test]
#[should_panic(expected = "empty logits")]
fn empty_logits_panic() {
    Sampler::new(plain(0)).unwrap().sample(&[], &[]);
}

// ---- stop strings ----

fn cont(s: &str) -> StopOutcome {
    StopOutcome::Continue(s.into())
}

fn stop(s: &str) -> StopOutcome {
    StopOutcome::Stop(s.into())
}

#[test]
fn stop_string_split_across_many_pushes() {
    let mut m = StopMatcher::new(vec!["<|end|>".into()]);
    assert_eq!(m.push("Hello "), cont("Hello "));
    assert_eq!(m.push("there<"), cont("there"));
    for piece in ["|", "e", "n", "d", "|"] {
        assert_eq!(m.push(piece), cont(""));
    }
    assert_eq!(m.push(">ignored"), stop(""));
    assert_eq!(m.push("more"), stop(""), "after a stop every push stops");
    assert_eq!(m.finish(), "");
}

#[test]
fn false_prefix_then_continuation_emits_the_held_text() {
    let mut m = StopMatcher::new(vec!["STOP".into()]);
    assert_eq!(m.push("abc ST"), cont("abc "));
    assert_eq!(m.push("O"), cont(""));
    assert_eq!(m.push("RM is S"), cont("STORM is "));
    assert_eq!(m.push("TOP!"), stop(""));
    // A held prefix that restarts: "SST" -> "S" is not a stop prefix start of the tail.
    let mut m = StopMatcher::new(vec!["STOP".into()]);
    assert_eq!(m.push("SST"), cont("S"));
    assert_eq!(m.push("OP"), stop(""));
}

#[test]
fn multiple_stops_the_first_to_complete_wins() {
    let mut m = StopMatcher::new(vec!["world".into(), "lo w".into()]);
    assert_eq!(m.push("hello world"), stop("hel"));
    // "bc" completes before "abcd" could: a generator checking per character stops there.
    let mut m = StopMatcher::new(vec!["abcd".into(), "bc".into()]);
    assert_eq!(m.push("xabcd"), stop("xa"));
    // Same end: the longer (earlier) one is cut.
    let mut m = StopMatcher::new(vec!["cd".into(), "bcd".into()]);
    assert_eq!(m.push("ab"), cont("a"));
    assert_eq!(m.push("cd"), stop(""));
    // The later-listed stop can win.
    let mut m = StopMatcher::new(vec!["zz".into(), "\n".into()]);
    assert_eq!(m.push("one\ntwo zz"), stop("one"));
}

#[test]
fn unicode_stops_and_text() {
    let mut m = StopMatcher::new(vec!["—終".into()]);
    let mut out = String::new();
    let mut stopped = None;
    for ch in "日本語—終わり".chars() {
        match m.push(&ch.to_string()) {
            StopOutcome::Continue(t) => out.push_str(&t),
            StopOutcome::Stop(t) => {
                stopped = Some(t);
                break;
            }
        }
    }
    assert_eq!(out + &stopped.unwrap(), "日本語");
    // A multi-byte held prefix that does not continue.
    let mut m = StopMatcher::new(vec!["é!".into()]);
    assert_eq!(m.push("café"), cont("caf"));
    assert_eq!(m.push("s"), cont("és"));
    assert_eq!(m.push("é"), cont(""));
    assert_eq!(m.finish(), "é");
}

#[test]
fn finish_flushes_held_text_and_resets() {
    let mut m = StopMatcher::new(vec!["</s>".into()]);
    assert_eq!(m.push("the end </"), cont("the end "));
    assert_eq!(m.finish(), "</");
    assert_eq!(m.push("again </s>"), stop("again "));
    assert_eq!(m.finish(), "");
    assert_eq!(m.push("new stream"), cont("new stream"), "finish resets a stopped matcher");
}

#[test]
fn no_stops_or_empty_stops_pass_through() {
    for stops in [vec![], vec![String::new()]] {
        let mut m = StopMatcher::new(stops);
        assert_eq!(m.push("anything <"), cont("anything <"));
        assert_eq!(m.push(""), cont(""));
        assert_eq!(m.finish(), "");
    }
}

/// The text a per-character generator would emit: cut at the first end position where
/// some stop ends (the longest such stop), or all of it.
fn naive_stop(text: &str, stops: &[String]) -> (String, bool) {
    let ends = text.char_indices().map(|(i, c)| i + c.len_utf8());
    for end in ends {
        let longest = stops
            .iter()
            .filter(|s| !s.is_empty() && text[..end].ends_with(s.as_str()))
            .map(|s| s.len())
            .max();
        if let Some(len) = longest {
            return (text[..end - len].to_owned(), true);
        }
    }
    (text.to_owned(), false)
}

fn text_strategy(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(prop_oneof![Just('a'), Just('b'), Just('é'), Just('語'), Just('\n')], 0..max)
        .prop_map(|v| v.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn stop_matcher_agrees_with_the_naive_reference(
        text in text_strategy(40),
        stops in proptest::collection::vec(text_strategy(5), 0..4),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let (want, want_stop) = naive_stop(&text, &stops);
        let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
        let mut at: Vec<usize> = cuts.iter().map(|c| bounds[c.index(bounds.len())]).collect();
        at.push(0);
        at.push(text.len());
        at.sort_unstable();
        at.dedup();
        let mut m = StopMatcher::new(stops.clone());
        let mut got = String::new();
        let mut got_stop = false;
        for w in at.windows(2) {
            match m.push(&text[w[0]..w[1]]) {
                StopOutcome::Continue(t) => got.push_str(&t),
                StopOutcome::Stop(t) => {
                    got.push_str(&t);
                    got_stop = true;
                    break;
                }
            }
        }
        if !got_stop {
            got.push_str(&m.finish());
        }
        prop_assert_eq!(&got, &want);
        prop_assert_eq!(got_stop, want_stop);
    }
}
