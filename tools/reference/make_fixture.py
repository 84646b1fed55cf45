#!/usr/bin/env python3
"""Builds the HF-transformers reference fixture for tern's forward pass (issue 6).

Run by hand (never in CI), see tools/reference/README.md:

    TORCHDYNAMO_DISABLE=1 /work/pyenv/bin/python tools/reference/make_fixture.py

What it does (seeded, deterministic on CPU):

1. Trains a tiny byte-level BPE tokenizer (vocab 384, GPT-2 regex, `<|begin_of_text|>`,
   `<|end_of_text|>`) on the short fixed text CORPUS below.
2. Makes a tiny random BitNet b1.58 (2 layers, hidden 128, 4 heads, 2 KV heads, FFN 256,
   relu2, tied embeddings, RoPE theta 500000, rms eps 1e-5): float weights, then every
   projection quantized offline to ternary t = clip(round(W / s), -1, 1) with the
   per-tensor absmean s = mean|W| (W ~ N(0, 4 / fan_in)); norm weights random in
   [0.5, 1.5]; embedding N(0, 0.01).
3. Saves it as a HF checkpoint with `quantization_config = {quant_method: bitnet,
   linear_class: bitlinear, quantization_mode: offline}` (weights packed with
   transformers' own `pack_weights`, `weight_scale` = 1 / s, because transformers'
   `BitLinear` divides by it), loads it back with `BitNetForCausalLM.from_pretrained`,
   so the reference really runs transformers' `BitLinear` (ternary weights, absmax int8
   activations per token). Cross-checks it against the same model loaded as
   `linear_class: autobitlinear` (which multiplies by `weight_scale` = s) and against a
   plain PyTorch mirror of tern's arithmetic reading the exported GGUF.
4. Exports the GGUF with tools/gguf_bitnet.py (I2_S projections with scale s, F32
   embedding, F32 norms, tokenizer metadata) and writes, under
   inference/tests/fixtures/reference/:
     tiny-bitnet.gguf    the model
     logits.bin          little-endian f32 logits of transformers (eager attention, f32)
     index.json          prompts, greedy tokens, offsets into logits.bin, tolerances, versions
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")  # transformers' @torch.compile -> eager (same math)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

import safetensors.torch  # noqa: E402
import tokenizers  # noqa: E402
import transformers  # noqa: E402
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: E402
from transformers import BitNetConfig, BitNetForCausalLM  # noqa: E402
from transformers.integrations.bitnet import AutoBitLinear, BitLinear, pack_weights, unpack_weights  # noqa: E402

import bitnet_torch as bt  # noqa: E402
import gguf_bitnet as gb  # noqa: E402

SEED = 20250611
OUT = os.path.join(ROOT, "inference", "tests", "fixtures", "reference")
BOS, EOS = "<|begin_of_text|>", "<|end_of_text|>"
VOCAB = 384
N_GREEDY = 8
# Prompts: candidates are word prefixes of the CORPUS lines (BOS + 5..12 tokens); the
# first three (one of >= 5, one of >= 8, one of >= 11 tokens) are kept whose greedy choices are all at least MIN_MARGIN (relative to
# max |logit|) from a tie and whose int8 activations all stay MIN_TIE_MARGIN (relative)
# away from a rounding tie, so a different float summation order in tern cannot flip
# an int8 value (one flip moves the logits by up to a few percent).
MIN_MARGIN = 1e-3
MIN_TIE_MARGIN = 1e-6


def candidate_prompts(tok, min_tokens):
    """Word prefixes of each CORPUS line: per line the shortest with >= min_tokens tokens
    (BOS included), if it has at most 12."""
    out = []
    for line in CORPUS.splitlines():
        words = line.split()
        for k in range(1, len(words) + 1):
            text = " ".join(words[:k])
            n = 1 + len(tok.encode(text, add_special_tokens=False).ids)
            if n >= min_tokens:
                if n <= 12:
                    out.append(text)
                break
    return out
TOKENIZER_CASES = [
    "Hello, world!",
    "  indented\n\tcode = 42  # comment",
    "BitNet b1.58 -- ternary {-1, 0, +1}",
    "naïve café – “quotes” 😀",
]
PROJ = {
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
NORMS = {
    "attn_norm": "input_layernorm",
    "attn_sub_norm": "self_attn.attn_sub_norm",
    "ffn_norm": "post_attention_layernorm",
    "ffn_sub_norm": "mlp.ffn_sub_norm",
}


def max_rel(a, b):
    """max |a - b| / max |b| over the vector (b the reference)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / np.abs(b).max())


