//! The text-level API over the engine: whole and streamed generation, stop strings,
//! batches, rate limits, retries, the circuit breaker and shutdown.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tern_inference::engine::{EngineConfig, EngineError, FinishReason};
use tern_inference::gguf::GgufFile;
use tern_inference::model::{synth_bytes, Model, SynthShape};
use tern_inference::processor::{
    BreakerConfig, BreakerState, CircuitBreaker, GenerateParams, ProcessError, Processor, ProcessorConfig,
    RetryPolicy, TokenBucket,
};
use tern_inference::sampler::SamplingParams;
use tern_inference::tokenizer::Tokenizer;

const SHAPE: SynthShape = SynthShape { context_length: 256, ..SynthShape::TINY };

fn processor(parallel: usize, max_queue: usize) -> Processor {
    processor_of(SHAPE, parallel, max_queue)
}

fn processor_of(shape: SynthShape, parallel: usize, max_queue: usize) -> Processor {
    let file = GgufFile::from_bytes(synth_bytes(shape, 8).unwrap()).unwrap();
    let config = ProcessorConfig {
        engine: EngineConfig { parallel, max_queue, ..EngineConfig::default() },
        threads: Some(1),
        default_max_tokens: 12,
        timeout: Duration::from_secs(30),
        ..ProcessorConfig::default()
    };
    Processor::from_parts(Model::from_gguf(&file).unwrap(), Tokenizer::from_gguf(&file).unwrap(), "t", config)
        .unwrap()
}

fn greedy(max_tokens: usize) -> GenerateParams {
    GenerateParams {
        max_tokens: Some(max_tokens),
        sampling: SamplingParams::greedy(),
        ignore_eos: true,
        ..GenerateParams::default()
    }
}

#[test]
fn whole_and_streamed_text_agree_and_match_the_model() {
    tern_runtime::block_on(async {
        let p = processor(2, 4);
        let r = p.process_async("The quick brown fox", greedy(10)).await.unwrap();
        assert_eq!(r.tokens_generated, 10);
        assert_eq!(r.finish_reason, FinishReason::Length);
        // The same ids as the model's own greedy loop, decoded.
        let ids = p.encode_prompt("The quick brown fox").unwrap();
        assert_eq!(r.prompt_tokens, ids.len());
        let want = p.model().generate(&ids, 10).unwrap();
        assert_eq!(r.text, p.tokenizer().decode(&want));

        let mut s = p.generate_stream("The quick brown fox", greedy(10)).unwrap();
        let (mut text, mut ids_seen) = (String::new(), Vec::new());
        while let Some(t) = s.next_token().await {
            let t = t.unwrap();
            text.push_str(&t.text);
            ids_seen.extend(t.id);
        }
        assert_eq!(ids_seen, want);
        assert_eq!(text, r.text);
    });
}

