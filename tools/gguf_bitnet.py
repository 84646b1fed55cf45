"""A small, self-contained GGUF v3 writer (and reader) for BitNet b1.58 models exactly
as tern loads them (`inference/src/model/{config,weights}.rs`).

Needs only numpy (no `gguf` package). Used by `tools/reference/make_fixture.py` and
`tools/train/train.py`.

File layout (GGUF v3, little-endian): magic "GGUF", version 3, tensor count (u64),
metadata count (u64), the metadata pairs, the tensor infos (name, n_dims, dims innermost
first, ggml type id, offset relative to the data section), zero padding to the
alignment (32), then each tensor's bytes, each padded to the alignment.

Tensor types written:

- F32 (ggml id 0), F16 (id 1): plain little-endian arrays, row-major.
- I2_S (id 36, bitnet.cpp's x86 layout, see `kernels/src/formats/i2s.rs`): the tensor
  flattened row-major (one row per output feature, its K inputs contiguous); every 128
  consecutive values become 32 bytes, byte j holding v[j] in bits 7-6, v[j+32] in bits
  5-4, v[j+64] in bits 3-2, v[j+96] in bits 1-0; codes 0 = -1, 1 = 0, 2 = +1. After the
  n/4 packed bytes: one f32 scale for the whole tensor (weight = value * scale), then zero
  padding to a total of n/4 + 32 bytes.

Metadata (arch `bitnet-b1.58`, every key `ModelConfig::from_gguf` reads):
`{arch}.block_count`, `.embedding_length`, `.feed_forward_length`,
`.attention.head_count`, `.attention.head_count_kv`,
`.attention.layer_norm_rms_epsilon`, `.rope.freq_base`, `.rope.dimension_count`,
`.context_length`, `.vocab_size`, `.hidden_act`, plus `general.architecture`,
`general.name`, `general.alignment` and optionally gpt2-style tokenizer metadata
(llama.cpp's conventions, `convert_hf_to_gguf.py` `get_vocab_base` / `gguf.SpecialVocab`):
`tokenizer.ggml.model` = "gpt2", `tokenizer.ggml.pre`, `tokenizer.ggml.tokens` (the
byte-level strings, id order), `tokenizer.ggml.token_type` (i32: 1 normal, 3 control,
4 user-defined), `tokenizer.ggml.merges` ("left right" strings, rank order),
`tokenizer.ggml.bos_token_id`, `tokenizer.ggml.eos_token_id` (u32),
`tokenizer.ggml.add_bos_token` (bool), optional `tokenizer.chat_template`.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field

import numpy as np

GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3
DEFAULT_ALIGNMENT = 32

# ggml tensor type ids
GGML_F32 = 0
GGML_F16 = 1
GGML_I2_S = 36

# GGUF metadata value type ids
T_UINT8, T_INT8, T_UINT16, T_INT16, T_UINT32, T_INT32, T_FLOAT32, T_BOOL = range(8)
T_STRING, T_ARRAY, T_UINT64, T_INT64, T_FLOAT64 = 8, 9, 10, 11, 12

_SCALAR_FMT = {
    T_UINT8: "<B",
    T_INT8: "<b",
    T_UINT16: "<H",
    T_INT16: "<h",
    T_UINT32: "<I",
    T_INT32: "<i",
    T_FLOAT32: "<f",
    T_BOOL: "<?",
    T_UINT64: "<Q",
    T_INT64: "<q",
    T_FLOAT64: "<d",
}

# llama.cpp token types
TOKEN_NORMAL, TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_USER_DEFINED, TOKEN_UNUSED, TOKEN_BYTE = 1, 2, 3, 4, 5, 6

I2S_BLOCK_VALUES = 128
I2S_BLOCK_BYTES = 32
I2S_TRAILER_BYTES = 32

ARCH = "bitnet-b1.58"


# --------------------------------------------------------------------------- I2_S


def i2s_packed_size(n: int) -> int:
    """Bytes of an I2_S tensor of n values: n / 4 + 32 (n a multiple of 128)."""
    if n % I2S_BLOCK_VALUES:
        raise ValueError(f"I2_S needs a multiple of 128 values, got {n}")
    return n // 4 + I2S_TRAILER_BYTES


def pack_i2s(values: np.ndarray, scale: float) -> bytes:
    """Packs ternary values (any shape, flattened row-major; each -1, 0 or 1) and one
    per-tensor scale into I2_S bytes."""
    v = np.ascontiguousarray(values).reshape(-1).astype(np.int64)
    n = v.size
    size = i2s_packed_size(n)
    if not np.all((v >= -1) & (v <= 1)):
        raise ValueError("I2_S values must be -1, 0 or 1")
    scale = np.float32(scale)
    if not np.isfinite(scale):
        raise ValueError(f"I2_S scale {scale} is not finite")
    codes = (v + 1).astype(np.uint8).reshape(-1, 4, 32)  # [group, k, j] = v[128 g + 32 k + j]
    packed = (codes[:, 0] << 6) | (codes[:, 1] << 4) | (codes[:, 2] << 2) | codes[:, 3]
    out = bytearray(size)
    out[: n // 4] = packed.astype(np.uint8).reshape(-1).tobytes()
    out[n // 4 : n // 4 + 4] = struct.pack("<f", float(scale))
    return bytes(out)


def unpack_i2s(data: bytes, n: int) -> tuple[np.ndarray, float]:
    """Inverse of pack_i2s: (values int8 of n, scale)."""
    if len(data) != i2s_packed_size(n):
        raise ValueError(f"I2_S of {n} values takes {i2s_packed_size(n)} bytes, got {len(data)}")
    b = np.frombuffer(data[: n // 4], dtype=np.uint8).reshape(-1, 32)
    codes = np.stack([(b >> 6) & 3, (b >> 4) & 3, (b >> 2) & 3, b & 3], axis=1)  # [g, k, j]
    if np.any(codes == 3):
        raise ValueError("I2_S code 3")
    (scale,) = struct.unpack("<f", data[n // 4 : n // 4 + 4])
    return codes.reshape(-1).astype(np.int8) - 1, scale


def absmean_ternary(w: np.ndarray, eps: float = 1e-5) -> tuple[np.ndarray, float]:
    """BitNet b1.58 weight quantization: s = max(mean|w|, eps) (f32),
    q = clip(round_half_even(w / s), -1, 1); w ~ q * s. Returns (q int8, s)."""
    w = np.asarray(w, dtype=np.float32)
    s = np.float32(max(np.float32(np.abs(w).mean(dtype=np.float64)), np.float32(eps)))
    q = np.clip(np.round(w / s), -1, 1).astype(np.int8)
    return q, float(s)


# --------------------------------------------------------------------------- writer


@dataclass
class _Tensor:
    name: str
    shape: tuple  # ggml order, innermost first
    type_id: int
    data: bytes


@dataclass
class GGUFWriter:
    alignment: int = DEFAULT_ALIGNMENT
    metadata: list = field(default_factory=list)  # (key, type_id, value, elem_type)
    tensors: list = field(default_factory=list)

    def __post_init__(self):
        self._keys: set = set()
        self._names: set = set()
        if self.alignment != DEFAULT_ALIGNMENT:
            self.add_uint32("general.alignment", self.alignment)

    # metadata -----------------------------------------------------------------
    def _add(self, key, type_id, value, elem_type=None):
        if key in self._keys:
            raise ValueError(f"duplicate metadata key {key!r}")
        self._keys.add(key)
        self.metadata.append((key, type_id, value, elem_type))

    def add_uint32(self, key, v):
        self._add(key, T_UINT32, int(v))

    def add_int32(self, key, v):
        self._add(key, T_INT32, int(v))

    def add_float32(self, key, v):
        self._add(key, T_FLOAT32, float(v))

    def add_bool(self, key, v):
        self._add(key, T_BOOL, bool(v))

    def add_string(self, key, v):
        self._add(key, T_STRING, str(v))

    def add_array(self, key, values, elem_type):
        self._add(key, T_ARRAY, list(values), elem_type)

    # tensors ------------------------------------------------------------------
    def add_tensor_bytes(self, name, shape, type_id, data: bytes):
        """Raw tensor: `shape` innermost first (ggml ne0 first)."""
        if name in self._names:
            raise ValueError(f"duplicate tensor {name!r}")
        if len(name.encode()) > 63:
            raise ValueError(f"tensor name {name!r} longer than 63 bytes")
        n = int(np.prod(shape, dtype=np.int64)) if len(shape) else 1
        want = {GGML_F32: 4 * n, GGML_F16: 2 * n}.get(type_id)
        if type_id == GGML_I2_S:
            want = i2s_packed_size(n)
        if want is not None and want != len(data):
            raise ValueError(f"tensor {name!r}: type {type_id} shape {shape} takes {want} bytes, got {len(data)}")
        self._names.add(name)
        self.tensors.append(_Tensor(name, tuple(int(d) for d in shape), type_id, bytes(data)))

    def add_f32(self, name, array: np.ndarray):
        """A dense tensor in F32; numpy shape (rows, cols) becomes ggml [cols, rows]."""
        a = np.ascontiguousarray(array, dtype="<f4")
        self.add_tensor_bytes(name, a.shape[::-1], GGML_F32, a.tobytes())

    def add_f16(self, name, array: np.ndarray):
        a = np.ascontiguousarray(np.asarray(array, dtype=np.float32).astype("<f2"))
        self.add_tensor_bytes(name, a.shape[::-1], GGML_F16, a.tobytes())

    def add_i2s(self, name, ternary: np.ndarray, scale: float):
        """A ternary (rows, cols) matrix with one per-tensor scale, ggml [cols, rows]."""
        t = np.asarray(ternary)
        self.add_tensor_bytes(name, t.shape[::-1], GGML_I2_S, pack_i2s(t, scale))

    # output -------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        out = bytearray()
        out += GGUF_MAGIC
        out += struct.pack("<IQQ", GGUF_VERSION, len(self.tensors), len(self.metadata))
        for key, type_id, value, elem_type in self.metadata:
            _put_str(out, key)
            out += struct.pack("<I", type_id)
            if type_id == T_ARRAY:
                out += struct.pack("<IQ", elem_type, len(value))
                for v in value:
                    _put_value(out, elem_type, v)
            else:
                _put_value(out, type_id, value)
        offset = 0
        for t in self.tensors:
            _put_str(out, t.name)
            out += struct.pack("<I", len(t.shape))
            for d in t.shape:
                out += struct.pack("<Q", d)
            out += struct.pack("<IQ", t.type_id, offset)
            offset = _align(offset + len(t.data), self.alignment)
        out += b"\0" * (_align(len(out), self.alignment) - len(out))
        for t in self.tensors:
            out += t.data
            out += b"\0" * (_align(len(out), self.alignment) - len(out))
        return bytes(out)

    def write(self, path):
        data = self.to_bytes()
        with open(path, "wb") as f:
            f.write(data)
        return len(data)


def _align(n, a):
    return (n + a - 1) // a * a


def _put_str(out, s):
    b = s.encode("utf-8")
    out += struct.pack("<Q", len(b))
    out += b


def _put_value(out, type_id, v):
    if type_id == T_STRING:
        _put_str(out, v)
    elif type_id in _SCALAR_FMT:
        out += struct.pack(_SCALAR_FMT[type_id], v)
    else:
        raise ValueError(f"unsupported value type {type_id}")


# --------------------------------------------------------------------------- reader


def read_gguf(path_or_bytes):
    """Minimal reader for round-trip checks: (metadata dict, {name: (shape, type_id, bytes)})."""
    if isinstance(path_or_bytes, (bytes, bytearray)):
        buf = bytes(path_or_bytes)
    else:
        with open(path_or_bytes, "rb") as f:
            buf = f.read()
    pos = 0

    def take(fmt):
        nonlocal pos
        vals = struct.unpack_from(fmt, buf, pos)
        pos += struct.calcsize(fmt)
        return vals if len(vals) > 1 else vals[0]

    def string():
        nonlocal pos
        n = take("<Q")
        s = buf[pos : pos + n].decode("utf-8")
        pos += n
        return s

    def value(t):
        if t == T_STRING:
            return string()
        if t == T_ARRAY:
            et, n = take("<IQ")
            return [value(et) for _ in range(n)]
        return take(_SCALAR_FMT[t])

    assert buf[:4] == GGUF_MAGIC, "not a GGUF file"
    pos = 4
    version, n_tensors, n_kv = take("<IQQ")
    assert version in (2, 3)
    md = {}
    for _ in range(n_kv):
        k = string()
        md[k] = value(take("<I"))
    infos = []
    for _ in range(n_tensors):
        name = string()
        nd = take("<I")
        shape = [take("<Q") for _ in range(nd)]
        ty, off = take("<IQ")
        infos.append((name, shape, ty, off))
    align = md.get("general.alignment", DEFAULT_ALIGNMENT)
    base = _align(pos, align)
    ends = sorted({off for _, _, _, off in infos} | {len(buf) - base})
    tensors = {}
    for name, shape, ty, off in infos:
        n = int(np.prod(shape, dtype=np.int64))
        size = {GGML_F32: 4 * n, GGML_F16: 2 * n, GGML_I2_S: n // 4 + 32}.get(ty)
        if size is None:
            size = ends[ends.index(off) + 1] - off
        tensors[name] = (shape, ty, buf[base + off : base + off + size])
    return md, tensors


def tensor_to_numpy(shape, type_id, data):
    """Dense / I2_S tensor bytes to a float32 numpy array of numpy shape shape[::-1]."""
    n = int(np.prod(shape, dtype=np.int64))
    if type_id == GGML_F32:
        a = np.frombuffer(data, dtype="<f4").astype(np.float32)
    elif type_id == GGML_F16:
        a = np.frombuffer(data, dtype="<f2").astype(np.float32)
    elif type_id == GGML_I2_S:
        v, s = unpack_i2s(data, n)
        a = v.astype(np.float32) * np.float32(s)
    else:
        raise ValueError(f"type {type_id} not supported here")
    return a.reshape(tuple(shape[::-1]))


# --------------------------------------------------------------------------- tokenizer


def tokenizer_metadata(tokenizer_json: str | dict, pre: str = "gpt-2", bos: str | None = None,
                       eos: str | None = None, add_bos: bool = False, chat_template: str | None = None):
    """gpt2-style tokenizer metadata from a HF `tokenizers` BPE `tokenizer.json` (its text,
    or the parsed dict). Returns a list of (key, kind, value[, elem]) for write_tokenizer.

    Tokens are listed in id order (ids must be dense 0..n-1); added tokens marked
    `special` are CONTROL (3), other added tokens USER_DEFINED (4), the rest NORMAL (1),
    as llama.cpp's converter does."""
    tj = json.loads(tokenizer_json) if isinstance(tokenizer_json, str) else tokenizer_json
    model = tj["model"]
    if model["type"] != "BPE":
        raise ValueError(f"tokenizer model {model['type']} is not BPE")
    vocab = dict(model["vocab"])
    added = {t["content"]: t for t in tj.get("added_tokens", [])}
    for t in added.values():
        vocab[t["content"]] = t["id"]
    n = max(vocab.values()) + 1
    tokens = [None] * n
    for s, i in vocab.items():
        tokens[i] = s
    if any(t is None for t in tokens):
        raise ValueError("token ids are not dense")
    types = []
    for s in tokens:
        if s in added:
            types.append(TOKEN_CONTROL if added[s].get("special") else TOKEN_USER_DEFINED)
        else:
            types.append(TOKEN_NORMAL)
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    items = [
        ("tokenizer.ggml.model", "string", "gpt2"),
        ("tokenizer.ggml.pre", "string", pre),
        ("tokenizer.ggml.tokens", "array", tokens, T_STRING),
        ("tokenizer.ggml.token_type", "array", types, T_INT32),
        ("tokenizer.ggml.merges", "array", merges, T_STRING),
    ]
    if bos is not None:
        items.append(("tokenizer.ggml.bos_token_id", "uint32", vocab[bos]))
    if eos is not None:
        items.append(("tokenizer.ggml.eos_token_id", "uint32", vocab[eos]))
    items.append(("tokenizer.ggml.add_bos_token", "bool", bool(add_bos)))
    if chat_template is not None:
        items.append(("tokenizer.chat_template", "string", chat_template))
    return items


