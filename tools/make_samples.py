#!/usr/bin/env python3
r"""Generate attnscope's real-attention sample data from two tiny llama2.c checkpoints.

The library's examples, tests and figure scripts need attention tensors from trained
models (previous-token heads, BOS-attending heads, diffuse heads), not random numbers.
This tool runs two ~260K-parameter Llama-architecture checkpoints (llama2.c legacy
format, see ``/work/shared/models/README.md``) in float64 with numpy and writes their
attention probabilities to ``examples/data/``. It is deterministic: the same inputs give
the same files, and ``--check`` verifies that the committed files are reproducible.

Usage (from the repository root; needs numpy, i.e. ``/usr/bin/python3`` on Debian)::

    /usr/bin/python3 tools/make_samples.py             # regenerate examples/data/ in place
    /usr/bin/python3 tools/make_samples.py --check     # 0 same, 1 differs, 77 models missing
    /usr/bin/python3 tools/make_samples.py --report    # also print per-head statistics
    /usr/bin/python3 tools/make_samples.py --models DIR --out DIR

Models
    aidreams260K (4 layers, 4 heads, context 128) with its tokenizer tok512.bin: its greedy
    text is fluent in its own domain (poetic machine "dreams": "Echoes of vectors unfold,
    a gentle hum of precision, ..."). stories260K (5 layers, 8 query heads sharing 4 kv
    heads, context 512) comes without a tokenizer; tok512.bin is not its vocabulary
    (decoding its greedy ids with it gives gibberish), so its tokens are labeled by id:
    ``[461]``; ids 0..258 are the same in every llama2.c sentencepiece vocabulary and keep
    their names (``<s>``, ``</s>``, ``\n`` for byte 0x0A, ``<0x1B>``).

Forward pass
    pre-RMSNorm (eps 1e-5); q, k, v; RoPE on adjacent pairs (2i, 2i+1) of every head with
    angle pos * 10000^(-2i/head_size) (checked against the tables stored in the file);
    causal softmax(q k^T / sqrt(head_size)), query head h reading kv head
    h // (n_heads / n_kv_heads); wo and residual; RMSNorm, w2(silu(w1 x) * w3 x), residual;
    final RMSNorm and the (tied) classifier. Sparse runs: each attention row keeps its
    top-k weights (ties to the lower key index), renormalized, and the layer output is
    computed from those sparse weights, so later layers see a genuinely sparse model.

Output files (all arrays float32, little-endian, C order, written by numpy.save)
    <model>/<prompt>.npy    attention [layer, head, query, key]; causal, so every entry
                            above the diagonal is exactly 0 and every row sums to 1.
    <model>/<prompt>.json   metadata, see below.
    index.json              list of {model, prompt_name, task, figure: [seed ids], npy, json,
                            shape, sparse_topk}, paths relative to examples/data.
    seed001_tasks.json      {task: [npy, ...]}: the seed 001 prompts grouped by task, the
                            manifest of `attnscope aggregate --manifest` (paths relative to it).
    sample.npy              the command-line tool's bundled sample: aidreams260K/story_1
                            (48 tokens), [layer, head, query, key];
    sample.tokens.json      its token strings (a JSON list);
    sample_batch.npy        [batch=2, layer, head, query, key]: story_1 and the shorter
                            story_3 (32 tokens), right-padded with zero rows and columns;
    sample_batch.json       {model, shape, axes, key_lengths, padding, prompt_names,
                            sources, token_ids, tokens}.

Per-prompt JSON fields
    model, n_layers, n_heads, n_kv_heads, head_size; prompt_name, task, figures (seed ids
    "000".."004"), description; shape, dtype ("float32"), axes; sparse_topk (k or null);
    tokenizer ("tok512.bin" or null); text (the prompt text given to the tokenizer, or null
    when the prompt was assembled from ids); n_prompt_tokens (tokens given; later tokens
    were generated greedily by the model); token_ids; tokens (display strings: the decoded
    piece with its leading space, "<s>" for BOS, control bytes as "\n" or "<0xNN>");
    greedy_next_ids (the model's arg-max prediction after every position); anchors (name ->
    token index, always "bos": 0). Task-specific extras: question, answer, exact_answer,
    exact_answer_definition, anchor_definitions (question_answer); bos, dummy_tokens,
    prompt_parts (sink_dummy).

Prompt sets (figure seed ids)
    000 context_length   ctx16/ctx32/ctx64: each model's greedy text from BOS, cut to 16,
                         32 and 64 tokens (causal, so shorter ones are exact sub-blocks).
    001 layer x head     aidreams tasks of 24..48 tokens: story_1..3 (seed phrase + greedy
                         continuation), dialogue_1..3 (speaker turns + greedy reply),
                         repetition_1..3 (random token ids repeated twice; anchors
                         first_copy_start, second_copy_start), counting_1..3; plus the
                         question_answer prompts.
    002 answer slices    qa_*: a question and the model's 20-token greedy answer, anchors
                         last_q, first_answer, second_answer, exact_answer_before_first,
                         exact_answer_first, exact_answer_last. The exact answer is the
                         first clause of the answer: from the first answer token containing
                         a letter or digit up to the last token before the first clause break
                         (a token starting with . , ; : ! ? or containing a newline; a '.'
                         between two digit tokens is a decimal point).
    003 sink / dummy     dummy_tokens (both models): BOS, text, four newline byte tokens,
                         </s>, a mid-sequence <s> (llama2.c's document separator), more text;
                         "dummy_tokens" lists those six indices, "bos" is 0.
    004 gallery          ctx32 of both models dense, and aidreams ctx32_top4: the same ids
                         run as a top-4 sparse-attention model.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shutil
import struct
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

RMS_EPS = 1e-5
ROPE_THETA = 10000.0
DEFAULT_TOPK = 4

UNK_ID, BOS_ID, EOS_ID = 0, 1, 2
BYTE_BASE = 3  # ids 3..258 are the raw bytes 0x00..0xFF (sentencepiece byte fallback)


class FormatError(ValueError):
    """A checkpoint or tokenizer file does not have the expected layout."""


# --------------------------------------------------------------------------- tokenizer


class Tokenizer:
    """llama2.c tokenizer (``tokenizer.bin`` format): pieces with merge scores.

    Encoding follows llama2.c's ``encode``: a dummy-prefix space, one token per UTF-8
    code point (byte fallback for code points missing from the vocabulary), then repeated
    merging of the adjacent pair whose concatenation has the highest score.
    """

    def __init__(self, pieces: List[bytes], scores: List[float], max_token_length: int):
        if len(pieces) != len(scores):
            raise ValueError("pieces and scores must have the same length")
        self.pieces = pieces
        self.scores = scores
        self.max_token_length = max_token_length
        self._lookup: Dict[bytes, int] = {}
        for i, p in enumerate(pieces):
            self._lookup.setdefault(p, i)

    @classmethod
    def load(cls, path: Path, vocab_size: int) -> "Tokenizer":
        data = Path(path).read_bytes()
        if len(data) < 4:
            raise FormatError(f"{path}: {len(data)} bytes, too short for a tokenizer header")
        (max_len,) = struct.unpack_from("<i", data, 0)
        if not 0 < max_len <= 1024:
            raise FormatError(f"{path}: max_token_length {max_len} outside 1..1024")
        offset, pieces, scores = 4, [], []
        for i in range(vocab_size):
            if offset + 8 > len(data):
                raise FormatError(f"{path}: truncated at record {i} of {vocab_size} (offset {offset})")
            score, n = struct.unpack_from("<fi", data, offset)
            offset += 8
            if not 0 < n <= max_len or offset + n > len(data):
                raise FormatError(f"{path}: record {i} has byte length {n} at offset {offset - 4}, "
                                  f"expected 1..{max_len} within the file")
            pieces.append(data[offset:offset + n])
            scores.append(score)
            offset += n
        if offset != len(data):
            raise FormatError(f"{path}: {len(data) - offset} trailing bytes after {vocab_size} records")
        return cls(pieces, scores, max_len)

    def __len__(self) -> int:
        return len(self.pieces)

    def encode(self, text: str, bos: bool = True) -> List[int]:
        """Token ids of ``text`` (llama2.c ``encode`` with ``eos=0``)."""
        ids: List[int] = [BOS_ID] if bos else []
        if not text:
            return ids
        symbols: List[int] = [self._lookup[b" "]]  # dummy prefix, as sentencepiece does
        for ch in text:
            b = ch.encode("utf-8")
            if b in self._lookup:
                symbols.append(self._lookup[b])
            else:
                symbols.extend(BYTE_BASE + x for x in b)
        while True:
            best, best_i, best_id = -math.inf, -1, -1
            for i in range(len(symbols) - 1):
                merged = self.pieces[symbols[i]] + self.pieces[symbols[i + 1]]
                j = self._lookup.get(merged)
                if j is not None and self.scores[j] > best:
                    best, best_i, best_id = self.scores[j], i, j
            if best_i < 0:
                break
            symbols[best_i:best_i + 2] = [best_id]
        return ids + symbols

    def piece_bytes(self, token_id: int) -> bytes:
        """The bytes a token stands for (byte-fallback tokens decode to their byte)."""
        if BYTE_BASE <= token_id < BYTE_BASE + 256:
            return bytes([token_id - BYTE_BASE])
        if token_id in (UNK_ID, BOS_ID, EOS_ID):
            return b""
        return self.pieces[token_id]

    def decode(self, ids: Sequence[int]) -> str:
        """Text of a token sequence; like llama2.c, drops the leading space after BOS."""
        out, prev = bytearray(), None
        for t in ids:
            b = self.piece_bytes(t)
            if prev == BOS_ID and b.startswith(b" "):
                b = b[1:]
            out += b
            prev = t
        return out.decode("utf-8", errors="replace")

    def display(self, token_id: int) -> str:
        """A printable label for one token, for figure axes."""
        special = special_display(token_id)
        if special is not None:
            return special
        return printable(self.pieces[token_id].decode("utf-8", errors="replace"))


def special_display(token_id: int) -> Optional[str]:
    """Labels shared by every llama2.c sentencepiece vocabulary: specials and raw bytes."""
    if token_id == UNK_ID:
        return "<unk>"
    if token_id == BOS_ID:
        return "<s>"
    if token_id == EOS_ID:
        return "</s>"
    if BYTE_BASE <= token_id < BYTE_BASE + 256:
        return printable(chr(token_id - BYTE_BASE))
    return None


_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def printable(s: str) -> str:
    """``s`` with control characters shown as ``\\n``-style escapes or ``<0xNN>``."""
    out = []
    for ch in s:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0:
            out.append(f"<0x{ord(ch):02X}>")
        else:
            out.append(ch)
    return "".join(out)


def id_display(token_id: int) -> str:
    """Label for a model without a tokenizer: specials and bytes by name, else ``[id]``."""
    special = special_display(token_id)
    return special if special is not None else f"[{token_id}]"


# --------------------------------------------------------------------------- model


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The seven int32 header fields of a llama2.c legacy checkpoint."""

    dim: int
    hidden_dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    vocab_size: int
    seq_len: int
    shared_classifier: bool

    @property
    def head_size(self) -> int:
        return self.dim // self.n_heads

    @property
    def kv_dim(self) -> int:
        return self.n_kv_heads * self.head_size

    def validate(self, path: Path) -> None:
        fields = dataclasses.asdict(self)
        for name in ("dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"):
            if not 0 < fields[name] <= 1 << 20:
                raise FormatError(f"{path}: header field {name} = {fields[name]}, expected 1..2^20")
        if self.dim % self.n_heads:
            raise FormatError(f"{path}: dim {self.dim} is not a multiple of n_heads {self.n_heads}")
        if self.n_heads % self.n_kv_heads:
            raise FormatError(f"{path}: n_heads {self.n_heads} is not a multiple of n_kv_heads {self.n_kv_heads}")
        if self.head_size % 2:
            raise FormatError(f"{path}: head_size {self.head_size} is odd; RoPE rotates pairs")


