#!/usr/bin/env python3
"""Save the attention weights of every layer of an HF transformers model (``output_attentions``),
for ``attnscope report``.

    python3 save_attentions.py MODEL_ID_OR_DIR OUT.safetensors "first prompt" ["second prompt" ...]
    attnscope report OUT.safetensors -o out/report --causal --key-lengths <printed lengths>

``output_attentions`` needs eager attention (sdpa and flash attention raise an error or return
None): the model is loaded with ``attn_implementation="eager"``. Stored attention grows with T^2
(32 layers x 32 heads at 8k tokens is 275 GB); for long prompts save queries and keys instead
(save_qk.py). Prompts are right-padded; their key lengths are printed for --key-lengths.

Writes attentions.<l> [B, H, T, T] (float32) with attnscope_export.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from attnscope_export import save_attentions  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model")
    p.add_argument("out", type=Path)
    p.add_argument("prompts", nargs="+")
    args = p.parse_args()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(args.model)
    tok.padding_side = "right"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    enc = tok(args.prompts, return_tensors="pt", padding=True)
    model = AutoModelForCausalLM.from_pretrained(args.model, torch_dtype=torch.float32, attn_implementation="eager")
    model.eval()
    with torch.no_grad():
        out = model(**enc, output_attentions=True)
    if not out.attentions or out.attentions[0] is None:
        raise SystemExit("save_attentions: the model returned no attentions (not an eager implementation?)")
    lengths = enc["attention_mask"].sum(dim=1).tolist()
    save_attentions(args.out, [a.float().cpu().numpy() for a in out.attentions],
                    {"model": args.model, "key_lengths": ",".join(map(str, lengths))})
    print(f"wrote {args.out}: {len(out.attentions)} layers of {tuple(out.attentions[0].shape)}")
    print(f"attnscope report {args.out} -o out/report --causal --key-lengths {','.join(map(str, lengths))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
