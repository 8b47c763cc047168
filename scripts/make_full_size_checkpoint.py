#!/usr/bin/env python3
"""Write a full-size (7B-shaped) random VibeVoice-ASR checkpoint in the HF Hub layout, for memory and speed work.

Same config (SPEC 1.1), tensor names, shapes and dtype (bf16) as microsoft/VibeVoice-ASR-HF: 901 tensors,
~8.33 B parameters, ~16.7 GB, split into shards of at most --max-shard-gb plus model.safetensors.index.json.
The values are random (normal, std 0.02; norm weights 1 + N(0, 0.02)), so transcripts are garbage; use it to
measure loading, memory and speed, never accuracy.

Memory stays small: each shard is written as header + raw bytes, tensor by tensor, with the random values made
in blocks (numpy; float32 -> bf16 by round-to-nearest-even). Needs only numpy; when transformers is installed
the tensor list is checked against VibeVoiceAsrForConditionalGeneration built on the meta device.

Usage:
    python scripts/make_full_size_checkpoint.py OUT_DIR [--tokenizer PATH/tokenizer.json] [--layers N]
                                                [--max-shard-gb 4] [--seed 0] [--dry-run]
  --layers N   override the decoder depth (e.g. 1 for a quick ~2.6 GB test); the config says N layers
  --dry-run    print the plan (tensors, parameters, shards) and write nothing
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import struct
import sys
import time
from pathlib import Path

import numpy as np

TEXT_CONFIG = {
    "model_type": "qwen2",
    "attention_dropout": 0.0,
    "hidden_act": "silu",
    "hidden_size": 3584,
    "initializer_range": 0.02,
    "intermediate_size": 18944,
    "max_position_embeddings": 131072,
    "max_window_layers": 28,
    "num_attention_heads": 28,
    "num_hidden_layers": 28,
    "num_key_value_heads": 4,
    "rms_norm_eps": 1e-06,
    "rope_parameters": {"rope_theta": 1000000.0, "rope_type": "default"},
    "sliding_window": None,
    "tie_word_embeddings": False,
    "use_cache": True,
    "use_sliding_window": False,
    "vocab_size": 152064,
}


def encoder_config(hidden_size: int) -> dict:
    return {
        "model_type": "vibevoice_acoustic_tokenizer_encoder",
        "channels": 1,
        "hidden_size": hidden_size,
        "num_filters": 32,
        "kernel_size": 7,
        "depths": [3, 3, 3, 3, 3, 3, 8],
        "downsampling_ratios": [2, 2, 4, 5, 5, 8],
        "ffn_expansion": 4,
        "hidden_act": "gelu",
        "rms_norm_eps": 1e-05,
        "layer_scale_init_value": 1e-06,
        "initializer_range": 0.01,
        "vae_std": 0.625,
    }


def full_config(layers: int) -> dict:
    text = dict(TEXT_CONFIG, num_hidden_layers=layers, max_window_layers=layers)
    text["layer_types"] = ["full_attention"] * layers
    return {
        "architectures": ["VibeVoiceAsrForConditionalGeneration"],
        "model_type": "vibevoice_asr",
        "acoustic_tokenizer_chunk_size": 1440000,
        "acoustic_tokenizer_encoder_config": encoder_config(64),
        "semantic_tokenizer_encoder_config": encoder_config(128),
        "audio_token_id": 151648,
        "audio_bos_token_id": 151646,
        "audio_eos_token_id": 151647,
        "dtype": "bfloat16",
        "text_config": text,
        "transformers_version": "5.23.0",
    }


GENERATION_CONFIG = {
    "do_sample": False,
    "eos_token_id": 151643,
    "pad_token_id": 151655,
    "max_length": 32768,
    "max_new_tokens": 32768,
    "transformers_version": "5.23.0",
}


def tensor_list(config: dict) -> list[tuple[str, tuple[int, ...]]]:
    """(Hub name, shape) for every tensor, in the order the HF checkpoint lists them."""
    out: list[tuple[str, tuple[int, ...]]] = []
    t = config["text_config"]
    h, inter, heads, kv = t["hidden_size"], t["intermediate_size"], t["num_attention_heads"], t["num_key_value_heads"]
    hd = t.get("head_dim") or h // heads

    for enc_name in ("acoustic_tokenizer_encoder", "semantic_tokenizer_encoder"):
        c = config[f"{enc_name}_config"]
        f, k, e = c["num_filters"], c["kernel_size"], c["ffn_expansion"]

        def block(prefix: str, d: int) -> None:
            out.extend([
                (f"{prefix}.norm.weight", (d,)),
                (f"{prefix}.ffn_norm.weight", (d,)),
                (f"{prefix}.gamma", (d,)),
                (f"{prefix}.ffn_gamma", (d,)),
                (f"{prefix}.mixer.conv.weight", (d, 1, k)),
                (f"{prefix}.mixer.conv.bias", (d,)),
                (f"{prefix}.ffn.linear1.weight", (e * d, d)),
                (f"{prefix}.ffn.linear1.bias", (e * d,)),
                (f"{prefix}.ffn.linear2.weight", (d, e * d)),
                (f"{prefix}.ffn.linear2.bias", (d,)),
            ])

        out.append((f"{enc_name}.stem.conv.conv.weight", (f, c["channels"], k)))
        out.append((f"{enc_name}.stem.conv.conv.bias", (f,)))
        for j in range(c["depths"][0]):
            block(f"{enc_name}.stem.stage.{j}", f)
        for i, r in enumerate(c["downsampling_ratios"]):
            cin, cout = f * 2 ** i, f * 2 ** (i + 1)
            out.append((f"{enc_name}.conv_layers.{i}.conv.conv.weight", (cout, cin, 2 * r)))
            out.append((f"{enc_name}.conv_layers.{i}.conv.conv.bias", (cout,)))
            for j in range(c["depths"][i + 1]):
                block(f"{enc_name}.conv_layers.{i}.stage.{j}", cout)
        top = f * 2 ** len(c["downsampling_ratios"])
        out.append((f"{enc_name}.head.conv.weight", (c["hidden_size"], top, k)))
        out.append((f"{enc_name}.head.conv.bias", (c["hidden_size"],)))

    for kind in ("acoustic", "semantic"):
        d_in = config[f"{kind}_tokenizer_encoder_config"]["hidden_size"]
        p = f"multi_modal_projector.{kind}"
        out.extend([
            (f"{p}_linear_1.weight", (h, d_in)), (f"{p}_linear_1.bias", (h,)), (f"{p}_norm.weight", (h,)),
            (f"{p}_linear_2.weight", (h, h)), (f"{p}_linear_2.bias", (h,)),
        ])

    out.append(("language_model.model.embed_tokens.weight", (t["vocab_size"], h)))
    for n in range(t["num_hidden_layers"]):
        p = f"language_model.model.layers.{n}"
        out.extend([
            (f"{p}.input_layernorm.weight", (h,)),
            (f"{p}.self_attn.q_proj.weight", (heads * hd, h)), (f"{p}.self_attn.q_proj.bias", (heads * hd,)),
            (f"{p}.self_attn.k_proj.weight", (kv * hd, h)), (f"{p}.self_attn.k_proj.bias", (kv * hd,)),
            (f"{p}.self_attn.v_proj.weight", (kv * hd, h)), (f"{p}.self_attn.v_proj.bias", (kv * hd,)),
            (f"{p}.self_attn.o_proj.weight", (h, heads * hd)),
            (f"{p}.post_attention_layernorm.weight", (h,)),
            (f"{p}.mlp.gate_proj.weight", (inter, h)), (f"{p}.mlp.up_proj.weight", (inter, h)),
            (f"{p}.mlp.down_proj.weight", (h, inter)),
        ])
    out.append(("language_model.model.norm.weight", (h,)))
    out.append(("language_model.lm_head.weight", (t["vocab_size"], h)))
    return out


def check_against_transformers(config: dict, tensors: list[tuple[str, tuple[int, ...]]]) -> str:
    try:
        import torch
        import transformers
        from transformers import VibeVoiceAsrConfig, VibeVoiceAsrForConditionalGeneration
    except Exception as exc:  # transformers/torch absent: the check is optional
        return f"skipped (transformers not importable: {exc})"
    cfg = {k: v for k, v in config.items() if k not in ("architectures", "dtype", "transformers_version")}
    with torch.device("meta"):
        model = VibeVoiceAsrForConditionalGeneration(VibeVoiceAsrConfig(**cfg))

    def hub(mem: str) -> str:
        if mem == "lm_head.weight":
            return "language_model.lm_head.weight"
        if mem.startswith("model.language_model."):
            return "language_model.model." + mem[len("model.language_model."):]
        return mem[len("model."):]

    expected = {hub(k): tuple(v.shape) for k, v in model.state_dict().items()}
    mine = dict(tensors)
    if expected != mine:
        missing = sorted(set(expected) - set(mine))[:5]
        extra = sorted(set(mine) - set(expected))[:5]
        wrong = sorted(k for k in set(mine) & set(expected) if mine[k] != expected[k])[:5]
        raise SystemExit(f"tensor list differs from transformers: missing {missing}, extra {extra}, shape {wrong}")
    return f"matches transformers {transformers.__version__} ({len(expected)} tensors)"


def to_bf16_bytes(x: np.ndarray) -> bytes:
    """float32 -> bfloat16 (round to nearest even), little-endian bytes."""
    u = x.astype(np.float32, copy=False).view(np.uint32)
    u = u + (np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1)))
    return (u >> np.uint32(16)).astype("<u2").tobytes()


BLOCK = 1 << 24  # values per random block (64 MB of float32)


def write_tensor_values(fh, name: str, numel: int, rng: np.random.Generator) -> None:
    is_norm = name.endswith("norm.weight") or name.endswith("layernorm.weight")
    done = 0
    while done < numel:
        n = min(BLOCK, numel - done)
        v = rng.standard_normal(n, dtype=np.float32)
        v *= np.float32(0.02)
        if is_norm:
            v += np.float32(1.0)
        fh.write(to_bf16_bytes(v))
        done += n


def plan_shards(tensors, max_bytes: int) -> list[list[tuple[str, tuple[int, ...]]]]:
    shards, current, size = [], [], 0
    for name, shape in tensors:
        nbytes = math.prod(shape) * 2
        if current and size + nbytes > max_bytes:
            shards.append(current)
            current, size = [], 0
        current.append((name, shape))
        size += nbytes
    if current:
        shards.append(current)
    return shards


def safetensors_header(entries) -> bytes:
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, shape in entries:
        nbytes = math.prod(shape) * 2
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * ((8 - len(raw) % 8) % 8)
    return struct.pack("<Q", len(raw)) + raw


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="output directory (created; existing shard files are overwritten)")
    ap.add_argument("--tokenizer", type=Path, help="tokenizer.json to copy beside the weights (e.g. Qwen2.5-7B's)")
    ap.add_argument("--layers", type=int, default=28, help="decoder layers (default 28 = the real model)")
    ap.add_argument("--max-shard-gb", type=float, default=4.0, help="largest shard in GB (default 4)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")
    args = ap.parse_args()
    if args.layers < 1:
        ap.error("--layers must be >= 1")
    if args.tokenizer is not None and not args.tokenizer.is_file():
        ap.error(f"--tokenizer {args.tokenizer}: no such file")

    config = full_config(args.layers)
    tensors = tensor_list(config)
    params = sum(math.prod(s) for _, s in tensors)
    shards = plan_shards(tensors, int(args.max_shard_gb * 1e9))
    total_bytes = params * 2
    print(f"{len(tensors)} tensors, {params / 1e9:.3f} B parameters, {total_bytes / 1e9:.2f} GB bf16, "
          f"{len(shards)} shard(s)")
    print(f"tensor list: {check_against_transformers(config, tensors)}")
    names = [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
    for fname, entries in zip(names, shards):
        print(f"  {fname}: {len(entries)} tensors, {sum(math.prod(s) for _, s in entries) * 2 / 1e9:.2f} GB")
    if args.dry_run:
        return

    free = shutil.disk_usage(args.out.parent if args.out.parent.exists() else Path(".")).free
    if free < total_bytes * 1.02:
        sys.exit(f"not enough disk space: need {total_bytes / 1e9:.1f} GB, {free / 1e9:.1f} GB free")
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    weight_map = {}
    t0 = time.time()
    written = 0
    for fname, entries in zip(names, shards):
        path = args.out / fname
        with open(path, "wb") as fh:
            fh.write(safetensors_header(entries))
            for name, shape in entries:
                write_tensor_values(fh, name, math.prod(shape), rng)
                weight_map[name] = fname
                written += math.prod(shape) * 2
        print(f"  wrote {fname} ({path.stat().st_size / 1e9:.2f} GB), {written / 1e9:.1f}/{total_bytes / 1e9:.1f} GB, "
              f"{time.time() - t0:.0f} s", flush=True)

    index = {"metadata": {"total_parameters": params, "total_size": total_bytes}, "weight_map": weight_map}
    (args.out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
    (args.out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (args.out / "generation_config.json").write_text(json.dumps(GENERATION_CONFIG, indent=2) + "\n")
    if args.tokenizer is not None:
        shutil.copyfile(args.tokenizer, args.out / "tokenizer.json")
    print(f"done in {time.time() - t0:.0f} s: {args.out}")


if __name__ == "__main__":
    main()