#[test]
fn stop_string_ends_the_text_before_it() {
    tern_runtime::block_on(async {
        let p = processor(1, 4);
        let full = p.process_async("Once upon", greedy(24)).await.unwrap().text;
        // Stop at a piece from the middle of the greedy text (on char boundaries).
        let chars: Vec<char> = full.chars().collect();
        assert!(chars.len() >= 8, "{full:?}");
        let stop: String = chars[chars.len() / 2..chars.len() / 2 + 2].iter().collect();
        let before = &full[..full.find(&stop).unwrap()];
        let mut params = greedy(24);
        params.stop = vec![stop.clone()];
        let r = p.process_async("Once upon", params).await.unwrap();
        assert_eq!(r.text, before, "stop {stop:?}");
        assert_eq!(r.finish_reason, FinishReason::Stop);
        assert!(r.tokens_generated < 24);
        // The engine counts a stop-string end as completed, not as a cancel.
        let m = p.engine().metrics();
        let deadline = Instant::now() + Duration::from_secs(10);
        while m.active_slots.load(Ordering::Relaxed) != 0 {
            assert!(Instant::now() < deadline, "the stopped request's slot was never freed");
            tern_reactor::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(m.completed.load(Ordering::Relaxed), 2);
        assert_eq!(m.cancelled.load(Ordering::Relaxed), 0);
    });
}

#[test]
fn batch_keeps_input_order_and_counts_failures() {
    tern_runtime::block_on(async {
        let p = processor(2, 2);
        let mut prompts: Vec<String> = (0..5).map(|i| format!("prompt number {i}")).collect();
        prompts.insert(2, "word ".repeat(300)); // past the context: fails
        let res = p.process_batch(prompts.clone(), greedy(4)).await;
        assert_eq!(res.results.len(), 6);
        assert_eq!((res.successful_count, res.failed_count), (5, 1));
        for (i, r) in res.results.iter().enumerate() {
            match r {
                Ok(r) => assert_eq!(r.prompt, prompts[i]),
                Err(e) => {
                    assert_eq!(i, 2);
                    assert!(matches!(e, ProcessError::Engine(EngineError::PromptTooLong { .. })), "{e}");
                }
            }
        }
        assert!(res.average_processing_time > Duration::ZERO);
        // Six prompts through a 2-slot, 2-deep queue without a single Overloaded.
        assert_eq!(p.engine().metrics().rejected.load(Ordering::Relaxed), 0);
    });
}

#[test]
fn streaming_batch_yields_every_index_once() {
    tern_runtime::block_on(async {
        let p = processor(2, 2);
        let mut s = p.process_streaming_batch((0..7).map(|i| format!("p{i}")).collect(), greedy(3));
        let mut seen = Vec::new();
        while let Some((i, r)) = s.next_result().await {
            assert_eq!(r.unwrap().tokens_generated, 3);
            seen.push(i);
        }
        seen.sort();
        assert_eq!(seen, (0..7).collect::<Vec<_>>());
    });
}

#[test]
fn rate_limit_paces_the_starts() {
    tern_runtime::block_on(async {
        let p = processor(4, 4);
        let t = Instant::now();
        let res = p.process_with_rate_limit((0..5).map(|i| format!("r{i}")).collect(), 20.0, greedy(1)).await;
        assert_eq!(res.successful_count, 5);
        // Burst 1 at 20/s: the 5th start is 4 intervals after the first.
        assert!(t.elapsed() >= Duration::from_millis(195), "{:?}", t.elapsed());
    });
}

#[test]
fn token_bucket_allows_a_burst_then_waits() {
    tern_runtime::block_on(async {
        let b = TokenBucket::new(10.0, 3);
        let t = Instant::now();
        for _ in 0..3 {
            b.acquire().await;
        }
        assert!(t.elapsed() < Duration::from_millis(50));
        b.acquire().await;
        assert!(t.elapsed() >= Duration::from_millis(95), "{:?}", t.elapsed());
    });
}

#[test]
fn retry_delays_grow_with_jitter_cap_and_retry_after() {
    let policy = RetryPolicy {
        max_retries: 5,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(1),
    };
    let err = ProcessError::Engine(EngineError::Cut);
    for attempt in 0..6 {
        let nominal = (Duration::from_millis(100) * 2u32.pow(attempt)).min(Duration::from_secs(1));
        let d = policy.delay(attempt, &err);
        assert!(d >= nominal / 2 && d < nominal, "attempt {attempt}: {d:?} vs {nominal:?}");
    }
    let overloaded = ProcessError::Engine(EngineError::Overloaded { retry_after: Duration::from_secs(3) });
    assert!(policy.delay(0, &overloaded) >= Duration::from_secs(3));
}

#[test]
fn retry_gives_up_at_once_on_bad_requests_and_after_n_on_overload() {
    tern_runtime::block_on(async {
        // A long context, so the two holders below outlast the retries' waits.
        let p = processor_of(SynthShape { context_length: 4096, ..SHAPE }, 1, 1);
        let policy = RetryPolicy {
            max_retries: 2,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        };
        let mut bad = greedy(2);
        bad.sampling.top_p = 0.0;
        let e = p.process_with_retry("a", bad, &policy).await.unwrap_err();
        assert!(!e.is_retryable(), "{e}");
        assert_eq!(p.engine().metrics().submitted.load(Ordering::Relaxed), 0);
        // Fill the slot and the queue, then retry into the full engine: three
        // attempts, three refusals (each waits at least Retry-After = 1 s, so the
        // holders get thousands of tokens to outlast them).
        let _a = p.generate_stream("a", greedy(4000)).unwrap();
        while p.engine().metrics().active_slots.load(Ordering::Relaxed) == 0 {
            tern_reactor::time::sleep(Duration::from_millis(1)).await;
        }
        let _b = p.generate_stream("b", greedy(4000)).unwrap();
        let policy = RetryPolicy { max_retries: 2, ..policy };
        let e = p.process_with_retry("c", greedy(2), &policy).await.unwrap_err();
        assert!(matches!(e, ProcessError::Engine(EngineError::Overloaded { .. })), "{e}");
        assert_eq!(p.engine().metrics().rejected.load(Ordering::Relaxed), 3);
    });
}

#[test]
fn circuit_breaker_opens_cools_down_and_closes() {
    let b = CircuitBreaker::new(BreakerConfig {
        window: 4,
        min_calls: 4,
        failure_ratio: 0.5,
        cool_down: Duration::from_secs(10),
    });
    let t0 = Instant::now();
    for failed in [false, true, false] {
        b.try_acquire_at(t0).unwrap();
        b.record_at(failed, t0);
    }
    assert_eq!(b.state(), BreakerState::Closed);
    b.try_acquire_at(t0).unwrap();
    b.record_at(true, t0); // 2 of 4 failed: opens
    assert_eq!(b.state(), BreakerState::Open { until: t0 + Duration::from_secs(10) });
    assert_eq!(b.try_acquire_at(t0 + Duration::from_secs(4)), Err(Duration::from_secs(6)));
    // After the cool-down one trial passes; a second caller is refused meanwhile.
    let t1 = t0 + Duration::from_secs(10);
    b.try_acquire_at(t1).unwrap();
    assert_eq!(b.state(), BreakerState::HalfOpen);
    assert!(b.try_acquire_at(t1).is_err());
    b.record_at(true, t1); // the trial fails: open again
    assert!(matches!(b.state(), BreakerState::Open { .. }));
    let t2 = t1 + Duration::from_secs(10);
    b.try_acquire_at(t2).unwrap();
    b.record_at(false, t2); // the trial succeeds: closed, empty window
    assert_eq!(b.state(), BreakerState::Closed);
    b.try_acquire_at(t2).unwrap();
    b.record_at(true, t2);
    assert_eq!(b.state(), BreakerState::Closed, "one failure in a fresh window must not open it");
}

#[test]
fn breaker_wraps_processor_calls_and_ignores_bad_requests() {
    tern_runtime::block_on(async {
        let p = processor(1, 2);
        let b = CircuitBreaker::new(BreakerConfig {
            window: 2,
            min_calls: 2,
            failure_ratio: 0.5,
            cool_down: Duration::from_secs(60),
        });
        for _ in 0..3 {
            assert!(p.process_with_breaker(&"word ".repeat(300), greedy(2), &b).await.is_err());
        }
        assert_eq!(b.state(), BreakerState::Closed, "bad requests are not service failures");
        assert!(p.process_with_breaker("fine", greedy(2), &b).await.is_ok());
    });
}

#[test]
fn graceful_shutdown_reports_and_refuses_new_work() {
    tern_runtime::block_on(async {
        let p = processor(1, 4);
        let running = p.generate_stream("x", greedy(200)).unwrap();
        let queued = p.generate_stream("y", greedy(200)).unwrap();
        let report = p.graceful_shutdown(Duration::from_millis(0)).await;
        assert_eq!(report.cut, 2);
        drop((running, queued));
        let e = p.process_async("z", greedy(2)).await.unwrap_err();
        assert!(matches!(e, ProcessError::Engine(EngineError::ShuttingDown)), "{e}");
    });
}