# The tokenizer's training text: fixed here so the fixture does not change with the docs.
CORPUS = """\
tern is an async runtime with a built-in inference engine for BitNet b1.58 models.
The runtime schedules tasks on worker threads; the engine loads GGUF files written by
bitnet.cpp and runs them on the CPU. Ternary weights take the values -1, 0 and +1, packed
four to a byte in the I2_S format with one scale for the whole tensor. Activations are
quantized to int8 per token: the scale is 127 divided by the largest magnitude, values
are rounded half to even and clamped to [-128, 127].

Each block normalizes its input with RMSNorm, projects queries, keys and values, rotates
queries and keys with RoPE, attends causally over the cache, normalizes the result again
and projects it back. The feed-forward network squares the rectified gate, multiplies it
by the up projection, normalizes, and projects down. The output head shares the token
embedding. Load the model, run the prompt, then generate one token at a time.

    def generate(model, prompt, n):
        cache = model.new_cache()
        logits = model.forward(prompt, 0, cache)
        for _ in range(n):
            token = argmax(logits)
            yield token
            logits = model.forward([token], cache.len(), cache)

The tests compare the logits with a reference written by transformers, position by
position, and the greedy tokens exactly. Weights, scales, norms and embeddings all come
from one file; nothing else is needed to run it.
"""


def train_tokenizer():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, min_frequency=1, special_tokens=[BOS, EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([CORPUS], trainer=trainer)
    assert tok.get_vocab_size() == VOCAB, tok.get_vocab_size()
    return tok, ["tools/reference/make_fixture.py CORPUS"]


def hf_config(bos, eos):
    return BitNetConfig(
        vocab_size=VOCAB, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, hidden_act="relu2", max_position_embeddings=64,
        rms_norm_eps=1e-5, tie_word_embeddings=True, bos_token_id=bos, eos_token_id=eos, pad_token_id=None,
        rope_parameters={"rope_type": "default", "rope_theta": 500000.0},
    )


def build_float_model(cfg):
    torch.manual_seed(SEED)
    m = BitNetForCausalLM(cfg).float().eval()
    g = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        m.model.embed_tokens.weight.copy_(torch.randn(m.model.embed_tokens.weight.shape, generator=g) * 0.1)
        for name, p in m.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(0.5 + torch.rand(p.shape, generator=g))
            elif name.endswith("proj.weight"):
                # std 2/sqrt(fan_in): the blocks' outputs are as large as the embedding, so
                # attention and FFN decide the greedy tokens (not just the last token's embedding)
                p.copy_(torch.randn(p.shape, generator=g) * (2.0 / p.shape[1] ** 0.5))
    return m


def quantize(m):
    """{param name: (ternary float tensor, absmean scale float32 tensor)} for every projection."""
    out = {}
    for name, p in m.named_parameters():
        if name.endswith("proj.weight"):
            w = p.detach().float()
            s = w.abs().mean().clamp(min=1e-5)
            t = (w / s).round().clamp(-1, 1)
            out[name] = (t, s)
    return out


def save_hf(m, quant, cfg, path, linear_class):
    """A packed offline BitNet checkpoint that from_pretrained loads through the quantizer."""
    sd = {}
    for name, p in m.state_dict().items():
        if name == "lm_head.weight":
            continue  # tied
        if name in quant:
            t, s = quant[name]
            sd[name] = pack_weights(t.clone()).contiguous()
            base = name[: -len("weight")]
            # BitLinear: y = x_q.W / (s_x * weight_scale) -> 1/s.  AutoBitLinear: y = (x_q/s_x).W * weight_scale -> s.
            ws = (1.0 / s) if linear_class == "bitlinear" else s
            sd[base + "weight_scale"] = ws.reshape(1).float().contiguous()
        else:
            sd[name] = p.detach().float().contiguous()
    safetensors.torch.save_file(sd, os.path.join(path, "model.safetensors"), metadata={"format": "pt"})
    d = cfg.to_dict()
    d["quantization_config"] = {"quant_method": "bitnet", "linear_class": linear_class,
                                "quantization_mode": "offline"}
    d["torch_dtype"] = "float32"
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(d, f, indent=1)


def load_hf(path):
    m = BitNetForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="eager")
    return m.eval()


