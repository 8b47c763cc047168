#!/usr/bin/env python3
"""Side by side with llama.cpp on the same decoder weights: speed (prefill, decode) and fidelity (KL to the bf16 weights).

A development script (CI never runs it). Needs `llama-cpp-python` built from source for this CPU
(`CMAKE_ARGS="-DGGML_NATIVE=ON" pip install --no-binary llama-cpp-python llama-cpp-python`), `gguf` and `numpy`,
and a release build of vibevoice-asr (`swift build -c release`). On a virtual machine whose CPU reports AMX but
does not let a process use it (a general protection fault at `ldtilecfg` in ggml_backend_amx_mul_mat, seen on a
2-vCPU Xeon host of this project), build without AMX instead: `-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON
-DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX_VNNI=ON -DGGML_AVX512=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON
-DGGML_AVX512_VBMI=ON -DGGML_BMI2=ON` (the AMX options stay off).

Steps (each cached in --work; delete a file to redo it):
 1. export   the checkpoint's Qwen2 decoder (HF Hub layout, bf16) as a GGUF in llama.cpp's qwen2 naming, with the
             tokenizer from tokenizer.json (the vocabulary padded to the model's 152064 rows), bf16 matrices, f32 norms
             and biases; written from memory-mapped shards, so it needs little RAM.
 2. quantise with llama.cpp's own quantiser (llama_model_quantize) to Q8_0 and Q4_0, `pure` (every matrix, the token
             embedding and the output head in the one format), like `vibevoice-asr quantize --to q8_0|q4_0`.
 3. speed    prompt of --prompt-tokens tokens (default 513 = the 60 s prompt) and --decode greedy steps (default 24),
             --threads threads, --rounds rounds with the contenders alternated: llama.cpp bf16/Q8_0/Q4_0 and ours
             (`vibevoice-asr bench --no-encode --json` on the stored checkpoint and its quantised copies). Each
             contender's weight files are read once just before its timing (the files together exceed the RAM, so
             the previous contender's pages would otherwise push this one's out), and each timing records its
             major page faults (`major_page_faults` in --json: near 0 when the weights stayed in memory).
 4. fidelity one text-only sequence of --fidelity-tokens ids teacher-forced through every contender; each one's
             next-token distributions against OUR bf16 logits (mean KL, top-1 agreement, largest logit error). llama.cpp
             bf16 against ours is the sanity row (same weights, so it should be ~0).

Usage:
  python scripts/bench_llamacpp.py --model /work/models/full --quantized q8_0=/work/models/full-q8_0 \
      --quantized q4_0=/work/models/full-q4_0 --work /work/models/gguf [--rounds 2] [--json out.json]
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import struct
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".build" / "release" / "vibevoice-asr"


# ---------------------------------------------------------------- export

def read_safetensors_index(model: Path) -> dict[str, tuple[Path, dict]]:
    index = model / "model.safetensors.index.json"
    files = sorted(set(json.loads(index.read_text())["weight_map"].values())) if index.exists() else ["model.safetensors"]
    out = {}
    for f in files:
        path = model / f
        with open(path, "rb") as fh:
            n = struct.unpack("<Q", fh.read(8))[0]
            header = json.loads(fh.read(n))
        base = 8 + n
        for name, info in header.items():
            if name == "__metadata__":
                continue
            info = dict(info)
            info["base"] = base
            out[name] = (path, info)
    return out


def tensor_bytes(path: Path, info: dict) -> np.ndarray:
    begin, end = info["data_offsets"]
    return np.memmap(path, dtype=np.uint8, mode="r", offset=info["base"] + begin, shape=(end - begin,))


def gguf_name(hf: str) -> str | None:
    # transformers' in-memory spelling (a re-saved checkpoint) maps onto the Hub file's.
    if hf.startswith("model.language_model."):
        hf = "language_model.model." + hf[len("model.language_model."):]
    elif hf == "lm_head.weight":
        hf = "language_model.lm_head.weight"
    if hf == "language_model.model.embed_tokens.weight":
        return "token_embd.weight"
    if hf == "language_model.model.norm.weight":
        return "output_norm.weight"
    if hf == "language_model.lm_head.weight":
        return "output.weight"
    p = "language_model.model.layers."
    if not hf.startswith(p):
        return None
    layer, rest = hf[len(p):].split(".", 1)
    table = {
        "input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
        "self_attn.q_proj.weight": "attn_q.weight", "self_attn.q_proj.bias": "attn_q.bias",
        "self_attn.k_proj.weight": "attn_k.weight", "self_attn.k_proj.bias": "attn_k.bias",
        "self_attn.v_proj.weight": "attn_v.weight", "self_attn.v_proj.bias": "attn_v.bias",
        "self_attn.o_proj.weight": "attn_output.weight", "mlp.gate_proj.weight": "ffn_gate.weight",
        "mlp.up_proj.weight": "ffn_up.weight", "mlp.down_proj.weight": "ffn_down.weight",
    }
    return f"blk.{layer}.{table[rest]}" if rest in table else None


def export_gguf(model: Path, out: Path) -> None:
    import gguf

    config = json.loads((model / "config.json").read_text())
    text = config["text_config"]
    tok = json.loads((model / "tokenizer.json").read_text())
    vocab_size = text["vocab_size"]
    tokens = [f"[PAD{i}]" for i in range(vocab_size)]
    types = [gguf.TokenType.UNUSED] * vocab_size
    for t, i in tok["model"]["vocab"].items():
        tokens[i], types[i] = t, gguf.TokenType.NORMAL
    for a in tok["added_tokens"]:
        tokens[a["id"]] = a["content"]
        types[a["id"]] = gguf.TokenType.CONTROL if a["special"] else gguf.TokenType.USER_DEFINED
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]

    w = gguf.GGUFWriter(str(out) + ".partial", "qwen2")
    w.add_name("vibevoice-asr decoder")
    w.add_context_length(32768)
    w.add_embedding_length(text["hidden_size"])
    w.add_block_count(text["num_hidden_layers"])
    w.add_feed_forward_length(text["intermediate_size"])
    w.add_head_count(text["num_attention_heads"])
    w.add_head_count_kv(text["num_key_value_heads"])
    head_dim = text.get("head_dim") or text["hidden_size"] // text["num_attention_heads"]
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    rope = text.get("rope_parameters", {}).get("rope_theta", text.get("rope_theta", 1e6))
    w.add_rope_freq_base(float(rope))
    w.add_layer_norm_rms_eps(float(text["rms_norm_eps"]))
    w.add_file_type(gguf.LlamaFileType.MOSTLY_BF16 if any(i["dtype"] == "BF16" for _, i in read_safetensors_index(model).values())
                    else gguf.LlamaFileType.ALL_F32)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(151643)
    w.add_eos_token_id(151643)
    w.add_add_bos_token(False)

    for name, (path, info) in sorted(read_safetensors_index(model).items()):
        g = gguf_name(name)
        if g is None:
            continue
        raw = tensor_bytes(path, info)
        shape = info["shape"]
        if info["dtype"] == "F32":
            w.add_tensor(g, np.ascontiguousarray(raw.view(np.float32).reshape(shape)))
            continue
        assert info["dtype"] == "BF16", f"{name}: expected BF16 or F32, found {info['dtype']}"
        if len(shape) == 1:   # norms and biases in f32, as llama.cpp's converter writes them
            f32 = (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
            w.add_tensor(g, np.ascontiguousarray(f32))
        else:
            w.add_tensor(g, raw.reshape(shape[0], shape[1] * 2), raw_dtype=gguf.GGMLQuantizationType.BF16)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file(progress=True)
    w.close()
    os.replace(str(out) + ".partial", out)


def llama_quantize(src: Path, dst: Path, ftype: int, threads: int) -> None:
    from llama_cpp import llama_cpp
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = threads
    params.pure = True
    rc = llama_cpp.llama_model_quantize(str(src).encode(), (str(dst) + ".partial").encode(), ctypes.byref(params))
    if rc != 0:
        sys.exit(f"llama_model_quantize failed ({rc}) for {dst}")
    os.replace(str(dst) + ".partial", dst)


# ---------------------------------------------------------------- llama.cpp runs

def llama_open(path: Path, threads: int, logits_all: bool, n_ctx: int):
    from llama_cpp import Llama
    return Llama(model_path=str(path), n_ctx=n_ctx, n_batch=512, n_ubatch=512, n_threads=threads,
                 n_threads_batch=threads, logits_all=logits_all, verbose=False, use_mmap=True)


def last_logits(llm) -> np.ndarray:
    # Without logits_all, llama-cpp-python keeps no scores: read the last row from the context.
    return np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(llm.n_vocab(),))


def warm(paths: list[Path]) -> None:
    """Reads a contender's weight files once, just before its timing, so that neither side pays for pages the
    other's files pushed out of the page cache (the machine holds only some of the ~40 GB of files at once)."""
    for path in paths:
        with open(path, "rb", buffering=0) as f:
            while f.read(16 << 20):
                pass


