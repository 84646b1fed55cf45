//! The engine on a real runtime: batching correctness, overload, cancellation,
//! timeouts, shutdown, bad requests.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tern_inference::engine::{Engine, EngineConfig, EngineError, Event, FinishReason, Generation, Request};
use tern_inference::gguf::GgufFile;
use tern_inference::model::{argmax, synth_bytes, KvCache, KvType, Model, SynthShape};
use tern_inference::sampler::SamplingParams;
use tern_runtime::compute::ComputePool;

const SHAPE: SynthShape = SynthShape { context_length: 256, ..SynthShape::TINY };

fn model() -> Model {
    Model::from_gguf(&GgufFile::from_bytes(synth_bytes(SHAPE, 5).unwrap()).unwrap()).unwrap()
}

fn greedy(prompt: Vec<u32>, max_tokens: usize) -> Request {
    let mut r = Request::new(prompt, max_tokens);
    r.params = SamplingParams::greedy();
    r.ignore_eos = true;
    r
}

fn prompt(len: usize, salt: u32) -> Vec<u32> {
    (0..len as u32).map(|i| (i * 31 + salt * 97 + 1) % SHAPE.vocab_size as u32).collect()
}

/// Collects a generation: its tokens and how it ended.
async fn collect(mut g: Generation) -> (Vec<u32>, Event) {
    let mut tokens = Vec::new();
    while let Some(ev) = g.next_event().await {
        match ev {
            Event::Token(t) => tokens.push(t),
            end => return (tokens, end),
        }
    }
    panic!("stream ended without Done or Failed");
}

fn config(parallel: usize, max_queue: usize) -> EngineConfig {
    EngineConfig { parallel, max_queue, batch_tokens: 16, ..EngineConfig::default() }
}

async fn wait_until(mut cond: impl FnMut() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        tern_reactor::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("condition not reached in 2.5 s");
}

#[test]
fn concurrent_requests_get_the_tokens_each_would_get_alone() {
    let m = model();
    let prompts: Vec<Vec<u32>> = (0..6).map(|i| prompt(3 + 7 * i, i as u32)).collect();
    let want: Vec<Vec<u32>> = prompts.iter().map(|p| m.generate(p, 12).unwrap()).collect();
    let m = Arc::new(m.with_pool(ComputePool::new(2)));
    tern_runtime::block_on(async move {
        // 3 slots, 6 requests: some wait in the queue; prefill chunks of up to 16
        // tokens share steps with other sequences' decode tokens.
        let engine = Engine::start(m, Vec::new(), config(3, 8)).unwrap();
        let gens: Vec<_> = prompts.iter().map(|p| engine.submit(greedy(p.clone(), 12)).unwrap()).collect();
        let handles: Vec<_> = gens.into_iter().map(|g| tern_runtime::spawn(collect(g))).collect();
        for (h, want) in handles.into_iter().zip(&want) {
            let (tokens, end) = h.await.unwrap();
            assert_eq!(&tokens, want);
            let Event::Done(done) = end else { panic!("{end:?}") };
            assert_eq!(done.reason, FinishReason::Length);
            assert_eq!(done.completion_tokens, 12);
        }
        let m = engine.metrics();
        assert_eq!(m.completed.load(Ordering::Relaxed), 6);
        assert_eq!(m.generated_tokens.load(Ordering::Relaxed), 72);
        assert_eq!(m.active_slots.load(Ordering::Relaxed), 0);
        assert_eq!(m.queue_depth.load(Ordering::Relaxed), 0);
        assert!(m.render_prometheus().contains("tern_generated_tokens_total 72"));
    });
}

#[test]
fn end_of_generation_token_stops_with_reason_stop() {
    let m = model();
    let p = prompt(5, 9);
    let out = m.generate(&p, 6).unwrap();
    let eog = out[3]; // the 4th greedy token ends generation (unless it came earlier)
    let stop_at = out.iter().position(|&t| t == eog).unwrap();
    tern_runtime::block_on(async move {
        let engine = Engine::start(Arc::new(m), vec![eog], config(1, 1)).unwrap();
        let mut req = greedy(p, 6);
        req.ignore_eos = false;
        let (tokens, end) = collect(engine.submit(req).unwrap()).await;
        assert_eq!(tokens, out[..stop_at]);
        let Event::Done(done) = end else { panic!("{end:?}") };
        assert_eq!(done.reason, FinishReason::Stop);
        assert_eq!(done.completion_tokens, stop_at);
    });
}