def check_loaded(m, quant, linear_class):
    """The loaded reference really uses the quantized layers with our ternary weights."""
    cls = BitLinear if linear_class == "bitlinear" else AutoBitLinear
    mods = dict(m.named_modules())
    n = 0
    for name, (t, s) in quant.items():
        mod = mods[name[: -len(".weight")]]
        assert isinstance(mod, cls), (name, type(mod))
        w = mod.weight
        if w.dtype == torch.uint8:
            w = unpack_weights(w, dtype=torch.float32)
        assert torch.equal(w.float(), t), name
        n += 1
    assert type(m.lm_head) is torch.nn.Linear, type(m.lm_head)
    assert torch.equal(m.lm_head.weight, m.model.embed_tokens.weight), "lm_head must be tied"
    return n


@torch.no_grad()
def hf_logits(m, ids):
    return m(input_ids=torch.tensor([ids]), use_cache=False).logits[0].float()


@torch.no_grad()
def hf_greedy_cached(m, prompt, n):
    """Greedy with transformers' KV cache (prefill, then one token at a time)."""
    from transformers import DynamicCache

    cache = DynamicCache(config=m.config)
    out = m(input_ids=torch.tensor([prompt]), past_key_values=cache, use_cache=True)
    toks = []
    for _ in range(n):
        nxt = int(torch.argmax(out.logits[0, -1]))
        toks.append(nxt)
        out = m(input_ids=torch.tensor([[nxt]]), past_key_values=out.past_key_values, use_cache=True)
    return toks


def export_gguf(m, quant, cfg, tok, path):
    c = gb.BitNetConfig(n_layers=cfg.num_hidden_layers, dim=cfg.hidden_size, ffn_dim=cfg.intermediate_size,
                        n_heads=cfg.num_attention_heads, n_kv_heads=cfg.num_key_value_heads,
                        vocab_size=cfg.vocab_size, context_length=cfg.max_position_embeddings,
                        rms_eps=cfg.rms_norm_eps, rope_base=cfg.rope_parameters["rope_theta"],
                        hidden_act="relu2", name="tern reference fixture (random BitNet b1.58)")
    sd = m.state_dict()
    layers = []
    for i in range(c.n_layers):
        L = {}
        for g, h in NORMS.items():
            L[g] = sd[f"model.layers.{i}.{h}.weight"].numpy()
        for g, h in PROJ.items():
            t, s = quant[f"model.layers.{i}.{h}.weight"]
            L[g] = (t.to(torch.int8).numpy(), float(s))
        layers.append(L)
    items = gb.tokenizer_metadata(tok.to_str(), pre="gpt-2", bos=BOS, eos=EOS, add_bos=True)
    return gb.write_bitnet_gguf(path, c, sd["model.embed_tokens.weight"].numpy(), sd["model.norm.weight"].numpy(),
                                layers, output=None, embd_type="f32", tokenizer=items)