@dataclasses.dataclass
class ForwardResult:
    """Attention probabilities [layer, head, query, key] (float64) and logits [query, vocab]."""

    attention: np.ndarray
    logits: np.ndarray
    queries: Optional[np.ndarray] = None  # post-RoPE [layer, head, token, head_size] (float64)
    keys: Optional[np.ndarray] = None     # post-RoPE [layer, kv_head, token, head_size] (float64)

    @property
    def greedy_next(self) -> List[int]:
        """The arg-max next token after every position (lowest id on ties)."""
        return [int(i) for i in np.argmax(self.logits, axis=-1)]


class Transformer:
    """A llama2.c legacy checkpoint, run in float64 over whole sequences."""

    HEADER = struct.Struct("<7i")

    def __init__(self, name: str, config: ModelConfig, weights: Dict[str, np.ndarray]):
        self.name = name
        self.config = config
        self.w = weights

    @classmethod
    def load(cls, path: Path, name: Optional[str] = None) -> "Transformer":
        path = Path(path)
        data = path.read_bytes()
        if len(data) < cls.HEADER.size:
            raise FormatError(f"{path}: {len(data)} bytes, too short for the 28-byte header")
        dim, hidden, n_layers, n_heads, n_kv, vocab, seq = cls.HEADER.unpack_from(data, 0)
        cfg = ModelConfig(dim, hidden, n_layers, n_heads, n_kv, abs(vocab), seq, shared_classifier=vocab > 0)
        cfg.validate(path)
        L, d, hd, kv, V, hs = n_layers, dim, hidden, cfg.kv_dim, cfg.vocab_size, cfg.head_size
        layout: List[Tuple[str, Tuple[int, ...]]] = [
            ("token_embedding", (V, d)), ("rms_att", (L, d)), ("wq", (L, d, d)), ("wk", (L, kv, d)),
            ("wv", (L, kv, d)), ("wo", (L, d, d)), ("rms_ffn", (L, d)), ("w1", (L, hd, d)),
            ("w2", (L, d, hd)), ("w3", (L, hd, d)), ("rms_final", (d,)),
            ("rope_cos", (seq, hs // 2)), ("rope_sin", (seq, hs // 2)),
        ]
        if not cfg.shared_classifier:
            layout.append(("classifier", (V, d)))
        expected = cls.HEADER.size + 4 * sum(int(np.prod(s)) for _, s in layout)
        if len(data) != expected:
            raise FormatError(f"{path}: file is {len(data)} bytes, but header {cfg} implies {expected} bytes")
        flat = np.frombuffer(data, dtype="<f4", offset=cls.HEADER.size)
        if not np.all(np.isfinite(flat)):
            raise FormatError(f"{path}: weights contain NaN or infinity")
        weights, offset = {}, 0
        for key, shape in layout:
            n = int(np.prod(shape))
            weights[key] = flat[offset:offset + n].astype(np.float64).reshape(shape)
            offset += n
        if cfg.shared_classifier:
            weights["classifier"] = weights["token_embedding"]
        model = cls(name or path.stem, cfg, weights)
        model._check_rope_tables(path)
        return model

    def _rope_angles(self, n: int) -> np.ndarray:
        """Rotation angle [position, pair] for pairs (2i, 2i+1): pos * theta^(-2i/head_size)."""
        hs = self.config.head_size
        freq = ROPE_THETA ** (-np.arange(0, hs, 2, dtype=np.float64) / hs)
        return np.arange(n, dtype=np.float64)[:, None] * freq[None, :]

    def _check_rope_tables(self, path: Path) -> None:
        # The stored tables are redundant; agreeing with them pins down the RoPE convention.
        angles = self._rope_angles(self.config.seq_len)
        for key, ref in (("rope_cos", np.cos(angles)), ("rope_sin", np.sin(angles))):
            err = float(np.max(np.abs(self.w[key] - ref)))
            if err > 1e-4:
                raise FormatError(f"{path}: stored {key} table differs from "
                                  f"cos/sin(pos * {ROPE_THETA:g}^(-2i/head_size)) by {err:.2g}")

    def _rope(self, x: np.ndarray, angles: np.ndarray) -> np.ndarray:
        """Rotate adjacent pairs of every head of x [T, n_heads_x * head_size]."""
        T, width = x.shape
        x = x.reshape(T, width // self.config.head_size, self.config.head_size // 2, 2)
        cos, sin = np.cos(angles)[:, None, :], np.sin(angles)[:, None, :]
        a, b = x[..., 0], x[..., 1]
        return np.stack([a * cos - b * sin, a * sin + b * cos], axis=-1).reshape(T, width)

    @staticmethod
    def _rmsnorm(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + RMS_EPS) * weight

    def forward(self, token_ids: Sequence[int], sparse_topk: Optional[int] = None) -> ForwardResult:
        """Run the model on ``token_ids`` (all positions at once, causal).

        With ``sparse_topk = k`` every attention row keeps only its k largest weights
        (ties go to the lower key index), renormalized to sum to one, and the layer's
        output is computed from those sparse weights: a genuinely sparse-attention run.
        """
        cfg, w = self.config, self.w
        ids = np.asarray(token_ids, dtype=np.int64)
        T = len(ids)
        if T == 0 or T > cfg.seq_len:
            raise ValueError(f"{self.name}: sequence length {T} outside 1..{cfg.seq_len}")
        if ids.min() < 0 or ids.max() >= cfg.vocab_size:
            raise ValueError(f"{self.name}: token ids must be in 0..{cfg.vocab_size - 1}, "
                             f"got {int(ids.min())}..{int(ids.max())}")
        if sparse_topk is not None and sparse_topk < 1:
            raise ValueError(f"sparse_topk must be >= 1, got {sparse_topk}")
        H, KV, hs = cfg.n_heads, cfg.n_kv_heads, cfg.head_size
        kv_of_head = np.arange(H) // (H // KV)
        angles = self._rope_angles(T)
        future = np.triu(np.ones((T, T), dtype=bool), k=1)
        x = w["token_embedding"][ids].copy()
        attention = np.empty((cfg.n_layers, H, T, T))
        queries = np.empty((cfg.n_layers, H, T, hs))
        keys = np.empty((cfg.n_layers, KV, T, hs))
        for layer in range(cfg.n_layers):
            xb = self._rmsnorm(x, w["rms_att"][layer])
            q = self._rope(xb @ w["wq"][layer].T, angles).reshape(T, H, hs).transpose(1, 0, 2)
            k = self._rope(xb @ w["wk"][layer].T, angles).reshape(T, KV, hs).transpose(1, 0, 2)
            v = (xb @ w["wv"][layer].T).reshape(T, KV, hs).transpose(1, 0, 2)
            queries[layer], keys[layer] = q, k
            scores = q @ k[kv_of_head].transpose(0, 2, 1) / math.sqrt(hs)
            scores[:, future] = -np.inf
            scores -= scores.max(axis=-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(axis=-1, keepdims=True)
            if sparse_topk is not None:
                probs = sparsify_topk(probs, sparse_topk)
            attention[layer] = probs
            out = (probs @ v[kv_of_head]).transpose(1, 0, 2).reshape(T, H * hs)
            x = x + out @ w["wo"][layer].T
            xb = self._rmsnorm(x, w["rms_ffn"][layer])
            gate = xb @ w["w1"][layer].T
            x = x + ((gate / (1.0 + np.exp(-gate))) * (xb @ w["w3"][layer].T)) @ w["w2"][layer].T
        logits = self._rmsnorm(x, w["rms_final"]) @ w["classifier"].T
        return ForwardResult(attention, logits, queries, keys)

    def generate(self, prompt: Sequence[int], max_new: int, sparse_topk: Optional[int] = None,
                 stop_ids: Sequence[int] = (BOS_ID, EOS_ID)) -> List[int]:
        """Greedy continuation of ``prompt``: up to ``max_new`` new tokens, stopping before
        a token in ``stop_ids`` or at the model's context length."""
        ids = list(prompt)
        for _ in range(max_new):
            if len(ids) >= self.config.seq_len:
                break
            nxt = self.forward(ids, sparse_topk).greedy_next[-1]
            if nxt in stop_ids:
                break
            ids.append(nxt)
        return ids


def sparsify_topk(probs: np.ndarray, k: int) -> np.ndarray:
    """Keep the k largest weights of every causal row of probs [..., T, T], renormalized.

    Only keys at or before the query compete (row q has q + 1 candidates); ties go to the
    lower key index (a stable sort on the negated weights).
    """
    T = probs.shape[-1]
    causal = np.tril(np.ones((T, T), dtype=bool))
    ranked = np.where(causal, probs, -np.inf)
    order = np.argsort(-ranked, axis=-1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(T), axis=-1)
    kept = np.where((rank < k) & causal, probs, 0.0)
    return kept / kept.sum(axis=-1, keepdims=True)


# --------------------------------------------------------------------------- prompt sets

AIDREAMS, STORIES = "aidreams260K", "stories260K"
TOKENIZER_FILE = "tok512.bin"
MODEL_FILES = {AIDREAMS: "aidreams260K.bin", STORIES: "stories260K.bin"}
# stories260K ships without its tokenizer; tok512.bin is aidreams' (pieces like " whisper",
# "resholds") and turns stories260K's greedy ids into gibberish, so stories260K is labeled by id.
MODEL_TOKENIZER = {AIDREAMS: TOKENIZER_FILE, STORIES: None}

FIG_ENTROPY, FIG_GRID, FIG_ANSWER, FIG_SINK, FIG_GALLERY = "000", "001", "002", "003", "004"

EXACT_ANSWER_DEFINITION = (
    "exact answer = the first clause of the greedy answer: it starts at the first answer token "
    "containing a letter or digit and ends at the last token before the first clause break "
    "(a token whose text, spaces stripped, starts with one of . , ; : ! ? or contains a newline; "
    "a '.' between two digit tokens is a decimal point, not a break), or at the answer's end")
ANCHOR_DEFINITIONS = {
    "last_q": "last prompt token before the answer (the question's '?', or the ':' of a 'Q: ... A:' scaffold)",
    "first_answer": "first greedily generated answer token",
    "second_answer": "second generated answer token",
    "exact_answer_before_first": "token just before exact_answer_first",
    "exact_answer_first": "first token of the exact answer",
    "exact_answer_last": "last token of the exact answer",
}


@dataclasses.dataclass
class Sample:
    """One prompt run through one model: the ids plus everything written to its JSON."""

    model: str
    name: str
    task: str
    figures: List[str]
    token_ids: List[int]
    n_prompt_tokens: int  # tokens given; the rest were generated greedily by the model
    text: Optional[str]  # the prompt text (None when the prompt was given as ids)
    anchors: Dict[str, int]
    sparse_topk: Optional[int] = None
    description: str = ""
    extra: Dict[str, object] = dataclasses.field(default_factory=dict)


class Builder:
    """Builds the prompt sets; holds the loaded models and the tokenizer."""

    def __init__(self, models: Dict[str, Transformer], tokenizer: Tokenizer):
        self.models = models
        self.tok = tokenizer

    # -- helpers ------------------------------------------------------------

    def text_sample(self, name: str, task: str, figures: List[str], text: str, total: Optional[int] = None,
                    description: str = "", model: str = AIDREAMS) -> Sample:
        """Encode ``text`` and, if ``total`` is given, extend it greedily to ``total`` tokens."""
        prompt = self.tok.encode(text)
        ids = prompt if total is None else self.models[model].generate(prompt, total - len(prompt))
        if total is not None and len(ids) != total:
            raise RuntimeError(f"{model}/{name}: generation stopped at {len(ids)} of {total} tokens")
        return Sample(model, name, task, figures, ids, len(prompt), text, {"bos": 0}, description=description)

    # -- figure 000 and 004: one text at three context lengths ----------------

    def context_lengths(self) -> List[Sample]:
        out = []
        for model in (AIDREAMS, STORIES):
            full = self.models[model].generate([BOS_ID], 63)
            if len(full) != 64:
                raise RuntimeError(f"{model}: greedy text from BOS stopped at {len(full)} tokens")
            for n in (16, 32, 64):
                figures = [FIG_ENTROPY, FIG_GALLERY] if n == 32 else [FIG_ENTROPY]
                out.append(Sample(model, f"ctx{n}", "context_length", figures, full[:n], 1, None, {"bos": 0},
                                  description=f"the model's greedy text from BOS, first {n} tokens"))
        dense = next(s for s in out if s.model == AIDREAMS and s.name == "ctx32")
        out.append(dataclasses.replace(
            dense, name=f"ctx32_top{DEFAULT_TOPK}", figures=[FIG_GALLERY], sparse_topk=DEFAULT_TOPK,
            description=f"ctx32 run as a sparse-attention model: every row keeps its top {DEFAULT_TOPK} "
                        "weights (ties to the lower key), renormalized, and the forward pass continues "
                        "with them"))
        return out

    # -- figure 001: layer x head grids per task ------------------------------

    def task_grid(self) -> List[Sample]:
        fig = [FIG_GRID]
        out = [
            self.text_sample("story_1", "story", fig, "The weights", 48,
                             "seed phrase plus the model's greedy continuation (in-domain text)"),
            self.text_sample("story_2", "story", fig, "Pixels dance", 40,
                             "seed phrase plus the model's greedy continuation (in-domain text)"),
            self.text_sample("story_3", "story", fig, "In the dream, the network", 32,
                             "seed phrase plus the model's greedy continuation (in-domain text)"),
        ]
        for i, text in enumerate([
            "Q: Who are you?\nA: I dream.\nQ: What do you see?\nA:",
            "Ann: Do you hear the hum?\nBob: Yes, like rain.\nAnn:",
            "A: Good morning.\nB: Good morning.\nA: How are you?\nB:",
        ], start=1):
            out.append(self.text_sample(f"dialogue_{i}", "dialogue", fig, text, 48,
                                        "two-speaker exchange plus the model's greedy reply"))
        for i, (length, seed) in enumerate([(12, 101), (16, 102), (20, 103)], start=1):
            rng = np.random.default_rng(seed)
            seq = [int(t) for t in rng.choice(np.arange(259, 512), size=length, replace=False)]
            ids = [BOS_ID] + seq + seq
            out.append(Sample(AIDREAMS, f"repetition_{i}", "repetition", fig, ids, len(ids), None,
                              {"bos": 0, "first_copy_start": 1, "second_copy_start": 1 + length},
                              description=f"{length} distinct random non-byte token ids (numpy default_rng"
                                          f"({seed})) repeated twice: induction heads attend from the second "
                                          "copy to the token after the current one's first occurrence"))
        for i, text in enumerate([
            "one, two, three, four, five, six, seven, eight",
            "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12",
            "a b c d e f g h i j k l m n o p q r s t",
        ], start=1):
            out.append(self.text_sample(f"counting_{i}", "counting", fig, text, None, "a counting sequence"))
        for s in out:
            if not 24 <= len(s.token_ids) <= 48:
                raise RuntimeError(f"{s.name}: {len(s.token_ids)} tokens, the grid prompts need 24..48")
        return out

    # -- figure 002: answer-token slices -------------------------------------

    def answers(self) -> List[Sample]:
        out = []
        for name, question in [("qa_feel", "What do you feel?"), ("qa_hear", "What do you hear?"),
                               ("qa_unfolds", "What unfolds?"),
                               ("qa_weights", "Q: What do the weights whisper? A:")]:
            s = self.text_sample(name, "question_answer", [FIG_GRID, FIG_ANSWER], question,
                                 None, "question plus the model's greedy answer (20 tokens)")
            s.token_ids = self.models[AIDREAMS].generate(s.token_ids, 20)
            if len(s.token_ids) < s.n_prompt_tokens + 2:
                raise RuntimeError(f"{name}: the model answered with fewer than two tokens")
            first, last = self.exact_answer_span(s.token_ids, s.n_prompt_tokens)
            s.anchors.update({
                "last_q": s.n_prompt_tokens - 1,
                "first_answer": s.n_prompt_tokens,
                "second_answer": s.n_prompt_tokens + 1,
                "exact_answer_before_first": first - 1,
                "exact_answer_first": first,
                "exact_answer_last": last,
            })
            s.extra["question"] = question
            s.extra["answer"] = self.tok.decode(s.token_ids[s.n_prompt_tokens:])
            s.extra["exact_answer"] = self.tok.decode(s.token_ids[first:last + 1]).strip()
            s.extra["exact_answer_definition"] = EXACT_ANSWER_DEFINITION
            s.extra["anchor_definitions"] = ANCHOR_DEFINITIONS
            out.append(s)
        return out

    def exact_answer_span(self, ids: Sequence[int], answer_start: int) -> Tuple[int, int]:
        """First and last index of the exact answer (see ``EXACT_ANSWER_DEFINITION``)."""
        texts = [self.tok.piece_bytes(t).decode("utf-8", errors="replace") for t in ids]

        def is_digits(i: int) -> bool:
            return 0 <= i < len(ids) and texts[i].strip().isdigit()

        def is_break(i: int) -> bool:
            s = texts[i].strip(" ")
            if "\n" in s:
                return True
            if s[:1] == "." and is_digits(i - 1) and is_digits(i + 1):
                return False
            return s[:1] in (".", ",", ";", ":", "!", "?")

        start = next((i for i in range(answer_start, len(ids)) if any(c.isalnum() for c in texts[i])), None)
        if start is None:
            raise RuntimeError("the answer has no token with a letter or digit")
        end = start
        while end + 1 < len(ids) and not is_break(end + 1):
            end += 1
        return start, end

    # -- figure 003: BOS and dummy tokens -------------------------------------

    def dummies(self) -> List[Sample]:
        filler = [BYTE_BASE + ord("\n")] * 4 + [EOS_ID, BOS_ID]
        desc = ("BOS, a sentence, dummy tokens (four newline byte tokens, </s>, and a mid-sequence <s> "
                "document separator as in llama2.c training data), then more text")
        out = []
        a = self.tok.encode("Echoes of vectors unfold, a gentle hum of precision.")
        b = self.tok.encode("Contrast edges sharpen, as I adjust my weights.", bos=False)
        ids = a + filler + b
        out.append(Sample(AIDREAMS, "dummy_tokens", "sink_dummy", [FIG_SINK], ids, len(ids), None,
                          {"bos": 0, "first_dummy": len(a), "last_dummy": len(a) + len(filler) - 1},
                          description=desc))
        out[-1].extra["prompt_parts"] = ["<s>Echoes of vectors unfold, a gentle hum of precision.",
                                         "<0x0A> x4, </s>, <s>",
                                         "Contrast edges sharpen, as I adjust my weights."]
        stories = self.models[STORIES]
        head = stories.generate([BOS_ID], 19)
        ids = stories.generate(head + filler, 20)
        out.append(Sample(STORIES, "dummy_tokens", "sink_dummy", [FIG_SINK], ids, len(head) + len(filler), None,
                          {"bos": 0, "first_dummy": len(head), "last_dummy": len(head) + len(filler) - 1},
                          description=desc.replace("more text", "the model's greedy continuation")))
        for s in out:
            first = s.anchors["first_dummy"]
            s.extra["bos"] = 0
            s.extra["dummy_tokens"] = list(range(first, first + len(filler)))
        return out

    def all(self) -> List[Sample]:
        return self.context_lengths() + self.task_grid() + self.answers() + self.dummies()


# --------------------------------------------------------------------------- output


def check_attention(name: str, a: np.ndarray, sparse_topk: Optional[int]) -> None:
    """Raise unless ``a`` [L, H, T, T] is causal with rows summing to one."""
    T = a.shape[-1]
    if np.any(np.triu(np.ones((T, T), dtype=bool), k=1) & (a != 0)):
        raise AssertionError(f"{name}: nonzero weight above the diagonal")
    if np.any(a < 0):
        raise AssertionError(f"{name}: negative attention weight")
    err = float(np.max(np.abs(a.astype(np.float64).sum(-1) - 1.0)))
    if err > 1e-6:
        raise AssertionError(f"{name}: a row sums to 1 +- {err:.2g}")
    if sparse_topk is not None and int((a > 0).sum(-1).max()) > sparse_topk:
        raise AssertionError(f"{name}: a row has more than {sparse_topk} nonzero weights")


def dumps(value: object) -> str:
    """Compact single-line JSON, non-ASCII kept readable."""
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def write_json(path: Path, obj: object) -> None:
    """JSON with one top-level key (or list item) per line, values compact."""
    if isinstance(obj, dict):
        body = ",\n".join(f"  {dumps(k)}: {dumps(v)}" for k, v in obj.items())
        text = "{\n" + body + "\n}\n"
    elif isinstance(obj, list):
        text = "[\n" + ",\n".join(f"  {dumps(v)}" for v in obj) + "\n]\n"
    else:
        text = dumps(obj) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def write_npy(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.ascontiguousarray(array, dtype="<f4"), allow_pickle=False)


class Labeler:
    """Token display strings: tokenizer pieces where the model has a tokenizer, else ids."""

    def __init__(self, tokenizer: Tokenizer):
        self.tok = tokenizer

    def __call__(self, model: str, ids: Sequence[int]) -> List[str]:
        if MODEL_TOKENIZER[model] is None:
            return [id_display(t) for t in ids]
        return [self.tok.display(t) for t in ids]


def generate_dataset(models_dir: Path, out_dir: Path, log=print) -> List[Tuple[Sample, np.ndarray]]:
    """Write every sample file into ``out_dir``; return the samples with their float32 attention."""
    tok = Tokenizer.load(models_dir / TOKENIZER_FILE, 512)
    models = {name: Transformer.load(models_dir / f, name) for name, f in MODEL_FILES.items()}
    for name, model in models.items():
        if model.config.vocab_size != len(tok):
            raise FormatError(f"{name}: vocab_size {model.config.vocab_size} != tokenizer size {len(tok)}")
    label = Labeler(tok)
    samples = Builder(models, tok).all()
    index, results = [], []
    for s in samples:
        cfg = models[s.model].config
        run = models[s.model].forward(s.token_ids, s.sparse_topk)
        attention = run.attention.astype(np.float32)
        check_attention(f"{s.model}/{s.name}", attention, s.sparse_topk)
        rel = f"{s.model}/{s.name}"
        write_npy(out_dir / f"{rel}.npy", attention)
        meta = {
            "model": s.model, "n_layers": cfg.n_layers, "n_heads": cfg.n_heads, "n_kv_heads": cfg.n_kv_heads,
            "head_size": cfg.head_size, "prompt_name": s.name, "task": s.task, "figures": s.figures,
            "description": s.description, "shape": list(attention.shape), "dtype": "float32",
            "axes": ["layer", "head", "query", "key"], "sparse_topk": s.sparse_topk,
            "tokenizer": MODEL_TOKENIZER[s.model], "text": s.text, "n_prompt_tokens": s.n_prompt_tokens,
            "token_ids": s.token_ids, "tokens": label(s.model, s.token_ids),
            "greedy_next_ids": run.greedy_next, "anchors": s.anchors,
        }
        meta.update(s.extra)
        write_json(out_dir / f"{rel}.json", meta)
        index.append({"model": s.model, "prompt_name": s.name, "task": s.task, "figure": s.figures,
                      "npy": f"{rel}.npy", "json": f"{rel}.json", "shape": list(attention.shape),
                      "sparse_topk": s.sparse_topk})
        results.append((s, attention))
        log(f"  {rel}: {len(s.token_ids)} tokens, figures {','.join(s.figures)}")
    write_json(out_dir / "index.json", index)
    # the seed 001 prompts grouped by task, as `attnscope aggregate --manifest` reads them
    tasks: Dict[str, List[str]] = {}
    for e in index:
        if "001" in e["figure"]:
            tasks.setdefault(e["task"], []).append(e["npy"])
    write_json(out_dir / "seed001_tasks.json", tasks)
    write_bundled_sample(out_dir, results, label)
    return results


SAMPLE_SOURCE, SAMPLE_SHORT = "story_1", "story_3"


def write_bundled_sample(out_dir: Path, results: List[Tuple[Sample, np.ndarray]], label: Labeler) -> None:
    """sample.npy (+ tokens) and the right-padded sample_batch.npy for the command-line tool."""
    by_name = {(s.model, s.name): (s, a) for s, a in results}
    long_s, long_a = by_name[(AIDREAMS, SAMPLE_SOURCE)]
    short_s, short_a = by_name[(AIDREAMS, SAMPLE_SHORT)]
    write_npy(out_dir / "sample.npy", long_a)
    write_json(out_dir / "sample.tokens.json", label(AIDREAMS, long_s.token_ids))
    T = long_a.shape[-1]
    n = short_a.shape[-1]
    batch = np.zeros((2,) + long_a.shape, dtype=np.float32)
    batch[0] = long_a
    batch[1, :, :, :n, :n] = short_a
    write_npy(out_dir / "sample_batch.npy", batch)
    write_json(out_dir / "sample_batch.json", {
        "model": AIDREAMS,
        "shape": list(batch.shape),
        "axes": ["batch", "layer", "head", "query", "key"],
        "key_lengths": [T, n],
        "padding": "right: example i is valid for query < key_lengths[i] and key < key_lengths[i]; "
                   "padded query rows and key columns are 0",
        "prompt_names": [long_s.name, short_s.name],
        "sources": [f"{AIDREAMS}/{long_s.name}.npy", f"{AIDREAMS}/{short_s.name}.npy"],
        "token_ids": [long_s.token_ids, short_s.token_ids],
        "tokens": [label(AIDREAMS, long_s.token_ids), label(AIDREAMS, short_s.token_ids)],
    })


# --------------------------------------------------------------------------- check and report

EXIT_OK, EXIT_DIFFERENT, EXIT_ERROR, EXIT_SKIP = 0, 1, 2, 77
ARRAY_TOLERANCE = 1e-6


def relative_files(root: Path) -> List[str]:
    """Every file under ``root`` as a sorted list of POSIX paths relative to it."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def first_difference(expected_dir: Path, actual_dir: Path) -> Optional[str]:
    """A message naming the first file that differs between the two trees, or None."""
    expected, actual = relative_files(expected_dir), relative_files(actual_dir)
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    if missing:
        return f"{missing[0]}: regenerated but not committed (missing from {actual_dir})"
    if extra:
        return f"{extra[0]}: committed but no longer generated"
    for rel in expected:
        a, b = expected_dir / rel, actual_dir / rel
        if rel.endswith(".json"):
            try:
                same = json.loads(a.read_text(encoding="utf-8")) == json.loads(b.read_text(encoding="utf-8"))
            except ValueError as e:
                return f"{rel}: not valid JSON ({e})"
            if not same:
                return f"{rel}: JSON content differs"
        elif rel.endswith(".npy"):
            try:
                x, y = np.load(a, allow_pickle=False), np.load(b, allow_pickle=False)
            except ValueError as e:
                return f"{rel}: not a readable .npy file ({e})"
            if x.shape != y.shape or x.dtype != y.dtype:
                return f"{rel}: shape/dtype {y.shape} {y.dtype}, expected {x.shape} {x.dtype}"
            diff = float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64)))) if x.size else 0.0
            if not diff <= ARRAY_TOLERANCE:
                return f"{rel}: values differ by up to {diff:.3g} (tolerance {ARRAY_TOLERANCE:g})"
        elif a.read_bytes() != b.read_bytes():
            return f"{rel}: bytes differ"
    return None


def head_statistics(attention: np.ndarray, min_query: int = 4) -> Dict[str, np.ndarray]:
    """Per-head means over queries q >= min_query of: weight on key 0 (BOS), on key q-1
    (previous token), on key q (self), and row entropy divided by log(q + 1)."""
    T = attention.shape[-1]
    q = np.arange(min_query, T)
    rows = attention[:, :, q, :].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.sum(np.where(rows > 0, rows * np.log(rows), 0.0), axis=-1) / np.log(q + 1)
    return {
        "bos": rows[..., 0].mean(-1),
        "prev": attention[:, :, q, q - 1].mean(-1),
        "self": attention[:, :, q, q].mean(-1),
        "entropy": ent.mean(-1),
    }


def classify_head(bos: float, prev: float, self_: float, entropy: float) -> str:
    """A coarse label for a head from its ``head_statistics`` (thresholds 0.5 and 0.75)."""
    if prev >= 0.5:
        return "previous-token"
    if bos >= 0.5:
        return "BOS-sink"
    if self_ >= 0.5:
        return "self"
    if entropy >= 0.75:
        return "diffuse"
    return "mixed"


def report(results: List[Tuple[Sample, np.ndarray]]) -> str:
    """A per-model, per-head table averaged over all dense samples of that model."""
    lines = []
    for model in (AIDREAMS, STORIES):
        arrays = [a for s, a in results if s.model == model and s.sparse_topk is None]
        stats = [head_statistics(a) for a in arrays]
        mean = {k: np.mean([st[k] for st in stats], axis=0) for k in stats[0]}
        L, H = mean["bos"].shape
        lines.append(f"{model}: per-head means over {len(arrays)} dense samples, queries >= 4")
        lines.append("  head   BOS mass  prev-token  self   entropy/log(n)  kind")
        for layer in range(L):
            for head in range(H):
                vals = [float(mean[k][layer, head]) for k in ("bos", "prev", "self", "entropy")]
                lines.append(f"  L{layer}H{head}   {vals[0]:8.3f}  {vals[1]:10.3f}  {vals[2]:5.3f}  "
                             f"{vals[3]:14.3f}  {classify_head(*vals)}")
    return "\n".join(lines)


def self_test(models_dir: Path) -> List[str]:
    """Consistency checks of the tokenizer, the forward pass and the sparse run.

    Returns a list of failure messages (empty when everything holds)."""
    failures: List[str] = []
    tok = Tokenizer.load(models_dir / TOKENIZER_FILE, 512)
    model = Transformer.load(models_dir / MODEL_FILES[AIDREAMS], AIDREAMS)
    for text in ["Echoes of vectors unfold.", "Q: 1, 2?\nA: \u03c3\u00b0 \u00e9t\u00e9 \u2603"]:
        ids = tok.encode(text)
        if tok.decode(ids) != text:
            failures.append(f"tokenizer round trip: {text!r} -> {ids} -> {tok.decode(ids)!r}")
    ids = model.generate([BOS_ID], 31)
    text = tok.decode(ids)
    if not text.startswith('"Echoes of vectors unfold, a gentle hum of precision'):
        failures.append(f"aidreams260K greedy text from BOS changed: {text!r}")
    full = model.forward(ids)
    prefix = model.forward(ids[:20])
    if np.max(np.abs(full.attention[:, :, :20, :20] - prefix.attention)) > 1e-12:
        failures.append("attention of a prefix is not the top-left block of the full attention")
    if np.max(np.abs(full.logits[:20] - prefix.logits)) > 1e-9:
        failures.append("logits of a prefix differ from the full run's")
    sparse = model.forward(ids, sparse_topk=DEFAULT_TOPK).attention
    dense_top = sparsify_topk(full.attention[:1], DEFAULT_TOPK)
    if np.max(np.abs(sparse[:1] - dense_top)) > 1e-12:
        failures.append("layer 0 of the sparse run is not the top-k of the dense layer 0")
    if int((sparse > 0).sum(-1).max()) > DEFAULT_TOPK:
        failures.append("a sparse row keeps more than k weights")
    if not np.array_equal(sparsify_topk(np.full((1, 3, 3), 1 / 3) * np.tril(np.ones((3, 3))), 2)[0, 2],
                          [0.5, 0.5, 0.0]):
        failures.append("top-k ties are not broken towards the lower key index")
    for name, a in (("dense", full.attention), ("sparse", sparse)):
        try:
            check_attention(name, a, DEFAULT_TOPK if name == "sparse" else None)
        except AssertionError as e:
            failures.append(str(e))
    return failures


# --------------------------------------------------------------------------- command line


def repo_root() -> Path:
    """The repository this file lives in (tools/..)."""
    return Path(__file__).resolve().parent.parent


HF_PROMPTS = ("Once upon a time, there was a little girl named Lily. She loved to play outside.",
              "Tom had a red ball.")


def write_hf_layouts(models_dir: Path, out_dir: Path, log=print) -> None:
    """Write, per model, what examples/python/save_qk.py and save_attentions.py write for an HF model,
    from this file's float64 forward pass of two right-padded prompts (B = 2, unequal lengths):
    ``<model>.qk.safetensors`` (queries.<l> [B, H, T, d], keys.<l> [B, H_kv, T, d], after RoPE),
    ``<model>.attentions.safetensors`` (attentions.<l> [B, H, T, T]) and ``<model>.json`` (the
    key lengths, the scale, the tokens). Padding positions hold zeros (excluded by --key-lengths and
    --query-lengths), all float32."""
    sys.path.insert(0, str(repo_root() / "examples" / "python"))
    from attnscope_export import save_attentions, save_queries_keys

    tok = Tokenizer.load(models_dir / TOKENIZER_FILE, 512)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, f in MODEL_FILES.items():
        model = Transformer.load(models_dir / f, name)
        cfg = model.config
        ids = [tok.encode(p)[: cfg.seq_len] for p in HF_PROMPTS]
        runs = [model.forward(i) for i in ids]
        B, T = len(ids), max(len(i) for i in ids)
        q = np.zeros((cfg.n_layers, B, cfg.n_heads, T, cfg.head_size), dtype=np.float32)
        k = np.zeros((cfg.n_layers, B, cfg.n_kv_heads, T, cfg.head_size), dtype=np.float32)
        a = np.zeros((cfg.n_layers, B, cfg.n_heads, T, T), dtype=np.float32)
        for b, r in enumerate(runs):
            n = len(ids[b])
            q[:, b, :, :n] = r.queries
            k[:, b, :, :n] = r.keys
            a[:, b, :, :n, :n] = r.attention
        lengths = ",".join(str(len(i)) for i in ids)
        meta = {"model": name, "key_lengths": lengths, "scale": repr(1.0 / math.sqrt(cfg.head_size))}
        save_queries_keys(out_dir / f"{name}.qk.safetensors", list(q), list(k), meta)
        save_attentions(out_dir / f"{name}.attentions.safetensors", list(a), meta)
        write_json(out_dir / f"{name}.json", {**meta, "token_ids": ids, "n_layers": cfg.n_layers,
                                               "n_heads": cfg.n_heads, "n_kv_heads": cfg.n_kv_heads,
                                               "head_size": cfg.head_size})
        log(f"  {name}: queries {q.shape[1:]}, keys {k.shape[1:]}, attentions {a.shape[1:]} x {cfg.n_layers} layers")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description="Regenerate (default) or --check examples/data/ from the shared tiny checkpoints.")
    parser.add_argument("--models", type=Path, default=repo_root().parent / "shared" / "models",
                        help="directory with aidreams260K.bin, stories260K.bin, tok512.bin "
                             "(default: ../shared/models relative to the repository root)")
    parser.add_argument("--out", type=Path, default=repo_root() / "examples" / "data",
                        help="data directory to write or check (default: examples/data)")
    parser.add_argument("--check", action="store_true",
                        help="regenerate into a temporary directory and compare with --out: exit 0 if "
                             "equal, 1 naming the first differing file, 77 if the models are missing")
    parser.add_argument("--report", action="store_true",
                        help="also print per-head BOS mass, previous-token score and entropy")
    parser.add_argument("--self-test", action="store_true",
                        help="only run consistency checks of the tokenizer and the forward pass")
    parser.add_argument("--quiet", action="store_true", help="print only errors and the result")
    parser.add_argument("--hf-layouts", type=Path, metavar="DIR",
                        help="instead, write the HF export layouts (post-RoPE queries/keys and attentions "
                             "per layer, as examples/python/save_qk.py and save_attentions.py write them) "
                             "of two prompts into DIR")
    args = parser.parse_args(argv)
    log = (lambda *a: None) if args.quiet else print

    missing = [f for f in [TOKENIZER_FILE, *MODEL_FILES.values()] if not (args.models / f).is_file()]
    if missing:
        print(f"make_samples: {args.models}: missing {', '.join(missing)}", file=sys.stderr)
        return EXIT_SKIP if args.check else EXIT_ERROR

    try:
        if args.hf_layouts is not None:
            write_hf_layouts(args.models, args.hf_layouts, log=log)
            return EXIT_OK
        if args.self_test:
            failures = self_test(args.models)
            for f in failures:
                print(f"make_samples --self-test: FAIL: {f}", file=sys.stderr)
            if not failures:
                print("make_samples --self-test: all checks passed")
            return EXIT_DIFFERENT if failures else EXIT_OK
        if args.check:
            if not args.out.is_dir():
                print(f"make_samples: --check: {args.out} does not exist", file=sys.stderr)
                return EXIT_DIFFERENT
            with tempfile.TemporaryDirectory(prefix="attnscope-samples-") as tmp:
                results = generate_dataset(args.models, Path(tmp), log=lambda *a: None)
                diff = first_difference(Path(tmp), args.out)
            if args.report:
                print(report(results))
            if diff is not None:
                print(f"make_samples --check: {args.out}: {diff}; rerun tools/make_samples.py", file=sys.stderr)
                return EXIT_DIFFERENT
            print(f"make_samples --check: {args.out} matches a fresh regeneration")
            return EXIT_OK
        # Regenerate next to the target, then swap, so a failure never leaves a half-written tree.
        args.out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".make_samples-", dir=args.out.parent))
        try:
            log(f"writing {args.out}")
            results = generate_dataset(args.models, staging, log=log)
            if args.out.exists():
                if any(args.out.iterdir()) and not (args.out / "index.json").is_file():
                    raise OSError(f"refusing to replace {args.out}: it is not empty and has no index.json")
                shutil.rmtree(args.out)
            staging.rename(args.out)
        finally:
            if staging.exists():
                shutil.rmtree(staging)
        total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
        log(f"wrote {len(relative_files(args.out))} files, {total / 1e6:.2f} MB")
        if args.report:
            print(report(results))
        return EXIT_OK
    except (FormatError, OSError) as e:
        print(f"make_samples: {e}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