def major_faults(who: int) -> int:
    return resource.getrusage(who).ru_majflt


def llama_speed(path: Path, prompt: list[int], decode: int, threads: int) -> dict:
    warm([path])
    faults = major_faults(resource.RUSAGE_SELF)
    llm = llama_open(path, threads, False, len(prompt) + decode + 16)
    llm.eval(prompt[:8])                     # warm the weights' pages once, outside the timings
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(prompt)
    prefill = time.perf_counter() - t0
    tok = int(np.argmax(last_logits(llm)))
    t1 = time.perf_counter()
    for _ in range(decode):
        llm.eval([tok])
        tok = int(np.argmax(last_logits(llm)))
    dec = time.perf_counter() - t1
    del llm
    return {"prefill_tokens_per_s": len(prompt) / prefill, "decode_s_per_token": dec / decode,
            "major_page_faults": major_faults(resource.RUSAGE_SELF) - faults}


def llama_logits(path: Path, ids: list[int], threads: int) -> np.ndarray:
    llm = llama_open(path, threads, True, len(ids) + 16)
    llm.eval(ids)
    out = np.array(llm.scores[: len(ids)], dtype=np.float32)
    del llm
    return out


# ---------------------------------------------------------------- ours

def ours_speed(model: Path, seconds: float, decode: int, threads: int, extra: list[str]) -> dict:
    warm(sorted(model.glob("*.safetensors")))
    faults = major_faults(resource.RUSAGE_CHILDREN)
    run = subprocess.run([str(BIN), "bench", "--model", str(model), "--seconds", str(seconds), "--tokens", str(decode),
                          "--threads", str(threads), "--no-encode", "--json"] + extra,
                         capture_output=True, text=True, check=True)
    r = json.loads(run.stdout)
    return {"prefill_tokens_per_s": r["prefill_tokens_per_s"], "decode_s_per_token": r["decode_s_per_token"],
            "prefill_tokens": r["prefill_tokens"], "peak_resident_bytes": r["peak_resident_bytes"],
            "int8_prefill": r["int8_prefill"],
            "major_page_faults": major_faults(resource.RUSAGE_CHILDREN) - faults}