def main():
    os.makedirs(OUT, exist_ok=True)
    tok, tok_files = train_tokenizer()
    bos, eos = tok.token_to_id(BOS), tok.token_to_id(EOS)
    cfg = hf_config(bos, eos)
    fm = build_float_model(cfg)
    quant = quantize(fm)

    with tempfile.TemporaryDirectory() as d1, tempfile.TemporaryDirectory() as d2:
        save_hf(fm, quant, cfg, d1, "bitlinear")
        save_hf(fm, quant, cfg, d2, "autobitlinear")
        ref = load_hf(d1)
        n_bit = check_loaded(ref, quant, "bitlinear")
        auto = load_hf(d2)
        check_loaded(auto, quant, "autobitlinear")
    print(f"loaded reference: {n_bit} BitLinear projections, tied f32 lm_head")

    gguf_path = os.path.join(OUT, "tiny-bitnet.gguf")
    size = export_gguf(fm, quant, cfg, tok, gguf_path)
    mirror = bt.GgufBitNet(gguf_path)
    print(f"wrote {gguf_path} ({size} bytes)")

    blob = []
    offset = 0
    entries = []
    worst = {"autobitlinear_vs_bitlinear": 0.0, "gguf_mirror_vs_transformers": 0.0}
    # one short, one medium, one long prompt
    candidates = [(t, lo) for lo in (5, 8, 11) for t in candidate_prompts(tok, lo)]
    for text, lo in candidates:
        if len(entries) == 3:
            break
        if len(entries) != (5, 8, 11).index(lo):
            continue
        prompt = [bos] + tok.encode(text, add_special_tokens=False).ids
        greedy = hf_greedy_cached(ref, prompt, N_GREEDY)
        seq = prompt + greedy[:-1]  # logits at every position of prompt + generated
        lg = hf_logits(ref, seq)
        # greedy by full recomputation must agree with the cached path
        assert [int(torch.argmax(lg[len(prompt) - 1 + j])) for j in range(N_GREEDY)] == greedy
        # how far each greedy choice is from a tie (tern's argmax must not flip)
        top2 = torch.topk(lg[len(prompt) - 1:], 2, dim=-1).values
        margin = float(((top2[:, 0] - top2[:, 1]) / lg[len(prompt) - 1:].abs().amax(-1)).min())
        if margin < MIN_MARGIN:
            print(f"skip {text!r}: greedy margin {margin:.2e}")
            continue
        lm = mirror.forward_all(seq)
        tie = mirror.min_tie_margin
        if tie < MIN_TIE_MARGIN:
            print(f"skip {text!r}: an int8 activation is {tie:.1e} (relative) from a rounding tie")
            continue
        la = hf_logits(auto, seq)
        for p in range(len(seq)):
            worst["autobitlinear_vs_bitlinear"] = max(worst["autobitlinear_vs_bitlinear"], max_rel(la[p], lg[p]))
            worst["gguf_mirror_vs_transformers"] = max(worst["gguf_mirror_vs_transformers"], max_rel(lm[p], lg[p]))
        assert mirror.greedy(prompt, N_GREEDY) == greedy
        arr = lg.numpy().astype("<f4")
        blob.append(arr.tobytes())
        entries.append({
            "text": text,
            "prompt": prompt,
            "greedy": greedy,
            "positions": len(seq),
            "tokens": seq,
            "logits_offset": offset,
            "greedy_min_top2_margin_rel": margin,
            "min_int8_tie_margin_rel": tie,
        })
        offset += arr.size
        print(f"prompt {text!r} {prompt} -> greedy {greedy} (min top-2 margin {margin:.3g} of max |logit|, "
              f"int8 tie margin {tie:.2g})")
    print("cross-checks (max rel err over all positions):", worst)
    assert len(entries) == 3, "not enough usable prompts"
    assert worst["gguf_mirror_vs_transformers"] < 1e-4, worst
    assert worst["autobitlinear_vs_bitlinear"] < 1e-4, worst

    with open(os.path.join(OUT, "logits.bin"), "wb") as f:
        for b in blob:
            f.write(b)
    index = {
        "description": "Reference logits of HF transformers BitNetForCausalLM (offline-quantized BitLinear, "
                       "f32, eager attention) for tiny-bitnet.gguf; see tools/reference/README.md",
        "model": "tiny-bitnet.gguf",
        "logits": "logits.bin",
        "logits_format": "little-endian f32; for prompt i, `positions` rows of `vocab_size` values from float "
                         "offset `logits_offset`; row p = logits after tokens[0..=p] (tokens = prompt + greedy[:-1]), "
                         "so rows len(prompt)-1 .. are the logits that chose greedy[0..]",
        "vocab_size": VOCAB,
        "tolerance": {"metric": "max|tern - ref| / max|ref| over each logits vector", "max": 1e-3},
        "prompts": entries,
        "cross_checks_max_rel": worst,
        "tokenizer": {
            "trained_on": tok_files,
            "cases": [{"text": t, "ids": tok.encode(t, add_special_tokens=False).ids} for t in TOKENIZER_CASES],
            "note": "ids from HF tokenizers (ByteLevel, GPT-2 regex, no BOS added)",
        },
        "config": {"n_layers": 2, "dim": 128, "n_heads": 4, "n_kv_heads": 2, "ffn_dim": 256,
                   "context_length": 64, "rope_base": 500000.0, "rms_eps": 1e-5, "activation": "relu2",
                   "tied": True, "embedding": "F32", "bos": bos, "eos": eos},
        "seed": SEED,
        "versions": {"python": sys.version.split()[0], "torch": torch.__version__,
                     "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                     "numpy": np.__version__, "safetensors": safetensors.__version__},
    }
    with open(os.path.join(OUT, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")
    print("wrote", os.path.join(OUT, "index.json"))


if __name__ == "__main__":
    main()