#[test]
fn full_queue_refuses_at_once_with_a_retry_hint_then_recovers() {
    tern_runtime::block_on(async {
        let engine = Engine::start(Arc::new(model()), Vec::new(), config(1, 1)).unwrap();
        // One request runs, one waits; the third finds the queue full.
        let running = engine.submit(greedy(prompt(4, 1), 200)).unwrap();
        wait_until(|| engine.metrics().active_slots.load(Ordering::Relaxed) == 1).await;
        let queued = engine.submit(greedy(prompt(4, 2), 200)).unwrap();
        match engine.submit(greedy(prompt(4, 3), 4)) {
            Err(EngineError::Overloaded { retry_after }) => assert!(retry_after >= Duration::from_secs(1)),
            other => panic!("expected Overloaded, got {other:?}"),
        }
        assert_eq!(engine.metrics().rejected.load(Ordering::Relaxed), 1);
        // Load drops: both finish, and a new request is accepted and served.
        drop(collect(running).await);
        drop(collect(queued).await);
        let (tokens, _) = collect(engine.submit(greedy(prompt(4, 3), 4)).unwrap()).await;
        assert_eq!(tokens.len(), 4);
    });
}

#[test]
fn dropping_a_generation_frees_its_slot() {
    tern_runtime::block_on(async {
        let engine = Engine::start(Arc::new(model()), Vec::new(), config(1, 4)).unwrap();
        let mut g = engine.submit(greedy(prompt(4, 1), 240)).unwrap();
        assert!(matches!(g.next_event().await, Some(Event::Token(_))));
        drop(g); // the client disconnects mid-stream
        wait_until(|| engine.metrics().cancelled.load(Ordering::Relaxed) == 1).await;
        wait_until(|| engine.metrics().active_slots.load(Ordering::Relaxed) == 0).await;
        assert!(engine.metrics().generated_tokens.load(Ordering::Relaxed) < 240);
        // The slot serves the next request.
        let (tokens, end) = collect(engine.submit(greedy(prompt(4, 2), 3)).unwrap()).await;
        assert_eq!(tokens.len(), 3, "{end:?}");
    });
}

#[test]
fn stopping_a_generation_frees_its_slot_and_counts_as_completed() {
    tern_runtime::block_on(async {
        let engine = Engine::start(Arc::new(model()), Vec::new(), config(1, 4)).unwrap();
        let mut g = engine.submit(greedy(prompt(4, 1), 240)).unwrap();
        assert!(matches!(g.next_event().await, Some(Event::Token(_))));
        g.stop(); // the client is done (a stop string matched)
        wait_until(|| engine.metrics().active_slots.load(Ordering::Relaxed) == 0).await;
        let m = engine.metrics();
        assert_eq!(m.completed.load(Ordering::Relaxed), 1);
        assert_eq!(m.cancelled.load(Ordering::Relaxed), 0);
        assert!(m.generated_tokens.load(Ordering::Relaxed) < 240);
    });
}

#[test]
fn expired_timeout_fails_the_request() {
    tern_runtime::block_on(async {
        let engine = Engine::start(Arc::new(model()), Vec::new(), config(1, 4)).unwrap();
        let mut req = greedy(prompt(4, 1), 8);
        req.timeout = Some(Duration::ZERO);
        let (tokens, end) = collect(engine.submit(req).unwrap()).await;
        assert!(tokens.is_empty());
        assert_eq!(end, Event::Failed(EngineError::TimedOut { timeout: Duration::ZERO }));
        assert_eq!(engine.metrics().timed_out.load(Ordering::Relaxed), 1);
    });
}

#[test]
fn bad_requests_are_refused_with_the_reason() {
    tern_runtime::block_on(async {
        let cfg = EngineConfig { ctx_size: Some(32), parallel: 2, ..EngineConfig::default() };
        let engine = Engine::start(Arc::new(model()), Vec::new(), cfg).unwrap();
        assert_eq!(engine.slot_context(), 16);
        assert!(matches!(engine.submit(greedy(vec![], 4)), Err(EngineError::BadRequest(_))));
        let e = engine.submit(greedy(vec![SHAPE.vocab_size as u32], 4)).unwrap_err();
        assert!(e.to_string().contains("vocabulary"), "{e}");
        assert_eq!(
            engine.submit(greedy(prompt(16, 1), 4)).unwrap_err(),
            EngineError::PromptTooLong { prompt_tokens: 16, slot_context: 16 }
        );
        let mut bad = greedy(prompt(3, 1), 4);
        bad.params.temperature = f32::NAN;
        assert!(matches!(engine.submit(bad), Err(EngineError::BadRequest(_))));
        // max_tokens past the slot's context ends with "length" at the context.
        let (tokens, end) = collect(engine.submit(greedy(prompt(10, 1), 100)).unwrap()).await;
        assert_eq!(tokens.len(), 6);
        assert!(matches!(end, Event::Done(d) if d.reason == FinishReason::Length));
    });
}