def ours_fidelity(model: Path, quantized: dict[str, Path], ids_file: Path, dump: Path, threads: int) -> dict:
    args = [str(BIN), "fidelity", "--model", str(model), "--ids", str(ids_file), "--dump", str(dump), "--json",
            "--weights", "", "--threads", str(threads), "--int8-prefill"]
    for q in quantized.values():
        args += ["--quantized", str(q)]
    run = subprocess.run(args, capture_output=True, text=True, check=True)
    return json.loads(run.stdout)


def compare(ref: np.ndarray, cand: np.ndarray) -> dict:
    ref = ref.astype(np.float64)
    cand = cand.astype(np.float64)
    lr = ref - ref.max(1, keepdims=True)
    lr -= np.log(np.exp(lr).sum(1, keepdims=True))
    lc = cand - cand.max(1, keepdims=True)
    lc -= np.log(np.exp(lc).sum(1, keepdims=True))
    kl = (np.exp(lr) * (lr - lc)).sum(1)
    return {"mean_kl": float(kl.mean()), "max_kl": float(kl.max()),
            "top1_agreement": float((ref.argmax(1) == cand.argmax(1)).mean()),
            "max_logit_error": float(np.abs(ref - cand).max())}


# ---------------------------------------------------------------- main

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, required=True, help="bf16 checkpoint (HF Hub layout)")
    ap.add_argument("--quantized", action="append", default=[], help="FORMAT=DIR of our quantised copies")
    ap.add_argument("--work", type=Path, required=True, help="where the GGUF files are kept")
    ap.add_argument("--prompt-tokens", type=int, default=513)
    ap.add_argument("--decode", type=int, default=24)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--fidelity-tokens", type=int, default=256)
    ap.add_argument("--formats", default="bf16,q8_0,q4_0", help="comma-separated formats to time")
    ap.add_argument("--prefill", choices=["auto", "integer", "float"], default="auto",
                    help="our prefill for the quantised formats (bench --prefill; auto, our default, is integer on the "
                         "AVX-512 VNNI kernel path); the fidelity rows cover both")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-fidelity", action="store_true")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    if not BIN.exists():
        sys.exit(f"{BIN} not found: run `swift build -c release` first")
    from llama_cpp import llama_cpp

    quantized = {k: Path(v) for k, v in (q.split("=", 1) for q in a.quantized)}
    a.work.mkdir(parents=True, exist_ok=True)
    gguf_bf16 = a.work / "decoder-bf16.gguf"
    if not gguf_bf16.exists():
        print(f"exporting {gguf_bf16} ...", flush=True)
        export_gguf(a.model, gguf_bf16)
    ggufs = {"bf16": gguf_bf16}
    for fmt, ftype in [("q8_0", llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0), ("q4_0", llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0)]:
        path = a.work / f"decoder-{fmt}.gguf"
        if not path.exists():
            print(f"quantising {path} with llama.cpp ...", flush=True)
            llama_quantize(gguf_bf16, path, ftype, a.threads)
        ggufs[fmt] = path
    ours_dirs = {"bf16": a.model, **quantized}

    results: dict = {"prompt_tokens": a.prompt_tokens, "decode_steps": a.decode, "threads": a.threads,
                     "ours_prefill": a.prefill, "speed": {}, "fidelity": {}}
    formats = a.formats.split(",")
    if not a.skip_speed:
        rng = np.random.default_rng(0)
        prompt = [int(t) for t in rng.integers(0, 151643, a.prompt_tokens)]
        seconds = (a.prompt_tokens - 63) * 3200 / 24000          # our synthetic prompt: 63 text ids + audio slots
        runs: dict[str, list[dict]] = {}
        for r in range(a.rounds):
            for fmt in formats:
                if fmt in ggufs:
                    print(f"round {r + 1}: llama.cpp {fmt} ...", flush=True)
                    runs.setdefault(f"llama.cpp {fmt}", []).append(llama_speed(ggufs[fmt], prompt, a.decode, a.threads))
                if fmt in ours_dirs:
                    print(f"round {r + 1}: ours {fmt} ...", flush=True)
                    extra = ["--prefill", a.prefill] if fmt != "bf16" else []
                    runs.setdefault(f"ours {fmt}", []).append(ours_speed(ours_dirs[fmt], seconds, a.decode, a.threads, extra))
        results["speed"] = runs

    if not a.skip_fidelity:
        rng = np.random.default_rng(1)
        ids = [int(t) for t in rng.integers(0, 151643, a.fidelity_tokens)]
        ids_file = a.work / "fidelity-ids.json"
        ids_file.write_text(json.dumps(ids))
        dump = a.work / "fidelity-dump"
        print("fidelity: ours ...", flush=True)
        ours = ours_fidelity(a.model, quantized, ids_file, dump, a.threads)
        vocab = json.loads((dump / "ids.json").read_text())["vocab"]
        ref = np.fromfile(dump / "logits-stored.f32", dtype=np.float32).reshape(len(ids), vocab)
        for r in ours["results"]:
            base, plus, suffix = r["weights"].partition("+")   # "+int8-prefill": the integer prefill's row
            name = next((k for k, v in quantized.items() if v.name == base), base) + plus + suffix
            results["fidelity"][f"ours {name}"] = {k: r[k] for k in ["mean_kl", "max_kl", "top1_agreement", "max_logit_error"]}
        for fmt, path in ggufs.items():
            print(f"fidelity: llama.cpp {fmt} ...", flush=True)
            results["fidelity"][f"llama.cpp {fmt}"] = compare(ref, llama_logits(path, ids, a.threads))

    report(results)
    if a.json:
        a.json.write_text(json.dumps(results, indent=2))