def write_tokenizer(w: GGUFWriter, items):
    for it in items:
        key, kind, value = it[0], it[1], it[2]
        if kind == "array":
            w.add_array(key, value, it[3])
        else:
            getattr(w, "add_" + kind)(key, value)


# --------------------------------------------------------------------------- model


@dataclass
class BitNetConfig:
    n_layers: int
    dim: int
    ffn_dim: int
    n_heads: int
    n_kv_heads: int
    vocab_size: int
    context_length: int
    rms_eps: float = 1e-5
    rope_base: float = 10000.0
    hidden_act: str = "relu2"
    name: str = "BitNet b1.58"

    @property
    def head_dim(self):
        return self.dim // self.n_heads

    @property
    def kv_dim(self):
        return self.n_kv_heads * self.head_dim


# HF BitNetForCausalLM name -> GGUF name (suffix after "model.layers.N.")
HF_LAYER_NAMES = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.attn_sub_norm.weight": "attn_sub_norm.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.ffn_sub_norm.weight": "ffn_sub_norm.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}
PROJECTIONS = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")


def write_bitnet_gguf(path, cfg: BitNetConfig, embedding: np.ndarray, output_norm: np.ndarray, layers,
                      output: np.ndarray | None = None, embd_type: str = "f16", tokenizer=None,
                      extra_metadata=None) -> int:
    """Writes a BitNet b1.58 GGUF as tern loads it. Returns the file size.

    embedding: (vocab, dim) float; output: (vocab, dim) or None (tied).
    layers: list of dicts keyed by GGUF suffix ("attn_norm", "attn_q", ...): norms are
    float vectors (written F32); projections are (ternary int8 (rows, cols), scale)
    pairs (written I2_S, weight = ternary * scale).
    tokenizer: items from tokenizer_metadata, or None.
    extra_metadata: list of (key, kind, value[, elem]) as tokenizer items.
    """
    c = cfg
    w = GGUFWriter()
    w.add_string("general.architecture", ARCH)
    w.add_string("general.name", c.name)
    w.add_uint32("general.alignment", DEFAULT_ALIGNMENT)
    a = ARCH
    for k, v in [
        ("block_count", c.n_layers),
        ("context_length", c.context_length),
        ("embedding_length", c.dim),
        ("feed_forward_length", c.ffn_dim),
        ("attention.head_count", c.n_heads),
        ("attention.head_count_kv", c.n_kv_heads),
        ("rope.dimension_count", c.head_dim),
        ("vocab_size", c.vocab_size),
    ]:
        w.add_uint32(f"{a}.{k}", v)
    w.add_float32(f"{a}.attention.layer_norm_rms_epsilon", c.rms_eps)
    w.add_float32(f"{a}.rope.freq_base", c.rope_base)
    w.add_string(f"{a}.hidden_act", c.hidden_act)
    if tokenizer is not None:
        write_tokenizer(w, tokenizer)
    if extra_metadata:
        write_tokenizer(w, extra_metadata)

    shapes = {
        "attn_q": (c.dim, c.dim),
        "attn_k": (c.kv_dim, c.dim),
        "attn_v": (c.kv_dim, c.dim),
        "attn_output": (c.dim, c.dim),
        "ffn_gate": (c.ffn_dim, c.dim),
        "ffn_up": (c.ffn_dim, c.dim),
        "ffn_down": (c.dim, c.ffn_dim),
    }
    norms = {"attn_norm": c.dim, "attn_sub_norm": c.dim, "ffn_norm": c.dim, "ffn_sub_norm": c.ffn_dim}

    dense = {"f16": w.add_f16, "f32": w.add_f32}[embd_type]
    emb = np.asarray(embedding, dtype=np.float32)
    assert emb.shape == (c.vocab_size, c.dim), emb.shape
    dense("token_embd.weight", emb)
    w.add_f32("output_norm.weight", np.asarray(output_norm, dtype=np.float32).reshape(c.dim))
    if output is not None:
        out = np.asarray(output, dtype=np.float32)
        assert out.shape == (c.vocab_size, c.dim), out.shape
        dense("output.weight", out)
    assert len(layers) == c.n_layers
    for i, layer in enumerate(layers):
        for key in ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_sub_norm", "attn_output",
                    "ffn_norm", "ffn_gate", "ffn_up", "ffn_sub_norm", "ffn_down"):
            name = f"blk.{i}.{key}.weight"
            if key in norms:
                v = np.asarray(layer[key], dtype=np.float32).reshape(-1)
                assert v.size == norms[key], (name, v.shape)
                w.add_f32(name, v)
            else:
                q, s = layer[key]
                q = np.asarray(q)
                assert q.shape == shapes[key], (name, q.shape, shapes[key])
                w.add_i2s(name, q, s)
    return w.write(path)