#[test]
fn graceful_shutdown_finishes_in_flight_work_then_refuses() {
    tern_runtime::block_on(async {
        let engine = Engine::start(Arc::new(model()), Vec::new(), config(2, 4)).unwrap();
        let gens: Vec<_> = (0..3).map(|i| engine.submit(greedy(prompt(4, i), 10)).unwrap()).collect();
        let handles: Vec<_> = gens.into_iter().map(|g| tern_runtime::spawn(collect(g))).collect();
        let report = engine.shutdown(Duration::from_secs(30)).await;
        assert_eq!(report.cut, 0);
        for h in handles {
            let (tokens, end) = h.await.unwrap();
            assert_eq!(tokens.len(), 10, "{end:?}");
        }
        assert!(report.completed <= 3);
        assert_eq!(engine.submit(greedy(prompt(4, 1), 2)).unwrap_err(), EngineError::ShuttingDown);
    });
}

#[test]
fn shutdown_deadline_cuts_what_is_left() {
    tern_runtime::block_on(async {
        let engine = Engine::start(Arc::new(model()), Vec::new(), config(1, 4)).unwrap();
        let running = engine.submit(greedy(prompt(4, 1), 240)).unwrap();
        let queued = engine.submit(greedy(prompt(4, 2), 240)).unwrap();
        let report = engine.shutdown(Duration::ZERO).await;
        assert_eq!(report.cut, 2, "{report:?}");
        let (_, end) = collect(running).await;
        assert_eq!(end, Event::Failed(EngineError::Cut));
        let (_, end) = collect(queued).await;
        assert_eq!(end, Event::Failed(EngineError::Cut));
    });
}

/// Greedy tokens with a KV cache of `kv` (what a slot of that type must give).
fn greedy_with(m: &Model, kv: KvType, prompt: &[u32], n: usize) -> Vec<u32> {
    let mut cache = KvCache::with_type(m.config(), SHAPE.context_length, kv).unwrap();
    let mut logits = vec![0f32; SHAPE.vocab_size];
    m.forward(prompt, 0, &mut cache, &mut logits).unwrap();
    let mut out = Vec::new();
    while out.len() < n {
        let t = argmax(&logits);
        out.push(t);
        m.forward(&[t], cache.len(), &mut cache, &mut logits).unwrap();
    }
    out
}

#[test]
fn engine_serves_with_f16_and_f32_kv_caches() {
    let m = model();
    let prompts: Vec<Vec<u32>> = (0..3).map(|i| prompt(6 + 11 * i, 20 + i as u32)).collect();
    let m = Arc::new(m.with_pool(ComputePool::new(2)));
    assert_eq!(EngineConfig::default().kv_type, KvType::F16);
    for kv in [KvType::F16, KvType::F32] {
        let want: Vec<Vec<u32>> = prompts.iter().map(|p| greedy_with(&m, kv, p, 10)).collect();
        let m = m.clone();
        let prompts = prompts.clone();
        tern_runtime::block_on(async move {
            let engine = Engine::start(m, Vec::new(), EngineConfig { kv_type: kv, ..config(2, 4) }).unwrap();
            assert_eq!(engine.kv_type(), kv);
            let gens: Vec<_> =
                prompts.iter().map(|p| engine.submit(greedy(p.clone(), 10)).unwrap()).collect();
            let handles: Vec<_> = gens.into_iter().map(|g| tern_runtime::spawn(collect(g))).collect();
            for (h, want) in handles.into_iter().zip(&want) {
                let (tokens, end) = h.await.unwrap();
                assert_eq!(&tokens, want, "{kv}");
                assert!(matches!(end, Event::Done(_)), "{kv}: {end:?}");
            }
        });
    }
}
