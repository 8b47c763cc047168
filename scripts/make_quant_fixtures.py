#!/usr/bin/env python3
"""Reference block quantisation for the engine's Q8_0/Q4_0 tests, from llama.cpp's own Python package.

`gguf.quants` (PyPI package `gguf`, llama.cpp's gguf-py) implements Q8_0 and Q4_0 "with bit-exact same results
as the reference implementation in ggml-quants.c". This script quantises a few small matrices with it and writes
Tests/Fixtures/quant/blocks.safetensors in the engine's on-disk layout (separate payload and scale planes):

  <case>.x              F32  [rows, cols]          the source values (exactly representable in the source dtype)
  <case>.q8_0           I8   [rows, nb*32]         Q8_0 payload (nb = ceil(cols/32); the last block zero-padded)
  <case>.q8_0_scale     F16  [rows, nb]
  <case>.q4_0           U8   [rows, nb*16]         Q4_0 payload: byte j = value j (low nibble), value j+16 (high), q+8
  <case>.q4_0_scale     F16  [rows, nb]

Cases: random normal values (std 0.02, like a decoder matrix) with a column count that is not a multiple of 32,
blocks of zeros, blocks whose largest magnitude is negative, ties, tiny (f16-subnormal scale) and large values,
and bf16-representable values (the checkpoint's dtype). Deterministic: rerunning gives identical bytes.

Usage: python scripts/make_quant_fixtures.py [--out Tests/Fixtures/quant/blocks.safetensors]
"""
from __future__ import annotations

import argparse
import json
import struct
from pathlib import Path

from importlib.metadata import version

import numpy as np
from gguf.quants import quantize
from gguf import GGMLQuantizationType as QT

QK = 32


def bf16_round(x: np.ndarray) -> np.ndarray:
    """Round f32 to bf16 (nearest even) and back, so the values are exactly what a bf16 checkpoint holds."""
    u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return (u.astype(np.uint32) << 16).view(np.float32)


def cases(rng: np.random.Generator) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    out["normal_37x53"] = rng.normal(0, 0.02, (37, 53)).astype(np.float32)
    out["bf16_9x96"] = bf16_round(rng.normal(0, 0.05, (9, 96)).astype(np.float32))
    edge = rng.normal(0, 1, (6, 64)).astype(np.float32)
    edge[0, :32] = 0                                   # an all-zero block
    edge[1, 5] = -7.5                                  # the largest magnitude is negative
    edge[2, 0], edge[2, 1] = 3.0, -3.0                 # a tie between +max and -max
    edge[3, :] = rng.normal(0, 1e-6, 64)               # scales below the f16 normal range
    edge[4, :] = rng.normal(0, 3000, 64)               # large values
    edge[5, 32:] = 1.0                                 # a constant block
    out["edge_6x64"] = edge
    out["one_row_5"] = rng.uniform(-1, 1, (1, 5)).astype(np.float32)
    return out


def quant_planes(x: np.ndarray, qtype: QT) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = x.shape
    nb = (cols + QK - 1) // QK
    padded = np.zeros((rows, nb * QK), np.float32)
    padded[:, :cols] = x
    blocks = quantize(padded, qtype).reshape(rows, nb, -1)        # ggml blocks: f16 scale, then payload
    scales = blocks[:, :, :2].copy().view(np.float16).reshape(rows, nb)
    payload = blocks[:, :, 2:].reshape(rows, -1)
    if qtype == QT.Q8_0:
        payload = payload.view(np.int8)
    return np.ascontiguousarray(payload), np.ascontiguousarray(scales)


def write_safetensors(path: Path, tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    names = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16", np.dtype(np.int8): "I8", np.dtype(np.uint8): "U8"}
    header: dict[str, object] = {"__metadata__": metadata}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        a = tensors[name]
        raw = a.tobytes()
        header[name] = {"dtype": names[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "Tests/Fixtures/quant/blocks.safetensors"))
    args = ap.parse_args()
    rng = np.random.default_rng(20261201)
    tensors: dict[str, np.ndarray] = {}
    for name, x in cases(rng).items():
        tensors[f"{name}.x"] = x
        for qtype, tag in [(QT.Q8_0, "q8_0"), (QT.Q4_0, "q4_0")]:
            payload, scales = quant_planes(x, qtype)
            tensors[f"{name}.{tag}"] = payload
            tensors[f"{name}.{tag}_scale"] = scales
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_safetensors(out, tensors, {"source": f"gguf.quants (llama.cpp gguf-py) {version('gguf')}"})
    print(f"wrote {out} ({out.stat().st_size} bytes, {len(tensors)} tensors)")


if __name__ == "__main__":
    main()
