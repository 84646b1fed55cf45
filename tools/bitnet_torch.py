"""BitNet b1.58 in PyTorch, exactly the architecture tern runs
(`inference/src/model/forward.rs`):

    h = RMSNorm(x, attn_norm)
    q, k, v = Wq h, Wk h, Wv h           (h absmax-int8 quantized per token, W ternary)
    q, k = RoPE_neox(q), RoPE_neox(k)     (rotate_half, theta_i = pos * base^(-2i/head_dim))
    a = softmax(q k^T / sqrt(head_dim), causal) v   (GQA: head i reads KV head i // group)
    x = x + Wo RMSNorm(a, attn_sub_norm)
    h = RMSNorm(x, ffn_norm)
    x = x + Wdown RMSNorm(relu(Wgate h)^2 * (Wup h), ffn_sub_norm)
    logits = E RMSNorm(x, output_norm)    (E = token embedding, tied head, not quantized)

Two things here:

- `BitNetLM`: the trainable model, quantization-aware (absmean ternary weights and
  per-token absmax int8 activations in the forward pass, straight-through estimator).
- `GgufBitNet`: inference straight from the tensors of an exported GGUF (read with
  `gguf_bitnet.read_gguf`), mirroring tern's integer arithmetic: y = (sum_k t_k q_k) /
  s_x * s_w with q = round_half_even(x * s_x) clamped to [-128, 127], s_x = 127 /
  max(max|x|, 1e-5) computed in f32; embedding / head as stored (F16 rounding included).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import gguf_bitnet as gb

# --------------------------------------------------------------------------- quantizers


def act_quant_int(x: torch.Tensor):
    """Per-token absmax int8: (q as float tensor of integers, s_x) with x ~ q / s_x."""
    s = 127.0 / x.abs().amax(dim=-1, keepdim=True).clamp(min=1e-5)
    q = (x * s).round().clamp(-128, 127)
    return q, s


def act_quant_ste(x: torch.Tensor) -> torch.Tensor:
    q, s = act_quant_int(x.detach())
    return x + (q / s - x).detach()


def weight_scale(w: torch.Tensor) -> torch.Tensor:
    """absmean: mean|w| (clamped to 1e-5), the per-tensor scale written into I2_S."""
    return w.abs().mean().clamp(min=1e-5)


def weight_ternary(w: torch.Tensor):
    """(ternary values in {-1,0,1} as float, scale): w ~ t * scale."""
    s = weight_scale(w)
    return (w / s).round().clamp(-1, 1), s


def weight_quant_ste(w: torch.Tensor) -> torch.Tensor:
    t, s = weight_ternary(w.detach())
    return w + (t * s - w).detach()


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def rope_tables(head_dim: int, n_pos: int, base: float, device=None):
    """cos / sin of shape (n_pos, head_dim) for NEOX rotation, computed in f64 as tern does."""
    i = torch.arange(head_dim // 2, dtype=torch.float64)
    inv = base ** (-2.0 * i / head_dim)
    pos = torch.arange(n_pos, dtype=torch.float64)
    ang = pos[:, None] * inv[None, :]
    ang = torch.cat([ang, ang], dim=-1)
    return ang.cos().float().to(device), ang.sin().float().to(device)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def apply_rope(x, cos, sin):
    # x: (B, H, T, D); cos/sin: (T, D)
    return x * cos + rotate_half(x) * sin


# --------------------------------------------------------------------------- training model


class BitLinear(nn.Linear):
    """Linear with QAT weights; the input is quantized by the caller (shared by Q/K/V and
    gate/up, as in tern where one quantized batch feeds several projections)."""

    def __init__(self, fan_in, fan_out):
        super().__init__(fan_in, fan_out, bias=False)

    def forward(self, xq):
        return F.linear(xq, weight_quant_ste(self.weight))


class Block(nn.Module):
    def __init__(self, cfg: gb.BitNetConfig):
        super().__init__()
        c = cfg
        self.c = c
        self.attn_norm = nn.Parameter(torch.ones(c.dim))
        self.attn_q = BitLinear(c.dim, c.dim)
        self.attn_k = BitLinear(c.dim, c.kv_dim)
        self.attn_v = BitLinear(c.dim, c.kv_dim)
        self.attn_sub_norm = nn.Parameter(torch.ones(c.dim))
        self.attn_output = BitLinear(c.dim, c.dim)
        self.ffn_norm = nn.Parameter(torch.ones(c.dim))
        self.ffn_gate = BitLinear(c.dim, c.ffn_dim)
        self.ffn_up = BitLinear(c.dim, c.ffn_dim)
        self.ffn_sub_norm = nn.Parameter(torch.ones(c.ffn_dim))
        self.ffn_down = BitLinear(c.ffn_dim, c.dim)

    def forward(self, x, cos, sin):
        c = self.c
        B, T, _ = x.shape
        hq = act_quant_ste(rms_norm(x, self.attn_norm, c.rms_eps))
        q = self.attn_q(hq).view(B, T, c.n_heads, c.head_dim).transpose(1, 2)
        k = self.attn_k(hq).view(B, T, c.n_kv_heads, c.head_dim).transpose(1, 2)
        v = self.attn_v(hq).view(B, T, c.n_kv_heads, c.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        group = c.n_heads // c.n_kv_heads
        if group > 1:
            k = k.repeat_interleave(group, dim=1)
            v = v.repeat_interleave(group, dim=1)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        a = a.transpose(1, 2).reshape(B, T, c.dim)
        x = x + self.attn_output(act_quant_ste(rms_norm(a, self.attn_sub_norm, c.rms_eps)))
        hq = act_quant_ste(rms_norm(x, self.ffn_norm, c.rms_eps))
        f = F.relu(self.ffn_gate(hq)).square() * self.ffn_up(hq)
        x = x + self.ffn_down(act_quant_ste(rms_norm(f, self.ffn_sub_norm, c.rms_eps)))
        return x


class BitNetLM(nn.Module):
    def __init__(self, cfg: gb.BitNetConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layers)])
        self.output_norm = nn.Parameter(torch.ones(cfg.dim))
        cos, sin = rope_tables(cfg.head_dim, cfg.context_length, cfg.rope_base)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self.reset_parameters()

    def reset_parameters(self):
        nn.init.normal_(self.embed.weight, std=0.02)
        for b in self.blocks:
            for m in b.modules():
                if isinstance(m, BitLinear):
                    nn.init.normal_(m.weight, std=0.02)

    def forward(self, ids):
        T = ids.shape[1]
        x = self.embed(ids)
        cos, sin = self.cos[:T], self.sin[:T]
        for b in self.blocks:
            x = b(x, cos, sin)
        x = rms_norm(x, self.output_norm, self.cfg.rms_eps)
        return F.linear(x, self.embed.weight)

    def export_layers(self):
        """Per-layer dicts for gguf_bitnet.write_bitnet_gguf: norms as numpy, projections
        as (ternary int8, absmean scale)."""
        out = []
        for b in self.blocks:
            d = {}
            for name in ("attn_norm", "attn_sub_norm", "ffn_norm", "ffn_sub_norm"):
                d[name] = getattr(b, name).detach().float().numpy()
            for name in gb.PROJECTIONS:
                t, s = weight_ternary(getattr(b, name).weight.detach().float())
                d[name] = (t.to(torch.int8).numpy(), float(s))
            out.append(d)
        return out


# --------------------------------------------------------------------------- GGUF inference


class GgufBitNet:
    """Forward pass from an exported GGUF's tensors, mirroring tern's arithmetic."""

    def __init__(self, path_or_bytes):
        md, tensors = gb.read_gguf(path_or_bytes)
        a = md["general.architecture"]
        g = lambda k, d=None: md.get(f"{a}.{k}", d)  # noqa: E731
        self.cfg = gb.BitNetConfig(
            n_layers=g("block_count"), dim=g("embedding_length"), ffn_dim=g("feed_forward_length"),
            n_heads=g("attention.head_count"), n_kv_heads=g("attention.head_count_kv", g("attention.head_count")),
            vocab_size=g("vocab_size"), context_length=g("context_length"),
            rms_eps=g("attention.layer_norm_rms_epsilon", 1e-5), rope_base=g("rope.freq_base", 10000.0),
            hidden_act=g("hidden_act", "relu2"),
        )
        self.md = md

        def dense(name):
            return torch.from_numpy(gb.tensor_to_numpy(*tensors[name]).copy())

        def tern(name):
            shape, ty, data = tensors[name]
            assert ty == gb.GGML_I2_S, name
            v, s = gb.unpack_i2s(data, int(np.prod(shape)))
            return torch.from_numpy(v.astype(np.float32).reshape(shape[1], shape[0])), float(s)

        self.embd = dense("token_embd.weight")
        self.output_norm = dense("output_norm.weight")
        self.head = dense("output.weight") if "output.weight" in tensors else self.embd
        self.layers = []
        for i in range(self.cfg.n_layers):
            L = {}
            for n in ("attn_norm", "attn_sub_norm", "ffn_norm", "ffn_sub_norm"):
                L[n] = dense(f"blk.{i}.{n}.weight")
            for n in gb.PROJECTIONS:
                L[n] = tern(f"blk.{i}.{n}.weight")
            self.layers.append(L)

    def _quant(self, x):
        """act_quant_int, recording how close any x * s_x came to a rounding tie
        (|frac - 1/2| relative to max(1, |x * s_x|)): below ~1e-6 another float summation
        order may round the other way, and one flipped int8 value visibly moves the logits."""
        q, s = act_quant_int(x)
        v = (x * s).abs()
        m = ((v - v.floor() - 0.5).abs() / v.clamp(min=1.0)).min()
        self.min_tie_margin = min(self.min_tie_margin, float(m))
        return q, s

    @staticmethod
    def _proj(xq, s_x, w):
        t, s_w = w
        dot = F.linear(xq, t)  # integers, exact in f32 (|sum| < 2^24)
        return dot / s_x * s_w

    @torch.no_grad()
    def forward_all(self, ids, return_hidden=False):
        """Logits (T, vocab) for every position of one sequence `ids` (list or 1-D tensor),
        starting at position 0. With return_hidden, also a dict of intermediate tensors."""
        c = self.cfg
        ids = torch.as_tensor(ids, dtype=torch.long)
        T = ids.numel()
        self.min_tie_margin = float("inf")
        x = self.embd[ids]
        cos, sin = rope_tables(c.head_dim, T, c.rope_base)
        hid = {"embd": x.clone()}
        group = c.n_heads // c.n_kv_heads
        for li, L in enumerate(self.layers):
            hq, s = self._quant(rms_norm(x, L["attn_norm"], c.rms_eps))
            q = self._proj(hq, s, L["attn_q"]).view(T, c.n_heads, c.head_dim).transpose(0, 1)
            k = self._proj(hq, s, L["attn_k"]).view(T, c.n_kv_heads, c.head_dim).transpose(0, 1)
            v = self._proj(hq, s, L["attn_v"]).view(T, c.n_kv_heads, c.head_dim).transpose(0, 1)
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
            k = k.repeat_interleave(group, dim=0)
            v = v.repeat_interleave(group, dim=0)
            sc = (q @ k.transpose(1, 2)) * (1.0 / math.sqrt(c.head_dim))
            mask = torch.ones(T, T, dtype=torch.bool).triu(1)
            sc = sc.masked_fill(mask, float("-inf")).softmax(-1)
            a = (sc @ v).transpose(0, 1).reshape(T, c.dim)
            aq, s = self._quant(rms_norm(a, L["attn_sub_norm"], c.rms_eps))
            x = x + self._proj(aq, s, L["attn_output"])
            hid[f"blk.{li}.attn_out"] = x.clone()
            hq, s = self._quant(rms_norm(x, L["ffn_norm"], c.rms_eps))
            gate = self._proj(hq, s, L["ffn_gate"])
            up = self._proj(hq, s, L["ffn_up"])
            if c.hidden_act == "relu2":
                f = F.relu(gate).square() * up
            else:
                f = F.silu(gate) * up
            fq, s = self._quant(rms_norm(f, L["ffn_sub_norm"], c.rms_eps))
            x = x + self._proj(fq, s, L["ffn_down"])
            hid[f"blk.{li}.ffn_out"] = x.clone()
        x = rms_norm(x, self.output_norm, c.rms_eps)
        logits = x @ self.head.T
        return (logits, hid) if return_hidden else logits

    def greedy(self, prompt, n):
        """Greedy continuation (ties: lowest id, as tern's argmax)."""
        seq = list(prompt)
        out = []
        for _ in range(n):
            logits = self.forward_all(seq)[-1]
            nxt = int(torch.argmax(logits))  # torch.argmax returns the first maximal index
            out.append(nxt)
            seq.append(nxt)
        return out

    def nll_windows(self, ids, window):
        """The documented held-out procedure: split `ids` into consecutive non-overlapping
        windows of `window` tokens (the last one may be shorter; a last window of one token
        is dropped), run each window from position 0 with an empty cache, and average
        -log softmax(logits[t])[ids[t+1]] over every predicted token (positions 1.. of each
        window). Returns (mean NLL in nats, number of predicted tokens)."""
        total, count = 0.0, 0
        for start in range(0, len(ids), window):
            w = ids[start:start + window]
            if len(w) < 2:
                continue
            logits = self.forward_all(w).double()
            lp = torch.log_softmax(logits[:-1], dim=-1)
            tgt = torch.as_tensor(w[1:], dtype=torch.long)
            total += float(-lp.gather(1, tgt[:, None]).sum())
            count += len(w) - 1
        return total / count, count
