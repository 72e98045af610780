#!/usr/bin/env python3
"""Save the post-RoPE queries and keys of every layer of an HF transformers model, for
``attnscope report`` (the queries/keys source: every metric without storing attention).

    python3 save_qk.py MODEL_ID_OR_DIR OUT.safetensors "first prompt" ["second prompt" ...]
    attnscope report OUT.safetensors -o out/report --causal --key-lengths <printed lengths>

Works under any attention implementation (sdpa, flash attention), where ``output_attentions`` is
not available: a forward pre-hook on each layer's attention module reads the hidden states and
the rotary embeddings (cos, sin) the model passes in, and recomputes the queries and keys exactly
as the module does (q_proj / k_proj, the optional q_norm / k_norm, the module's own
apply_rotary_pos_emb). That is the structure of the Llama family of modules in transformers
(Llama, Mistral, Qwen2/3, Gemma 1-3, OLMo 2, ...); other modules are refused with a message.
Prompts are right-padded; their key lengths, the module's scaling and (Gemma 2) the logit
soft-cap are stored in the file's metadata and printed as options; ``attnscope report`` warns when
its options disagree with them.
``--check`` also runs the model with eager attention and compares softmax(q k^T * scaling) with
``output_attentions`` (a self-test of the hooks on your model).

Writes queries.<l> [B, H, T, d] and keys.<l> [B, H_kv, T, d] (float32) with attnscope_export.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from attnscope_export import save_queries_keys  # noqa: E402


def attention_modules(model):
    """The self-attention module of every decoder layer, in order."""
    layers = getattr(getattr(model, "model", model), "layers", None)
    if layers is None:
        raise SystemExit("save_qk: the model has no model.layers (not a decoder-only transformers model?)")
    mods = [getattr(layer, "self_attn", None) for layer in layers]
    for i, m in enumerate(mods):
        if m is None or not all(hasattr(m, a) for a in ("q_proj", "k_proj", "head_dim")):
            raise SystemExit(f"save_qk: layer {i}'s attention has no q_proj / k_proj / head_dim: "
                             "not a Llama-family attention module; use output_attentions (save_attentions.py)")
    return mods


def capture(model, mods):
    """Registers the hooks; returns (queries, keys, handles), filled by the next forward."""
    import torch

    queries, keys, handles = [], [], []
    for attn in mods:
        rope = getattr(sys.modules[type(attn).__module__], "apply_rotary_pos_emb", None)
        if rope is None:
            raise SystemExit(f"save_qk: {type(attn).__module__} has no apply_rotary_pos_emb")

        def hook(module, args, kwargs, rope=rope):
            hs = kwargs.get("hidden_states", args[0] if args else None)
            pe = kwargs.get("position_embeddings")
            if hs is None or pe is None:
                raise RuntimeError("save_qk: the attention module was called without hidden_states or "
                                   "position_embeddings (transformers older than 4.48?)")
            with torch.no_grad():
                shape = (*hs.shape[:-1], -1, module.head_dim)
                q = module.q_proj(hs).view(shape)
                k = module.k_proj(hs).view(shape)
                if hasattr(module, "q_norm"):
                    q, k = module.q_norm(q), module.k_norm(k)
                q, k = rope(q.transpose(1, 2), k.transpose(1, 2), *pe)
            queries.append(q.float().cpu().numpy())
            keys.append(k.float().cpu().numpy())

        handles.append(attn.register_forward_pre_hook(hook, with_kwargs=True))
    return queries, keys, handles


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model")
    p.add_argument("out", type=Path)
    p.add_argument("prompts", nargs="+")
    p.add_argument("--check", action="store_true", help="compare with eager output_attentions")
    args = p.parse_args()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(args.model)
    tok.padding_side = "right"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    enc = tok(args.prompts, return_tensors="pt", padding=True)
    model = AutoModelForCausalLM.from_pretrained(args.model, torch_dtype=torch.float32)
    model.eval()
    mods = attention_modules(model)
    queries, keys, handles = capture(model, mods)
    with torch.no_grad():
        model(**enc)
    for h in handles:
        h.remove()
    lengths = enc["attention_mask"].sum(dim=1).tolist()
    scaling = float(getattr(mods[0], "scaling", queries[0].shape[-1] ** -0.5))
    softcap = getattr(model.config, "attn_logit_softcapping", None)  # Gemma 2
    meta = {"model": args.model, "key_lengths": ",".join(map(str, lengths)), "scale": repr(scaling)}
    if softcap:
        meta["softcap"] = repr(float(softcap))
    save_queries_keys(args.out, queries, keys, meta)
    print(f"wrote {args.out}: {len(queries)} layers, queries {queries[0].shape}, keys {keys[0].shape}")
    print(f"attnscope report {args.out} -o out/report --causal --key-lengths {','.join(map(str, lengths))}"
          f" --scale {scaling!r}" + (f" --softcap {float(softcap)!r}" if softcap else ""))
    if args.check:
        eager = AutoModelForCausalLM.from_pretrained(args.model, torch_dtype=torch.float32, attn_implementation="eager")
        with torch.no_grad():
            att = eager(**enc, output_attentions=True).attentions
        worst = 0.0
        for q, k, a in zip(queries, keys, att):
            k = np.repeat(k, q.shape[1] // k.shape[1], axis=1)
            s = np.einsum("bhqd,bhkd->bhqk", q.astype(np.float64), k.astype(np.float64)) * scaling
            if softcap:
                s = softcap * np.tanh(s / softcap)
            s = np.where(np.triu(np.ones(s.shape[-2:], bool), 1), -np.inf, s)
            s = np.where(enc["attention_mask"].numpy()[:, None, None, :] == 0, -np.inf, s)
            s -= s.max(axis=-1, keepdims=True)
            w = np.exp(s)
            w /= w.sum(axis=-1, keepdims=True)
            for b, n in enumerate(lengths):
                worst = max(worst, float(np.abs(w[b, :, :n, :n] - a.numpy()[b, :, :n, :n]).max()))
        print(f"--check: largest |softmax(q k^T) - output_attentions| = {worst:.2e}")
        return 0 if worst < 1e-4 else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