def report(results: dict) -> None:
    speed = results["speed"]

    def rng(values: list[float], fmt: str) -> str:
        lo, hi = min(values), max(values)
        return (fmt % lo) if abs(hi - lo) < 1e-12 else f"{fmt % lo}-{fmt % hi}"

    if speed:
        print(f"\nspeed: {results['prompt_tokens']}-token prompt, {results['decode_steps']} decode steps, "
              f"{results['threads']} threads, ranges over {len(next(iter(speed.values())))} alternated rounds"
              + f", ours quantised with --prefill {results.get('ours_prefill', 'float')}")
        print(f"{'format':6}  {'llama.cpp prefill':>18}  {'ours prefill':>14}  {'ratio':>6}  "
              f"{'llama.cpp decode':>18}  {'ours decode':>14}  {'speed ratio':>11}")
        for fmt in ["bf16", "q8_0", "q4_0"]:
            l, o = speed.get(f"llama.cpp {fmt}"), speed.get(f"ours {fmt}")
            if not l or not o:
                continue
            lp = [x["prefill_tokens_per_s"] for x in l]
            op = [x["prefill_tokens_per_s"] for x in o]
            ld = [x["decode_s_per_token"] for x in l]
            od = [x["decode_s_per_token"] for x in o]
            print(f"{fmt:6}  {rng(lp, '%.1f') + ' tok/s':>18}  {rng(op, '%.1f') + ' tok/s':>14}  "
                  f"{np.median(op) / np.median(lp):6.2f}  {rng(ld, '%.3f') + ' s/tok':>18}  {rng(od, '%.3f') + ' s/tok':>14}  "
                  f"{np.median(ld) / np.median(od):11.2f}")
    fid = results["fidelity"]
    if fid:
        print("\nfidelity against our bf16 logits (text-only teacher-forced sequence)")
        print(f"{'contender':24}  {'mean KL':>10}  {'max KL':>10}  {'top-1':>7}  {'max |dlogit|':>12}")
        for name, r in fid.items():
            print(f"{name:24}  {r['mean_kl']:10.3e}  {r['max_kl']:10.3e}  {100 * r['top1_agreement']:6.2f}%  {r['max_logit_error']:12.4f}")


if __name__ == "__main__":
    main()
