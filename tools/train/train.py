#!/usr/bin/env python3
"""Trains tern-tiny: a small BitNet b1.58 model (quantization-aware, ternary weights,
int8 activations) on the reST sources of the Python 3.11 documentation, on one CPU
thread, and exports it as a GGUF that tern loads (`models/tern-tiny.gguf`).

See tools/train/README.md for the command, data licence and results.

Outputs (under --out, default <repo>/models):
  tern-tiny.gguf         the model (I2_S projections, F16 tied embedding, F32 norms,
                         gpt2-style BPE tokenizer metadata)
  tern-tiny.tokenizer.json  the HF `tokenizers` tokenizer
  heldout.txt            held-out text (whole held-out files, about --heldout-bytes)
  heldout.ids.json       its token ids (no BOS) and the quantized model's NLL on the
                         first 200 of them
  tern-tiny.eval.json    perplexity on heldout.txt of the exported (quantized) model,
                         the exact procedure, final train / held-out losses, timings
  train_log.jsonl        the loss curve
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: E402

import bitnet_torch as bt  # noqa: E402
import gguf_bitnet as gb  # noqa: E402

BOS, EOS = "<|begin_of_text|>", "<|end_of_text|>"
DOCS = "/usr/share/doc/python3.11/html/_sources"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=DOCS)
    p.add_argument("--out", default=os.path.join(ROOT, "models"))
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--vocab", type=int, default=4096)
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--ffn", type=int, default=640)
    p.add_argument("--ctx", type=int, default=256)
    p.add_argument("--batch", type=int, default=8, help="sequences per step")
    p.add_argument("--steps", type=int, default=1000, help="planned steps (the LR schedule's length)")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--min-lr-frac", type=float, default=0.1)
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--wd", type=float, default=0.05)
    p.add_argument("--time-limit", type=float, default=35 * 60, help="seconds of training before export")
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--eval-windows", type=int, default=16)
    p.add_argument("--heldout-every", type=int, default=20, help="every Nth file (sorted) is held out")
    p.add_argument("--heldout-bytes", type=int, default=40_000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--bench", type=int, default=0, help="only time this many steps, write nothing")
    return p.parse_args()


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def load_files(root, every):
    files = sorted(glob.glob(os.path.join(root, "**", "*.rst.txt"), recursive=True))
    rel = [os.path.relpath(f, root) for f in files]
    train, held = [], []
    for i, (f, r) in enumerate(zip(files, rel)):
        with open(f, encoding="utf-8") as fh:
            text = fh.read()
        (held if i % every == every - 1 else train).append((r, text))
    return train, held


def train_tokenizer(texts, vocab):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        min_frequency=2,
        special_tokens=[BOS, EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    return tok


def encode_docs(tok, texts, bos_id, eos_id):
    out = []
    for enc in tok.encode_batch(texts, add_special_tokens=False):
        out.append(bos_id)
        out.extend(enc.ids)
        out.append(eos_id)
    return np.asarray(out, dtype=np.int64)


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    t_start = time.time()

    train_files, held_files = load_files(args.data, args.heldout_every)
    log(f"{len(train_files)} train files, {len(held_files)} held-out files "
        f"({sum(len(t) for _, t in train_files)} / {sum(len(t) for _, t in held_files)} chars)")

    tok = train_tokenizer([t for _, t in train_files], args.vocab)
    bos_id, eos_id = tok.token_to_id(BOS), tok.token_to_id(EOS)
    vocab = tok.get_vocab_size()
    log(f"tokenizer: {vocab} tokens, bos {bos_id}, eos {eos_id} ({time.time() - t_start:.1f}s)")

    train_ids = encode_docs(tok, [t for _, t in train_files], bos_id, eos_id)
    held_ids = encode_docs(tok, [t for _, t in held_files], bos_id, eos_id)
    log(f"tokens: train {len(train_ids)}, held-out {len(held_ids)} "
        f"({sum(len(t) for _, t in train_files) / len(train_ids):.2f} chars/token)")

    cfg = gb.BitNetConfig(
        n_layers=args.layers, dim=args.dim, ffn_dim=args.ffn, n_heads=args.heads, n_kv_heads=args.kv_heads,
        vocab_size=vocab, context_length=args.ctx, rms_eps=1e-5, rope_base=10000.0, hidden_act="relu2",
        name="tern-tiny (BitNet b1.58, Python 3.11 docs)",
    )
    model = bt.BitNetLM(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    n_proj = sum(p.numel() for n, p in model.named_parameters() if n.endswith(".weight") and "blocks" in n)
    log(f"model: {n_params} parameters ({n_proj} ternary, {model.embed.weight.numel()} embedding)")

    decay = [p for n, p in model.named_parameters() if p.ndim == 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.wd}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr, betas=(0.9, 0.95), eps=1e-8,
    )

    def progress(step, elapsed):
        """Schedule progress in [0, 1]: by steps, or by the wall clock when that is further
        along (so a slow, shared machine still anneals the LR before the time limit). The
        run is bit-reproducible whenever the step count decides (see README)."""
        by_steps = (step - args.warmup) / max(1, args.steps - args.warmup)
        by_time = elapsed / args.time_limit if elapsed is not None else 0.0
        return min(1.0, max(by_steps, by_time))

    time_driven = [0]

    def lr_at(step, elapsed=None):
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        prog = progress(step, elapsed)
        if elapsed is not None and elapsed / args.time_limit > (step - args.warmup) / max(1, args.steps - args.warmup):
            time_driven[0] += 1
        return args.lr * (args.min_lr_frac + (1 - args.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * prog)))

    gen = np.random.default_rng(args.seed)
    L = args.ctx

    def batch(ids, n, rng):
        starts = rng.integers(0, len(ids) - L - 1, size=n)
        x = np.stack([ids[s:s + L + 1] for s in starts])
        return torch.from_numpy(x[:, :-1]), torch.from_numpy(x[:, 1:])

    eval_rng = np.random.default_rng(args.seed + 1)
    held_eval = batch(held_ids, args.eval_windows, eval_rng)
    train_eval = batch(train_ids, args.eval_windows, eval_rng)

    @torch.no_grad()
    def eval_loss(xy):
        model.eval()
        x, y = xy
        losses = []
        for i in range(0, x.shape[0], 8):
            logits = model(x[i:i + 8])
            losses.append(F.cross_entropy(logits.reshape(-1, vocab), y[i:i + 8].reshape(-1), reduction="sum"))
        model.train()
        return float(sum(losses)) / y.numel()

    os.makedirs(args.out, exist_ok=True)
    logf = None if args.bench else open(os.path.join(args.out, "train_log.jsonl"), "w")
    t_train = time.time()
    step, ema = 0, None
    stopped_by = "steps"
    while step < args.steps:
        if time.time() - t_train > args.time_limit:
            stopped_by = "time limit"
            break
        if args.bench and step == args.bench:
            dt = time.time() - t_train
            log(f"bench: {step} steps in {dt:.1f}s = {dt / step:.2f} s/step, "
                f"{step * args.batch * L / dt:.0f} tokens/s")
            return
        cur_lr = lr_at(step, time.time() - t_train)
        for g in opt.param_groups:
            g["lr"] = cur_lr
        x, y = batch(train_ids, args.batch, gen)
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        lv = float(loss.detach())
        ema = lv if ema is None else 0.95 * ema + 0.05 * lv
        if step % 10 == 0 or step == 1:
            log(f"step {step} loss {lv:.4f} (ema {ema:.4f}) lr {cur_lr:.2e} "
                f"{time.time() - t_train:.0f}s")
        if step % args.eval_every == 0 and not args.bench:
            tl, hl = eval_loss(train_eval), eval_loss(held_eval)
            log(f"eval step {step}: train {tl:.4f} held-out {hl:.4f}")
            logf.write(json.dumps({"step": step, "time_s": round(time.time() - t_train, 1), "train_loss": tl,
                                   "heldout_loss": hl, "batch_loss_ema": ema}) + "\n")
            logf.flush()
    train_time = time.time() - t_train
    final_train, final_held = eval_loss(train_eval), eval_loss(held_eval)
    log(f"stopped after {step} steps ({stopped_by}), {train_time:.0f}s; "
        f"final train {final_train:.4f} held-out {final_held:.4f}")
    logf.write(json.dumps({"step": step, "time_s": round(train_time, 1), "train_loss": final_train,
                           "heldout_loss": final_held, "batch_loss_ema": ema, "final": True}) + "\n")
    logf.close()

    # ---------------------------------------------------------------- export
    tok_path = os.path.join(args.out, "tern-tiny.tokenizer.json")
    tok.save(tok_path)
    tok_items = gb.tokenizer_metadata(tok.to_str(), pre="gpt-2", bos=BOS, eos=EOS, add_bos=True)
    gguf_path = os.path.join(args.out, "tern-tiny.gguf")
    size = gb.write_bitnet_gguf(
        gguf_path, cfg, model.embed.weight.detach().numpy(), model.output_norm.detach().numpy(),
        model.export_layers(), output=None, embd_type="f16", tokenizer=tok_items,
        extra_metadata=[
            ("general.license", "string", "MIT OR Apache-2.0 (weights, as tern); training data: Python 3.11 documentation, PSF License Agreement"),
            ("general.source.url", "string", "https://docs.python.org/3.11/ (Debian python3.11-doc _sources)"),
        ],
    )
    log(f"wrote {gguf_path}: {size} bytes")

    # ---------------------------------------------------------------- held-out text + eval
    parts, used = [], []
    total = 0
    for r, t in held_files:
        if total >= args.heldout_bytes:
            break
        if total + len(t.encode("utf-8")) > 100_000:
            continue  # keep heldout.txt under 100 KB
        parts.append(t)
        used.append(r)
        total += len(t.encode("utf-8"))
    text = "\n".join(parts)
    with open(os.path.join(args.out, "heldout.txt"), "w", encoding="utf-8") as f:
        f.write(text)
    ids = tok.encode(text, add_special_tokens=False).ids
    assert tok.decode(ids) == text, "byte-level BPE must round-trip"

    q = bt.GgufBitNet(gguf_path)
    t_eval = time.time()
    nll, count = q.nll_windows(ids, cfg.context_length)
    nll200, c200 = q.nll_windows(ids[:200], 200)
    # the training model (QAT forward, f32 embedding) on the same windows, for comparison
    with torch.no_grad():
        model.eval()
        tot, cnt = 0.0, 0
        for s in range(0, len(ids), L):
            w = ids[s:s + L]
            if len(w) < 2:
                continue
            lg = model(torch.tensor([w]))[0].double()
            tot += float(F.cross_entropy(lg[:-1], torch.tensor(w[1:]), reduction="sum"))
            cnt += len(w) - 1
    qat_nll = tot / cnt
    log(f"held-out file: {len(ids)} tokens, quantized GGUF NLL {nll:.4f} (ppl {math.exp(nll):.2f}), "
        f"QAT model {qat_nll:.4f}, first 200 tokens {nll200:.4f} ({time.time() - t_eval:.1f}s)")

    sample_prompt = [bos_id] + tok.encode("The ", add_special_tokens=False).ids
    greedy = q.greedy(sample_prompt, 24)
    log("greedy sample:", repr(tok.decode(sample_prompt[1:] + greedy)))

    with open(os.path.join(args.out, "heldout.ids.json"), "w") as f:
        json.dump({
            "text_file": "heldout.txt",
            "bos": False,
            "ids": ids,
            "first_200": {
                "n_tokens": 200, "predicted": c200, "nll": nll200,
                "procedure": "run ids[0:200] from position 0 with an empty cache; mean over t in 0..199 of "
                             "-log_softmax(logits after ids[0..=t])[ids[t+1]] (199 predictions), natural log",
            },
        }, f)
        f.write("\n")

    eval_json = {
        "model": "tern-tiny.gguf",
        "heldout_text": "heldout.txt",
        "heldout_source_files": used,
        "tokens": len(ids),
        "predicted_tokens": count,
        "nll": nll,
        "perplexity": math.exp(nll),
        "nll_first_200": nll200,
        "nll_qat_model_same_windows": qat_nll,
        "procedure": {
            "tokenize": "the whole of heldout.txt (UTF-8) with the BPE tokenizer in the GGUF "
                        "(tern-tiny.tokenizer.json), no BOS, no EOS; ids in heldout.ids.json",
            "windows": f"consecutive non-overlapping windows of {cfg.context_length} tokens "
                       "(ids[0:256], ids[256:512], ...; the last may be shorter, a 1-token last window is "
                       "dropped); each window runs from position 0 with an empty KV cache",
            "nll": "for each window w and t in 0..len(w)-1: -log softmax(logits at t)[w[t+1]] "
                   "(natural log, softmax over the full vocabulary, computed in f64 from f32 logits); "
                   "nll = sum / number of predictions; perplexity = exp(nll)",
            "model": "the exported GGUF read back (tools/bitnet_torch.py GgufBitNet): I2_S ternary weights "
                     "times their per-tensor scale, F16 embedding/head, activations absmax int8 per token "
                     "(round half to even), y = (sum t*q) / s_x * s_w, RMSNorm eps 1e-5, RoPE NEOX base 10000",
        },
        "train": {
            "steps": step, "planned_steps": args.steps, "stopped_by": stopped_by,
            "lr_steps_set_by_wall_clock": time_driven[0],
            "train_time_s": round(train_time, 1), "total_time_s": round(time.time() - t_start, 1),
            "final_train_loss": final_train, "final_heldout_loss": final_held,
            "loss_note": f"mean token cross-entropy (nats) of the QAT model on {args.eval_windows} fixed random "
                         f"{L}-token windows of the train / held-out token streams",
            "tokens_seen": step * args.batch * L,
            "parameters": n_params, "ternary_parameters": n_proj,
            "file_bytes": size,
            "args": vars(args),
            "versions": {"python": sys.version.split()[0], "torch": torch.__version__,
                         "numpy": np.__version__, "tokenizers": __import__("tokenizers").__version__},
        },
        "greedy_sample": {"prompt_ids": sample_prompt, "ids": greedy,
                          "text": tok.decode(sample_prompt[1:] + greedy)},
    }
    with open(os.path.join(args.out, "tern-tiny.eval.json"), "w") as f:
        json.dump(eval_json, f, indent=1)
        f.write("\n")
    log(f"done in {time.time() - t_start:.0f}s")


if __name__ == "__main__":
    main()
