#!/usr/bin/env python3
"""Build the engine parity fixtures under Tests/Fixtures/engine/.

Developer tool, never run by CI. It needs Python 3.11 with torch, transformers==5.23.0, tokenizers,
safetensors, numpy and soundfile, and no network.

Each case is a TINY random VibeVoice-ASR checkpoint (same architecture as the released model, toy sizes)
plus the outputs transformers 5.23.0 computes for it on a synthetic clip:

    Tests/Fixtures/engine/<case>/model/...          checkpoint (config.json, safetensors, tokenizer.json)
    Tests/Fixtures/engine/<case>/tokenizer.json     only for the original layout (that layout ships none)
    Tests/Fixtures/engine/<case>/reference.safetensors
    Tests/Fixtures/engine/<case>/meta.json
    Tests/Fixtures/engine/<case>/audio.wav          24 kHz mono float32, the raw clip

The reference run is deterministic (`sample=False`: no sigma-VAE noise) and computed in float32 on the exact
values stored in the checkpoint (bf16 tensors are widened to f32; f32 tensors are used as they are).

Usage:  python scripts/make_engine_fixtures.py [--out Tests/Fixtures/engine] [--case NAME ...]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import struct
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import soundfile
import torch
import transformers
from safetensors import safe_open
from safetensors.torch import save_file
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

REQUIRED_TRANSFORMERS = "5.23.0"
if transformers.__version__ != REQUIRED_TRANSFORMERS:
    sys.exit(f"this script is pinned to transformers=={REQUIRED_TRANSFORMERS}, found {transformers.__version__}")

from transformers import (  # noqa: E402
    VibeVoiceAcousticTokenizerFeatureExtractor,
    VibeVoiceAsrConfig,
    VibeVoiceAsrForConditionalGeneration,
    VibeVoiceAsrProcessor,
)

SAMPLE_RATE = 24_000
HOP = 3200
MAX_NEW_TOKENS = 24
MIN_MARGIN = 1e-2

# --------------------------------------------------------------------------------------------------------------
# Tokenizer: a tiny byte-level BPE in the Qwen2 style
# --------------------------------------------------------------------------------------------------------------

SPLIT_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
    "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
    "<|image_pad|>", "<|video_pad|>",
]
NON_SPECIAL_ADDED = [
    "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
    "<|repo_name|>", "<|file_sep|>",
]
NUM_MERGES = 90
EXTRA_MODEL_IDS = 16  # model vocab = tokenizer size + this (ids without text, like the real checkpoint)

SYSTEM_PROMPT = "You are a helpful assistant that transcribes audio input into text output in JSON format."
KEYS = "Start time, End time, Speaker ID, Content"

MERGE_CORPUS = [
    SYSTEM_PROMPT,
    f"This is a 12.34 seconds audio, please transcribe it with these keys: {KEYS}",
    f"This is a 5.86 seconds audio, with extra info: Alice, Bob\n\nPlease transcribe it with these keys: {KEYS}",
    "system\nuser\nassistant\n",
    '[{"Start":0.0,"End":7.56,"Speaker":0,"Content":"Mr. Quilter is the apostle of the middle classes."}]',
    '{"Start":7.56,"End":12.1,"Speaker":1,"Content":"and we are glad to welcome his gospel, the budget."}',
    "The quick brown fox jumps over the lazy dog. That is the thing they want in the meeting today.",
]


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable unicode character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def qwen2_pre_tokenizer():
    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(SPLIT_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ]
    )


def learn_merges(num_merges: int, byte_tokens: list[str]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Plain greedy BPE on MERGE_CORPUS (ties broken by the pair's text), deterministic."""
    pre = qwen2_pre_tokenizer()
    words: Counter[tuple[str, ...]] = Counter()
    for text in MERGE_CORPUS:
        for piece, _ in pre.pre_tokenize_str(text):
            words[tuple(piece)] += 1
    vocab = {tok: i for i, tok in enumerate(byte_tokens)}
    merges: list[tuple[str, str]] = []
    while len(merges) < num_merges:
        pairs: Counter[tuple[str, str]] = Counter()
        for word, count in words.items():
            for a, b in zip(word, word[1:]):
                pairs[(a, b)] += count
        candidates = [(-c, p) for p, c in pairs.items() if p[0] + p[1] not in vocab]
        if not candidates:
            break
        _, best = min(candidates)
        merged = best[0] + best[1]
        merges.append(best)
        vocab[merged] = len(vocab)
        new_words: Counter[tuple[str, ...]] = Counter()
        for word, count in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(merged)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            new_words[tuple(out)] += count
        words = new_words
    return vocab, merges


def build_tokenizer() -> Tokenizer:
    table = bytes_to_unicode()
    byte_tokens = [table[b] for b in range(256)]  # id == byte value
    vocab, merges = learn_merges(NUM_MERGES, byte_tokens)
    tok = Tokenizer(
        models.BPE(
            vocab=vocab, merges=merges, dropout=None, unk_token=None, continuing_subword_prefix="",
            end_of_word_suffix="", fuse_unk=False, byte_fallback=False,
        )
    )
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = qwen2_pre_tokenizer()
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in NON_SPECIAL_ADDED])
    base = len(vocab)
    for i, t in enumerate(SPECIAL_TOKENS + NON_SPECIAL_ADDED):
        assert tok.token_to_id(t) == base + i, (t, tok.token_to_id(t), base + i)
    return tok


def write_tokenizer_json(tok: Tokenizer, path: Path, merges_as_strings: bool) -> None:
    """tokenizers >= 0.20 writes merges as [a, b] pairs; older files (e.g. Qwen2.5's) use "a b" strings."""
    data = json.loads(tok.to_str())
    if merges_as_strings:
        data["model"]["merges"] = [f"{a} {b}" for a, b in data["model"]["merges"]]
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    reloaded = Tokenizer.from_file(str(path))
    probe = "<|im_start|>user\nThis is a 3.35 seconds audio, with extra info: Ünïcode ok\n\n<|im_end|>\n"
    assert reloaded.encode(probe, add_special_tokens=False).ids == tok.encode(probe, add_special_tokens=False).ids


# --------------------------------------------------------------------------------------------------------------
# Prompt (SPEC section 6)
# --------------------------------------------------------------------------------------------------------------


def build_prompt(num_audio_tokens: int, raw_samples: int, context: str | None) -> str:
    duration = f"{raw_samples / SAMPLE_RATE:.2f}"
    ctx = (context or "").strip()
    if ctx:
        suffix = (
            f"This is a {duration} seconds audio, with extra info: {ctx}\n\n"
            f"Please transcribe it with these keys: {KEYS}"
        )
    else:
        suffix = f"This is a {duration} seconds audio, please transcribe it with these keys: {KEYS}"
    return (
        f"<|im_start|>system\n{SYSTEM_PROMPT}<|im_end|>\n"
        f"<|im_start|>user\n<|object_ref_start|>{'<|box_start|>' * num_audio_tokens}<|object_ref_end|>\n"
        f"{suffix}<|im_end|>\n"
    )


# The chat template of microsoft/VibeVoice-ASR-HF (from transformers' convert_vibevoice_asr_to_hf.py).
CHAT_TEMPLATE = """{%- set system_prompt = system_prompt | default("You are a helpful assistant that transcribes audio input into text output in JSON format.") -%}
<|im_start|>system
{{ system_prompt }}<|im_end|>
{%- set audio_token = audio_token | default("<|box_start|>") -%}
{%- set audio_start_token = "<|object_ref_start|>" -%}
{%- set audio_end_token = "<|object_ref_end|>" -%}
{%- for message in messages -%}
    {%- if message['role'] == 'user' -%}
{{ '\\n' }}<|im_start|>user{{ '\\n' }}{%- set text_items = message['content'] | selectattr('type', 'equalto', 'text') | list -%}
        {%- set context_text = text_items[0]['text'] if text_items else none -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'audio' -%}
{{ audio_start_token }}{{ audio_token }}{{ audio_end_token }}{{ "\\n" }}{%- if context_text -%}
This is a <|AUDIO_DURATION|> seconds audio, with extra info: {{ context_text }}

Please transcribe it with these keys: Start time, End time, Speaker ID, Content{%- else -%}
This is a <|AUDIO_DURATION|> seconds audio, please transcribe it with these keys: Start time, End time, Speaker ID, Content{%- endif -%}
            {%- endif -%}
        {%- endfor -%}
<|im_end|>{{ '\\n' }}
    {%- endif -%}
{%- endfor -%}"""


# --------------------------------------------------------------------------------------------------------------
# Audio
# --------------------------------------------------------------------------------------------------------------


def synth_audio(num_samples: int, seed: int, level: float, click: bool = False) -> np.ndarray:
    """Chirps, tone bursts and noise bursts separated by silence; deterministic for a seed."""
    rng = np.random.default_rng(seed)
    x = np.zeros(num_samples, dtype=np.float64)
    pos = int(0.15 * SAMPLE_RATE)
    while pos < num_samples:
        kind = rng.integers(0, 3)
        length = int(rng.uniform(0.25, 0.7) * SAMPLE_RATE)
        end = min(num_samples, pos + length)
        n = end - pos
        t = np.arange(n) / SAMPLE_RATE
        env = np.sin(np.pi * np.arange(n) / max(n - 1, 1)) ** 2
        if kind == 0:  # linear chirp
            f0, f1 = rng.uniform(150, 600), rng.uniform(800, 4000)
            dur = max(n / SAMPLE_RATE, 1e-3)
            seg = np.sin(2 * np.pi * (f0 * t + 0.5 * (f1 - f0) / dur * t * t))
        elif kind == 1:  # harmonic tone with vibrato
            f = rng.uniform(110, 330)
            phase = 2 * np.pi * f * t + 3.0 * np.sin(2 * np.pi * 5.0 * t)
            seg = sum(np.sin(k * phase) / k for k in range(1, 6))
        else:  # noise burst
            seg = rng.standard_normal(n)
        x[pos:end] += level * rng.uniform(0.3, 1.0) * env * seg
        pos = end + int(rng.uniform(0.05, 0.35) * SAMPLE_RATE)  # silence
    x += 1e-4 * rng.standard_normal(num_samples)  # faint floor
    if click:  # one loud click: after RMS normalisation the peak exceeds 1, so the peak guard acts
        x[num_samples // 3] = 40.0 * level
    return x.astype(np.float32)


def write_float_wav(path: Path, samples: np.ndarray) -> None:
    """24 kHz mono IEEE-float WAV (fmt + fact + data chunks). Written by hand because libsndfile adds a PEAK
    chunk with a timestamp, which would make the file differ on every run; read back with soundfile."""
    data = samples.astype("<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, SAMPLE_RATE, SAMPLE_RATE * 4, 4, 32)
    fact = struct.pack("<I", samples.shape[0])
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"fact" + struct.pack("<I", 4) + fact
            + b"data" + struct.pack("<I", len(data)) + data)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    info = soundfile.info(str(path))
    assert info.samplerate == SAMPLE_RATE and info.channels == 1 and info.subtype == "FLOAT", info


# --------------------------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------------------------


def make_config(spec: dict, tok: Tokenizer) -> VibeVoiceAsrConfig:
    text = dict(
        model_type="qwen2",
        vocab_size=tok.get_vocab_size(with_added_tokens=True) + EXTRA_MODEL_IDS,
        hidden_size=64,
        num_hidden_layers=2,
        intermediate_size=128,
        num_attention_heads=spec["heads"],
        num_key_value_heads=spec["kv_heads"],
        rms_norm_eps=1e-6,
        max_position_embeddings=4096,
        hidden_act="silu",
        tie_word_embeddings=False,
        rope_theta=spec["rope_theta"],
    )
    if spec.get("head_dim") is not None:
        text["head_dim"] = spec["head_dim"]

    def enc(hidden, depths, vae_std):
        return dict(
            channels=1, hidden_size=hidden, num_filters=2, kernel_size=7, depths=depths,
            downsampling_ratios=[2, 2, 4, 5, 5, 8], ffn_expansion=4, hidden_act="gelu", rms_norm_eps=1e-5,
            vae_std=vae_std,
        )

    return VibeVoiceAsrConfig(
        acoustic_tokenizer_encoder_config=enc(spec["acoustic_hidden"], spec["acoustic_depths"], 0.625),
        semantic_tokenizer_encoder_config=enc(spec["semantic_hidden"], spec["semantic_depths"], 0.0),
        text_config=text,
        audio_token_id=tok.token_to_id("<|box_start|>"),
        audio_bos_token_id=tok.token_to_id("<|object_ref_start|>"),
        audio_eos_token_id=tok.token_to_id("<|object_ref_end|>"),
        acoustic_tokenizer_chunk_size=spec["chunk_size"],
    )


def init_weights(model: torch.nn.Module, seed: int, bf16_names: callable) -> None:
    """Random weights with a sensible scale; tensors stored as bf16 are rounded to bf16 values."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            shape = p.shape
            if name.endswith("gamma"):  # layer scale: O(0.1..1) so the blocks contribute
                v = 0.1 + 0.7 * torch.rand(shape, generator=g)
            elif name.endswith("norm.weight") or "layernorm" in name:
                v = 1.0 + 0.1 * torch.randn(shape, generator=g)
            elif name.endswith("bias"):
                v = 0.05 * torch.randn(shape, generator=g)
            elif "embed_tokens" in name:
                v = 0.5 * torch.randn(shape, generator=g)
            elif p.ndim == 3:  # conv [out, in/groups, k]
                v = torch.randn(shape, generator=g) / math.sqrt(shape[1] * shape[2])
            elif name == "lm_head.weight":
                v = 1.5 * torch.randn(shape, generator=g) / math.sqrt(shape[1])
            elif p.ndim == 2:
                v = torch.randn(shape, generator=g) / math.sqrt(shape[1])
            else:
                raise ValueError(f"no init rule for {name} {tuple(shape)}")
            if bf16_names(name):
                v = v.to(torch.bfloat16).to(torch.float32)
            p.copy_(v)


# --------------------------------------------------------------------------------------------------------------
# Tensor names
# --------------------------------------------------------------------------------------------------------------


def hub_name(mem: str) -> str:
    """transformers in-memory name -> HF Hub file name (what save_pretrained writes in 5.23.0)."""
    if mem == "lm_head.weight":
        return "language_model.lm_head.weight"
    if mem.startswith("model.language_model."):
        return "language_model.model." + mem[len("model.language_model."):]
    assert mem.startswith("model."), mem
    return mem[len("model."):]


def original_name(mem: str) -> str:
    """transformers in-memory name -> microsoft/VibeVoice original name (SPEC 1.3, right column)."""
    if mem == "lm_head.weight" or mem.startswith("model.language_model."):
        return mem
    m = re.match(r"^model\.multi_modal_projector\.(acoustic|semantic)_(linear_1|linear_2|norm)\.(.*)$", mem)
    if m:
        part = {"linear_1": "fc1", "linear_2": "fc2", "norm": "norm"}[m.group(2)]
        return f"model.{m.group(1)}_connector.{part}.{m.group(3)}"
    m = re.match(r"^model\.(acoustic|semantic)_tokenizer_encoder\.(.*)$", mem)
    assert m, mem
    prefix, rest = f"model.{m.group(1)}_tokenizer.encoder.", m.group(2)

    def block(tail: str) -> str:
        return re.sub(r"^mixer\.conv\.", "mixer.conv.conv.conv.", tail)

    if rest.startswith("stem.conv.conv."):
        return prefix + "downsample_layers.0.0.conv.conv." + rest[len("stem.conv.conv."):]
    m2 = re.match(r"^stem\.stage\.(\d+)\.(.*)$", rest)
    if m2:
        return prefix + f"stages.0.{m2.group(1)}." + block(m2.group(2))
    m2 = re.match(r"^conv_layers\.(\d+)\.conv\.conv\.(.*)$", rest)
    if m2:
        return prefix + f"downsample_layers.{int(m2.group(1)) + 1}.0.conv.conv." + m2.group(2)
    m2 = re.match(r"^conv_layers\.(\d+)\.stage\.(\d+)\.(.*)$", rest)
    if m2:
        return prefix + f"stages.{int(m2.group(1)) + 1}.{m2.group(2)}." + block(m2.group(3))
    m2 = re.match(r"^head\.conv\.(.*)$", rest)
    if m2:
        return prefix + "head.conv.conv." + m2.group(1)
    raise ValueError(f"unmapped tensor {mem}")


# Independent forward mapping (the rules of transformers' convert_vibevoice_asr_to_hf.py, restated) used to
# check original_name: original -> Hub name.
_ORIGINAL_TO_HUB = [
    (r"^model\.language_model\.", "language_model.model."),
    (r"^lm_head\.", "language_model.lm_head."),
    (r"^model\.(acoustic|semantic)_tokenizer\.encoder\.downsample_layers\.0\.0\.conv\.", r"\1_tokenizer_encoder.stem.conv.conv."),
    (r"^model\.(acoustic|semantic)_tokenizer\.encoder\.stages\.0\.", r"\1_tokenizer_encoder.stem.stage."),
    (r"^model\.(acoustic|semantic)_tokenizer\.encoder\.downsample_layers\.(\d+)\.0\.conv\.", "DOWN"),
    (r"^model\.(acoustic|semantic)_tokenizer\.encoder\.stages\.(\d+)\.", "STAGE"),
    (r"^model\.(acoustic|semantic)_tokenizer\.encoder\.head\.conv\.", r"\1_tokenizer_encoder.head."),
    (r"mixer\.conv\.conv\.conv\.", "mixer.conv."),
    (r"\.conv\.conv\.conv\.", ".conv.conv."),
    (r"^model\.(acoustic|semantic)_connector\.fc1\.", r"multi_modal_projector.\1_linear_1."),
    (r"^model\.(acoustic|semantic)_connector\.fc2\.", r"multi_modal_projector.\1_linear_2."),
    (r"^model\.(acoustic|semantic)_connector\.norm\.", r"multi_modal_projector.\1_norm."),
]


def original_to_hub(name: str) -> str:
    for pattern, repl in _ORIGINAL_TO_HUB:
        m = re.search(pattern, name)
        if not m:
            continue
        if repl == "DOWN":
            repl = f"{m.group(1)}_tokenizer_encoder.conv_layers.{int(m.group(2)) - 1}.conv.conv."
        elif repl == "STAGE":
            repl = f"{m.group(1)}_tokenizer_encoder.conv_layers.{int(m.group(2)) - 1}.stage."
        name = re.sub(pattern, repl, name)
    return name


# --------------------------------------------------------------------------------------------------------------
# Reference run
# --------------------------------------------------------------------------------------------------------------


def run_reference(model, config, tok: Tokenizer, audio_raw: np.ndarray, context: str | None) -> dict:
    fe = VibeVoiceAcousticTokenizerFeatureExtractor()
    feats = fe(audio_raw, sampling_rate=SAMPLE_RATE, return_tensors="pt")
    input_values = feats["input_values"]  # [1, 1, T_padded]
    padding_mask = feats["padding_mask"]  # [1, T_padded]
    raw = audio_raw.shape[0]
    t_padded = input_values.shape[-1]
    n_audio = math.ceil(raw / HOP)
    assert t_padded == n_audio * HOP and int(padding_mask.sum()) == raw

    prompt = build_prompt(n_audio, raw, context)
    ids = tok.encode(prompt, add_special_tokens=False).ids
    input_ids = torch.tensor([ids], dtype=torch.long)
    assert int((input_ids == config.audio_token_id).sum()) == n_audio

    # capture the encoder outputs chunk by chunk, and the projector output
    captured: dict[str, list] = {"acoustic": [], "semantic": [], "projector": []}
    hooks = [
        model.model.acoustic_tokenizer_encoder.register_forward_hook(
            lambda m, a, o: captured["acoustic"].append(o.latents.detach().clone())),
        model.model.semantic_tokenizer_encoder.register_forward_hook(
            lambda m, a, o: captured["semantic"].append(o.latents.detach().clone())),
        model.model.multi_modal_projector.register_forward_hook(
            lambda m, a, o: captured["projector"].append(o.detach().clone())),
    ]
    with torch.no_grad():
        out = model(input_ids=input_ids, input_values=input_values, padding_mask=padding_mask, sample=False)
    for h in hooks:
        h.remove()
    n_chunks = math.ceil(t_padded / config.acoustic_tokenizer_chunk_size)
    assert len(captured["acoustic"]) == n_chunks == len(captured["semantic"]), (len(captured["acoustic"]), n_chunks)
    acoustic = torch.cat(captured["acoustic"], dim=1)[0]
    semantic = torch.cat(captured["semantic"], dim=1)[0]
    audio_embeds = captured["projector"][0][0]
    assert acoustic.shape[0] == n_audio and torch.equal(audio_embeds, out.audio_hidden_states)
    prompt_logits = out.logits[0]

    # one pass over the whole padded clip equals the chunked pass (causal convs + carried padding)
    with torch.no_grad():
        whole = model.model.acoustic_tokenizer_encoder(input_values).latents[0]
    chunk_vs_whole = float((whole - acoustic).abs().max())

    # the noise switch: sample=False must be deterministic, sample=True must not be
    with torch.no_grad():
        torch.manual_seed(1)
        noisy = model(input_ids=input_ids, input_values=input_values, padding_mask=padding_mask, sample=True).logits
    assert not torch.allclose(noisy[0], prompt_logits), "sample=True did not change the logits"

    # greedy generation
    with torch.no_grad():
        gen = model.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            input_values=input_values,
            padding_mask=padding_mask,
            sample=False,
            do_sample=False,
            max_new_tokens=MAX_NEW_TOKENS,
            eos_token_id=None,
            pad_token_id=tok.token_to_id("<|image_pad|>"),
            output_logits=True,
            return_dict_in_generate=True,
        )
    generated = gen.sequences[0, input_ids.shape[1]:]
    step_logits = torch.stack([l[0] for l in gen.logits])  # [G, V]
    assert generated.shape[0] == MAX_NEW_TOKENS
    assert torch.equal(step_logits.argmax(-1), generated)
    # step 0 of generate is the last prompt position; check generate ran without noise
    first_step_diff = float((step_logits[0] - prompt_logits[-1]).abs().max())
    assert first_step_diff < 1e-4, first_step_diff

    top2 = step_logits.topk(2, dim=-1).values
    margins = (top2[:, 0] - top2[:, 1]).contiguous()
    forbidden = {tok.token_to_id(t) for t in ("<|endoftext|>", "<|im_end|>", "<|box_start|>")}
    rejection = []
    if float(margins.min()) <= MIN_MARGIN:
        rejection.append(f"min margin {float(margins.min()):.2e}")
    if set(generated.tolist()) & forbidden:
        rejection.append("a stop or audio token was generated")
    if rejection:
        return dict(rejected="; ".join(rejection))

    # cross-check the KV-cached generate against full recomputation without a cache
    seq = input_ids
    recompute_max_diff = 0.0
    with torch.no_grad():
        for step in range(MAX_NEW_TOKENS):
            logits = model(input_ids=seq, input_values=input_values, padding_mask=padding_mask, sample=False,
                           use_cache=False).logits[0, -1]
            recompute_max_diff = max(recompute_max_diff, float((logits - step_logits[step]).abs().max()))
            nxt = int(logits.argmax())
            assert nxt == int(generated[step]), (step, nxt, int(generated[step]))
            seq = torch.cat([seq, torch.tensor([[nxt]])], dim=1)

    return dict(
        rejected=None,
        tensors={
            "audio_raw": torch.from_numpy(audio_raw.copy()),
            "input_values": input_values[0, 0].contiguous(),
            "acoustic_latents": acoustic.contiguous(),
            "semantic_latents": semantic.contiguous(),
            "audio_embeds": audio_embeds.contiguous(),
            "input_ids": input_ids[0].contiguous(),
            "prompt_logits": prompt_logits.contiguous(),
            "generated_ids": generated.to(torch.long).contiguous(),
            "step_margins": margins,
            "step_logits": step_logits.contiguous(),
        },
        prompt=prompt,
        n_audio=n_audio,
        n_chunks=n_chunks,
        checks=dict(
            chunked_vs_single_pass_acoustic_max_abs_diff=chunk_vs_whole,
            generate_step0_vs_prompt_last_max_abs_diff=first_step_diff,
            kv_cache_vs_recompute_max_abs_diff=recompute_max_diff,
        ),
        feature_extractor=feats,
    )


def processor_cross_check(tok: Tokenizer, tmp: Path, audio_raw: np.ndarray, context: str | None,
                          ref: dict) -> str:
    """Build the same prompt with transformers' VibeVoiceAsrProcessor and the checkpoint's chat template."""
    tmp.mkdir(parents=True, exist_ok=True)
    write_tokenizer_json(tok, tmp / "tokenizer.json", merges_as_strings=False)
    (tmp / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "Qwen2Tokenizer"}))
    hf_tok = transformers.AutoTokenizer.from_pretrained(str(tmp))
    processor = VibeVoiceAsrProcessor(
        feature_extractor=VibeVoiceAcousticTokenizerFeatureExtractor(), tokenizer=hf_tok, chat_template=CHAT_TEMPLATE
    )
    stripped = (context or "").strip() or None  # the original repo strips; the HF template does not
    inputs = processor.apply_transcription_request(audio=audio_raw, prompt=stripped)
    ids = inputs["input_ids"][0]
    assert torch.equal(ids, ref["tensors"]["input_ids"]), "processor input_ids differ from the SPEC-built prompt"
    assert torch.equal(inputs["input_values"][0, 0], ref["tensors"]["input_values"]), "processor input_values differ"
    shutil.rmtree(tmp)
    return "VibeVoiceAsrProcessor.apply_transcription_request (chat template of the HF checkpoint) gives identical input_ids and input_values"


# --------------------------------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------------------------------


def write_hub_bf16(model, model_dir: Path) -> None:
    model_bf16 = VibeVoiceAsrForConditionalGeneration(model.config)
    model_bf16.load_state_dict(model.state_dict())
    model_bf16 = model_bf16.to(torch.bfloat16)
    model_bf16.save_pretrained(str(model_dir))
    (model_dir / "generation_config.json").unlink(missing_ok=True)


def original_config(config: VibeVoiceAsrConfig) -> dict:
    def tok_cfg(c, kind: str) -> dict:
        acoustic = kind == "acoustic"
        return {
            "model_type": f"vibevoice_{kind}_tokenizer",
            "channels": c.channels,
            "corpus_normalize": 0.0,
            "causal": True,
            "vae_dim": c.hidden_size,
            "fix_std": 0.5 if acoustic else 0,
            "std_dist_type": "gaussian" if acoustic else "none",
            "mixer_layer": "depthwise_conv",
            "conv_norm": "none",
            "pad_mode": "constant",
            "disable_last_norm": True,
            "layernorm": "RMSNorm",
            "layernorm_eps": c.rms_norm_eps,
            "layernorm_elementwise_affine": True,
            "conv_bias": True,
            "layer_scale_init_value": 1e-6,
            "weight_init_value": 0.01,
            "encoder_n_filters": c.num_filters,
            "encoder_ratios": list(reversed(list(c.downsampling_ratios))),
            "encoder_depths": "-".join(str(d) for d in c.depths),
            **({"decoder_n_filters": c.num_filters, "decoder_ratios": list(reversed(list(c.downsampling_ratios))),
                "decoder_depths": None} if acoustic else {}),
        }

    t = config.text_config
    decoder = {
        "model_type": "qwen2",
        "architectures": ["Qwen2ForCausalLM"],
        "attention_dropout": 0.0,
        "hidden_act": t.hidden_act,
        "hidden_size": t.hidden_size,
        "initializer_range": 0.02,
        "intermediate_size": t.intermediate_size,
        "max_position_embeddings": t.max_position_embeddings,
        "max_window_layers": t.num_hidden_layers,
        "num_attention_heads": t.num_attention_heads,
        "num_hidden_layers": t.num_hidden_layers,
        "num_key_value_heads": t.num_key_value_heads,
        "rms_norm_eps": t.rms_norm_eps,
        "rope_scaling": None,
        "rope_theta": t.rope_parameters["rope_theta"],
        "sliding_window": None,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": t.vocab_size,
    }
    return {
        "architectures": ["VibeVoiceForASRTraining"],
        "model_type": "vibevoice",
        "acoustic_tokenizer_config": tok_cfg(config.acoustic_tokenizer_encoder_config, "acoustic"),
        "semantic_tokenizer_config": tok_cfg(config.semantic_tokenizer_encoder_config, "semantic"),
        "decoder_config": decoder,
        "diffusion_head_config": {
            "model_type": "vibevoice_diffusion_head", "hidden_size": t.hidden_size, "head_layers": 1,
            "head_ffn_ratio": 3.0, "rms_norm_eps": 1e-5, "latent_size": config.acoustic_tokenizer_encoder_config.hidden_size,
            "speech_vae_dim": config.acoustic_tokenizer_encoder_config.hidden_size, "prediction_type": "v_prediction",
            "diffusion_type": "ddpm", "ddpm_num_steps": 1000, "ddpm_num_inference_steps": 20,
            "ddpm_beta_schedule": "cosine", "ddpm_batch_mul": 4,
        },
        "acoustic_vae_dim": config.acoustic_tokenizer_encoder_config.hidden_size,
        "semantic_vae_dim": config.semantic_tokenizer_encoder_config.hidden_size,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.51.3",
    }


def hf_config_from_original(orig: dict, base: VibeVoiceAsrConfig) -> dict:
    """The original -> transformers field mapping of SPEC 1.2, used to check original_config()."""
    def enc(c):
        return dict(
            num_filters=c["encoder_n_filters"], depths=[int(d) for d in c["encoder_depths"].split("-")],
            downsampling_ratios=list(reversed(c["encoder_ratios"])), hidden_size=c["vae_dim"],
            rms_norm_eps=c["layernorm_eps"], vae_std=c["fix_std"] / 0.8,
        )
    return dict(acoustic=enc(orig["acoustic_tokenizer_config"]), semantic=enc(orig["semantic_tokenizer_config"]))


def write_original_sharded(model, model_dir: Path, bf16_names) -> dict:
    sd = model.state_dict()
    orig = {}
    for mem, t in sd.items():
        name = original_name(mem)
        assert original_to_hub(name) == hub_name(mem), (mem, name, original_to_hub(name), hub_name(mem))
        orig[name] = t.to(torch.bfloat16) if bf16_names(mem) else t.to(torch.float32).clone()
    # unused TTS half of the acoustic tokenizer: present in the real file, a loader must skip it
    g = torch.Generator().manual_seed(99)
    fakes = {
        "model.acoustic_tokenizer.decoder.upsample_layers.0.0.conv.conv.weight": torch.randn(128, 8, 7, generator=g),
        "model.acoustic_tokenizer.decoder.upsample_layers.0.0.conv.conv.bias": torch.randn(128, generator=g),
        "model.acoustic_tokenizer.decoder.stages.0.0.gamma": torch.randn(128, generator=g),
        "model.acoustic_tokenizer.decoder.stages.0.0.mixer.conv.conv.conv.weight": torch.randn(128, 1, 7, generator=g),
        "model.acoustic_tokenizer.decoder.head.conv.conv.weight": torch.randn(1, 2, 7, generator=g),
    }
    for k, v in fakes.items():
        orig[k] = v.to(torch.bfloat16)
    shards = [
        [k for k in orig if k.startswith("model.language_model.")],
        [k for k in orig if k.startswith("model.acoustic_tokenizer.") or k.startswith("model.semantic_tokenizer.")],
        [k for k in orig if k == "lm_head.weight" or "_connector." in k],
    ]
    assert sum(len(s) for s in shards) == len(orig)
    weight_map, total = {}, 0
    for i, keys in enumerate(shards):
        fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file({k: orig[k].contiguous() for k in sorted(keys)}, str(model_dir / fname), metadata={"format": "pt"})
        for k in keys:
            weight_map[k] = fname
            total += orig[k].numel() * orig[k].element_size()
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    (model_dir / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
    return {"fake_decoder_tensors": sorted(fakes)}


def load_back_original(model_dir: Path, config) -> VibeVoiceAsrForConditionalGeneration:
    index = json.loads((model_dir / "model.safetensors.index.json").read_text())
    hub_sd = {}
    for name, fname in index["weight_map"].items():
        if name.startswith("model.acoustic_tokenizer.decoder."):
            continue
        with safe_open(str(model_dir / fname), "pt") as f:
            hub_sd[original_to_hub(name)] = f.get_tensor(name).to(torch.float32)
    m = VibeVoiceAsrForConditionalGeneration(config)
    mem_sd = {}
    for mem in m.state_dict():
        mem_sd[mem] = hub_sd.pop(hub_name(mem))
    assert not hub_sd, f"unused tensors: {sorted(hub_sd)}"
    m.load_state_dict(mem_sd, strict=True)
    return m.eval()


def file_spelling(model_dir: Path) -> dict:
    names, dtypes = [], Counter()
    for f in sorted(model_dir.glob("*.safetensors")):
        with safe_open(str(f), "pt") as h:
            for k in h.keys():
                names.append(k)
                dtypes[str(h.get_slice(k).get_dtype())] += 1
    patterns = sorted({re.sub(r"\.\d+\.", ".N.", k) for k in names})
    return {"tensor_count": len(names), "dtypes": dict(dtypes), "name_patterns": patterns}


# --------------------------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------------------------

CASES = {
    "hf_bf16_chunked": dict(
        layout="hf_hub",
        heads=4, kv_heads=2, head_dim=128, rope_theta=10000.0,
        acoustic_hidden=8, semantic_hidden=16,
        acoustic_depths=[1, 2, 1, 1, 1, 1, 1], semantic_depths=[1, 1, 2, 1, 1, 1, 1],
        chunk_size=HOP * 5, raw_samples=79200 + 1234, audio_seed=11, audio_level=0.6, context=None,
        merges_as_strings=False, seed=1000,
    ),
    "original_sharded_context": dict(
        layout="original",
        heads=4, kv_heads=2, head_dim=None, rope_theta=1_000_000.0,
        acoustic_hidden=8, semantic_hidden=16,
        acoustic_depths=[2, 1, 1, 1, 1, 1, 1], semantic_depths=[1, 1, 1, 1, 2, 1, 1],
        chunk_size=1_440_000, raw_samples=48000 + 2345, audio_seed=22, audio_level=3.0, click=True,
        context="  Alice, Bob; topic: budget  ",
        merges_as_strings=True, seed=2000,
    ),
    "hf_inmemory_f32_long": dict(
        layout="hf_inmemory",
        heads=4, kv_heads=1, head_dim=16, rope_theta=500_000.0,
        acoustic_hidden=8, semantic_hidden=16,
        acoustic_depths=[1, 1, 1, 1, 1, 1, 1], semantic_depths=[1, 1, 1, 1, 1, 1, 1],
        chunk_size=1_440_000, raw_samples=24000 * 5 + 7777, audio_seed=33, audio_level=0.3, context=None,
        merges_as_strings=False, seed=3000,
    ),
}


def bf16_rule(layout: str):
    if layout == "hf_hub":
        return lambda name: True  # every tensor stored as bf16
    if layout == "original":  # mixed: encoders + connectors bf16, language model + lm_head f32
        return lambda name: not (name.startswith("model.language_model.") or name == "lm_head.weight")
    return lambda name: False  # all f32, full f32 precision


def build_case(name: str, spec: dict, out_root: Path, tok: Tokenizer) -> dict:
    case_dir = out_root / name
    if case_dir.exists():
        shutil.rmtree(case_dir)
    model_dir = case_dir / "model"
    model_dir.mkdir(parents=True)

    audio_raw = synth_audio(spec["raw_samples"], spec["audio_seed"], spec["audio_level"], spec.get("click", False))
    config = make_config(spec, tok)
    config._attn_implementation = "eager"
    bf16_names = bf16_rule(spec["layout"])

    seed = spec["seed"]
    for attempt in range(200):
        torch.manual_seed(seed)
        model = VibeVoiceAsrForConditionalGeneration(config).eval()
        init_weights(model, seed, bf16_names)
        ref = run_reference(model, config, tok, audio_raw, spec["context"])
        if ref["rejected"] is None:
            break
        print(f"  {name}: seed {seed} rejected ({ref['rejected']})")
        seed += 1
    else:
        raise RuntimeError(f"{name}: no seed with all margins > {MIN_MARGIN}")

    # write the checkpoint
    extra = {}
    if spec["layout"] == "hf_hub":
        write_hub_bf16(model, model_dir)
        write_tokenizer_json(tok, model_dir / "tokenizer.json", spec["merges_as_strings"])
        reloaded = VibeVoiceAsrForConditionalGeneration.from_pretrained(str(model_dir), dtype=torch.float32,
                                                                        attn_implementation="eager").eval()
    elif spec["layout"] == "original":
        orig_cfg = original_config(config)
        mapped = hf_config_from_original(orig_cfg, config)
        for kind, c in (("acoustic", config.acoustic_tokenizer_encoder_config),
                        ("semantic", config.semantic_tokenizer_encoder_config)):
            for k, v in mapped[kind].items():
                if k == "vae_std" and kind == "semantic":
                    continue  # semantic: fix_std 0 = no noise
                got = list(getattr(c, k)) if isinstance(v, list) else getattr(c, k)
                assert got == v, (kind, k, got, v)
        (model_dir / "config.json").write_text(json.dumps(orig_cfg, indent=2) + "\n")
        extra = write_original_sharded(model, model_dir, bf16_names)
        write_tokenizer_json(tok, case_dir / "tokenizer.json", spec["merges_as_strings"])
        reloaded = load_back_original(model_dir, config)
    else:
        config.save_pretrained(str(model_dir))
        sd = {k: v.contiguous() for k, v in model.state_dict().items()}
        save_file(sd, str(model_dir / "model.safetensors"), metadata={"format": "pt"})
        write_tokenizer_json(tok, model_dir / "tokenizer.json", spec["merges_as_strings"])
        reloaded = VibeVoiceAsrForConditionalGeneration.from_pretrained(str(model_dir), dtype=torch.float32,
                                                                        attn_implementation="eager").eval()
        raw_sd = {}
        with safe_open(str(model_dir / "model.safetensors"), "pt") as f:
            for k in f.keys():
                raw_sd[k] = f.get_tensor(k)
        assert all(torch.equal(raw_sd[k], v) for k, v in model.state_dict().items())

    # the files reproduce the reference (ids exactly; floats up to f32 summation-order noise)
    ref2 = run_reference(reloaded, reloaded.config, tok, audio_raw, spec["context"])
    reload_diff = 0.0
    for k, v in ref["tensors"].items():
        w = ref2["tensors"][k]
        if v.dtype == torch.long:
            assert torch.equal(v, w), f"{name}: reloaded checkpoint differs in {k}"
        else:
            d = float((v.double() - w.double()).abs().max())
            assert d < 1e-5, f"{name}: reloaded checkpoint differs in {k} by {d}"
            reload_diff = max(reload_diff, d)

    processor_note = processor_cross_check(tok, out_root / f".tmp_{name}", audio_raw, spec["context"], ref)

    save_file(ref["tensors"], str(case_dir / "reference.safetensors"), metadata={"format": "pt"})
    write_float_wav(case_dir / "audio.wav", audio_raw)
    back, sr = soundfile.read(str(case_dir / "audio.wav"), dtype="float32")
    assert sr == SAMPLE_RATE and np.array_equal(back, audio_raw)

    t = ref["tensors"]
    feats = ref["feature_extractor"]
    meta = {
        "case": name,
        "layout": spec["layout"],
        "context": spec["context"],
        "raw_samples": int(audio_raw.shape[0]),
        "padded_samples": int(t["input_values"].shape[0]),
        "num_audio_tokens": ref["n_audio"],
        "chunk_size": config.acoustic_tokenizer_chunk_size,
        "num_chunks": ref["n_chunks"],
        "max_new_tokens": MAX_NEW_TOKENS,
        "dtype": {"hf_hub": "bfloat16", "original": "mixed: encoders+connectors bfloat16, language model+lm_head float32",
                  "hf_inmemory": "float32"}[spec["layout"]],
        "compute_dtype": "float32",
        "seed": seed,
        "model": {
            "vocab_size": config.text_config.vocab_size,
            "tokenizer_size": tok.get_vocab_size(with_added_tokens=True),
            "hidden_size": config.text_config.hidden_size,
            "num_hidden_layers": config.text_config.num_hidden_layers,
            "num_attention_heads": config.text_config.num_attention_heads,
            "num_key_value_heads": config.text_config.num_key_value_heads,
            "head_dim": getattr(config.text_config, "head_dim", None)
            or config.text_config.hidden_size // config.text_config.num_attention_heads,
            "head_dim_in_config": spec["head_dim"] is not None,
            "rope_theta": config.text_config.rope_parameters["rope_theta"],
            "acoustic_hidden": config.acoustic_tokenizer_encoder_config.hidden_size,
            "semantic_hidden": config.semantic_tokenizer_encoder_config.hidden_size,
            "num_filters": 2,
            "acoustic_depths": list(config.acoustic_tokenizer_encoder_config.depths),
            "semantic_depths": list(config.semantic_tokenizer_encoder_config.depths),
            "audio_token_id": config.audio_token_id,
            "audio_bos_token_id": config.audio_bos_token_id,
            "audio_eos_token_id": config.audio_eos_token_id,
            "endoftext_id": tok.token_to_id("<|endoftext|>"),
            "im_end_id": tok.token_to_id("<|im_end|>"),
        },
        "tokenizer": {
            "path": "tokenizer.json" if spec["layout"] == "original" else "model/tokenizer.json",
            "merges_format": "strings 'a b'" if spec["merges_as_strings"] else "pairs ['a', 'b']",
        },
        "tensor_name_spelling": {
            "hf_hub": "HF Hub file names (language_model.model.*, language_model.lm_head.weight, "
                      "{acoustic,semantic}_tokenizer_encoder.*, multi_modal_projector.*): written by "
                      "save_pretrained, which in 5.23.0 applies the reverse of conversion_mapping['vibevoice_asr']",
            "original": "microsoft/VibeVoice names (model.language_model.*, lm_head.weight, "
                        "model.{acoustic,semantic}_tokenizer.encoder.{downsample_layers,stages,head}.*, "
                        "mixer.conv.conv.conv.*, model.{acoustic,semantic}_connector.{fc1,norm,fc2}.*)",
            "hf_inmemory": "transformers in-memory names (model.language_model.*, lm_head.weight, "
                           "model.{acoustic,semantic}_tokenizer_encoder.*, model.multi_modal_projector.*): "
                           "the model's state_dict() saved as is",
        }[spec["layout"]],
        "tensor_files": file_spelling(model_dir),
        "prompt": ref["prompt"],
        "prompt_length": int(t["input_ids"].shape[0]),
        "generated_ids": t["generated_ids"].tolist(),
        "generated_text": tok.decode(t["generated_ids"].tolist(), skip_special_tokens=True),
        "generated_text_note": "tokenizers' byte-level decode (invalid UTF-8 -> U+FFFD, lossy); ids without text "
                               "(>= tokenizer_size) decode to nothing",
        "generated_contains_stop_or_audio_token": False,
        "min_step_margin": float(t["step_margins"].min()),
        "input_values_rms": float(feats["input_values"][0, 0, : audio_raw.shape[0]].pow(2).mean().sqrt()),
        "input_values_max_abs": float(feats["input_values"].abs().max()),
        "checks": {**ref["checks"], "processor": processor_note,
                   "reload_max_abs_diff": reload_diff},
        **extra,
        "notes": [
            "Reference: transformers 5.23.0 VibeVoiceAsrForConditionalGeneration, float32 compute (eager attention) "
            "on the stored weight values, sample=False (no sigma-VAE noise).",
            "input_values: VibeVoiceAcousticTokenizerFeatureExtractor output (loudness normalisation to -25 dBFS, "
            "peak guard, zero padding to a multiple of 3200).",
            "acoustic_latents/semantic_latents: encoder outputs, chunk outputs concatenated (chunk_size samples per "
            "chunk, conv padding carried across chunks).",
            "audio_embeds: multi_modal_projector output; prompt_logits: logits at every prompt position with audio "
            "embeddings placed at the <|box_start|> positions.",
            "generated_ids: greedy, max_new_tokens tokens, no early stop (neither <|endoftext|> nor <|im_end|> nor "
            "<|box_start|> occurs in them; ids >= tokenizer_size have no text and may occur); "
            "step_logits[i] are the logits that chose generated_ids[i]; step_margins = top1 - top2 of step_logits.",
            "The prompt ends after the user turn's <|im_end|>\\n (no assistant header).",
        ],
    }
    if spec["layout"] == "original":
        meta["notes"].append(
            "Original layout: config.json has model_type 'vibevoice' with original field names; no audio token ids "
            "and no chunk size in it (the reference used transformers' default chunk 1440000). Token ids come from "
            "the tokenizer (<|box_start|>, <|object_ref_start|>, <|object_ref_end|>). The context string is "
            "stripped before use, as the original repository does (transformers' chat template inserts it "
            "unstripped; the processor cross-check was given the stripped string). "
            "model.acoustic_tokenizer.decoder.* tensors are unused and must be ignored.")
    (case_dir / "meta.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    return meta


# --------------------------------------------------------------------------------------------------------------
# Independent check: a plain numpy float32 implementation that reads only the files in <case>/ (the way an
# engine does: any of the three tensor spellings, either config format, the tokenizer) and must reproduce the
# reference. It checks that the fixtures are self-contained and that SPEC sections 2-6 describe the math fully.
# --------------------------------------------------------------------------------------------------------------


def _np_load_weights(model_dir: Path) -> dict[str, np.ndarray]:
    files = sorted(model_dir.glob("*.safetensors"))
    out = {}
    for f in files:
        with safe_open(str(f), "pt") as h:
            for k in h.keys():
                if k.startswith("model.acoustic_tokenizer.decoder."):
                    continue  # TTS half of the original checkpoint
                t = h.get_tensor(k).to(torch.float32).numpy()
                if k.startswith("model.acoustic_tokenizer.") or k.startswith("model.semantic_tokenizer.") or \
                        "_connector." in k:
                    name = original_to_hub(k)
                elif k == "lm_head.weight":
                    name = "language_model.lm_head.weight"
                elif k.startswith("model.language_model."):
                    name = "language_model.model." + k[len("model.language_model."):]
                elif k.startswith("model."):
                    name = k[len("model."):]
                else:
                    name = k
                assert name not in out, name
                out[name] = t
    return out


def _np_config(model_dir: Path) -> dict:
    c = json.loads((model_dir / "config.json").read_text())
    if c["model_type"] == "vibevoice_asr":
        t = c["text_config"]
        theta = t["rope_parameters"]["rope_theta"] if "rope_parameters" in t else t["rope_theta"]
        encs = {k: dict(filters=c[f"{k}_tokenizer_encoder_config"]["num_filters"],
                        depths=c[f"{k}_tokenizer_encoder_config"]["depths"],
                        ratios=c[f"{k}_tokenizer_encoder_config"]["downsampling_ratios"],
                        kernel=c[f"{k}_tokenizer_encoder_config"]["kernel_size"],
                        eps=c[f"{k}_tokenizer_encoder_config"]["rms_norm_eps"]) for k in ("acoustic", "semantic")}
        chunk = c["acoustic_tokenizer_chunk_size"]
    else:
        assert c["model_type"] == "vibevoice"
        t = c["decoder_config"]
        theta = t["rope_theta"]
        encs = {}
        for k in ("acoustic", "semantic"):
            o = c[f"{k}_tokenizer_config"]
            encs[k] = dict(filters=o["encoder_n_filters"], depths=[int(d) for d in o["encoder_depths"].split("-")],
                           ratios=list(reversed(o["encoder_ratios"])), kernel=7, eps=o["layernorm_eps"])
        chunk = 1_440_000
    heads = t["num_attention_heads"]
    return dict(encoders=encs, chunk=chunk, theta=theta, heads=heads, kv_heads=t["num_key_value_heads"],
                head_dim=t.get("head_dim") or t["hidden_size"] // heads, layers=t["num_hidden_layers"],
                eps=t["rms_norm_eps"])


def _np_causal_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, groups: int = 1) -> np.ndarray:
    """x [C, T]; w [out, in/groups, k]; left pad (k-1) - (stride-1)."""
    k = w.shape[2]
    pad = (k - 1) - (stride - 1)
    xp = np.concatenate([np.zeros((x.shape[0], pad), np.float32), x], axis=1)
    t_out = (xp.shape[1] - k) // stride + 1
    idx = np.arange(t_out)[:, None] * stride + np.arange(k)[None, :]  # [T_out, k]
    patches = xp[:, idx]  # [C, T_out, k]
    if groups == 1:
        cols = patches.transpose(1, 0, 2).reshape(t_out, -1)  # [T_out, C*k]
        y = cols @ w.reshape(w.shape[0], -1).T
        return (y + b).T.astype(np.float32)
    assert groups == x.shape[0] == w.shape[0] and w.shape[1] == 1
    return (np.einsum("ctk,ck->ct", patches, w[:, 0, :]) + b[:, None]).astype(np.float32)


def _np_rms(x: np.ndarray, w: np.ndarray, eps: float, axis: int) -> np.ndarray:
    var = np.mean(x * x, axis=axis, keepdims=True)
    return (x / np.sqrt(var + np.float32(eps))).astype(np.float32) * (w if axis == -1 else w[:, None])


def _np_gelu(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf
    return (0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))).astype(np.float32)


def _np_encoder(W: dict, prefix: str, c: dict, x: np.ndarray) -> np.ndarray:
    def block(p, h):
        r = h
        h = _np_rms(h, W[f"{p}.norm.weight"], c["eps"], axis=0)
        h = _np_causal_conv(h, W[f"{p}.mixer.conv.weight"], W[f"{p}.mixer.conv.bias"], groups=h.shape[0])
        h = r + W[f"{p}.gamma"][:, None] * h
        r = h
        u = _np_rms(h, W[f"{p}.ffn_norm.weight"], c["eps"], axis=0).T  # [T, C]
        u = _np_gelu(u @ W[f"{p}.ffn.linear1.weight"].T + W[f"{p}.ffn.linear1.bias"])
        u = u @ W[f"{p}.ffn.linear2.weight"].T + W[f"{p}.ffn.linear2.bias"]
        return (r + W[f"{p}.ffn_gamma"][:, None] * u.T).astype(np.float32)

    h = _np_causal_conv(x[None, :], W[f"{prefix}.stem.conv.conv.weight"], W[f"{prefix}.stem.conv.conv.bias"])
    for j in range(c["depths"][0]):
        h = block(f"{prefix}.stem.stage.{j}", h)
    for i, r in enumerate(c["ratios"]):
        h = _np_causal_conv(h, W[f"{prefix}.conv_layers.{i}.conv.conv.weight"],
                            W[f"{prefix}.conv_layers.{i}.conv.conv.bias"], stride=r)
        for j in range(c["depths"][i + 1]):
            h = block(f"{prefix}.conv_layers.{i}.stage.{j}", h)
    h = _np_causal_conv(h, W[f"{prefix}.head.conv.weight"], W[f"{prefix}.head.conv.bias"])
    return h.T  # [N, hidden]


class _NpDecoder:
    def __init__(self, W: dict, cfg: dict):
        self.W, self.cfg = W, cfg
        d = cfg["head_dim"]
        self.inv_freq = (1.0 / (cfg["theta"] ** (np.arange(0, d, 2, dtype=np.float64) / d))).astype(np.float32)
        self.cache = [([], []) for _ in range(cfg["layers"])]

    def rope(self, x: np.ndarray, pos: np.ndarray) -> np.ndarray:  # x [T, H, d]
        f = pos[:, None].astype(np.float32) * self.inv_freq[None, :]
        emb = np.concatenate([f, f], axis=-1)
        cos, sin = np.cos(emb)[:, None, :], np.sin(emb)[:, None, :]
        half = x.shape[-1] // 2
        rot = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
        return (x * cos + rot * sin).astype(np.float32)

    def forward(self, h: np.ndarray, start: int) -> np.ndarray:
        """h [T, hidden] embeddings of positions start..start+T-1 (appended to the KV cache) -> logits [T, V]."""
        W, c = self.W, self.cfg
        T, H, KV, d = h.shape[0], c["heads"], c["kv_heads"], c["head_dim"]
        pos = np.arange(start, start + T)
        for n in range(c["layers"]):
            p = f"language_model.model.layers.{n}"
            x = _np_rms(h, W[f"{p}.input_layernorm.weight"], c["eps"], axis=-1)
            q = (x @ W[f"{p}.self_attn.q_proj.weight"].T + W[f"{p}.self_attn.q_proj.bias"]).reshape(T, H, d)
            k = (x @ W[f"{p}.self_attn.k_proj.weight"].T + W[f"{p}.self_attn.k_proj.bias"]).reshape(T, KV, d)
            v = (x @ W[f"{p}.self_attn.v_proj.weight"].T + W[f"{p}.self_attn.v_proj.bias"]).reshape(T, KV, d)
            q, k = self.rope(q, pos), self.rope(k, pos)
            self.cache[n][0].append(k)
            self.cache[n][1].append(v)
            K, V = np.concatenate(self.cache[n][0]), np.concatenate(self.cache[n][1])  # [S, KV, d]
            S = K.shape[0]
            kv_of = np.arange(H) // (H // KV)
            scores = np.einsum("thd,shd->hts", q, K[:, kv_of, :]) / np.float32(math.sqrt(d))
            mask = pos[:, None] < np.arange(S)[None, :]
            scores = np.where(mask[None], -np.inf, scores)
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores = scores / scores.sum(-1, keepdims=True)
            o = np.einsum("hts,shd->thd", scores, V[:, kv_of, :]).reshape(T, H * d)
            h = h + o @ W[f"{p}.self_attn.o_proj.weight"].T
            x = _np_rms(h, W[f"{p}.post_attention_layernorm.weight"], c["eps"], axis=-1)
            g = x @ W[f"{p}.mlp.gate_proj.weight"].T
            u = x @ W[f"{p}.mlp.up_proj.weight"].T
            h = (h + ((g / (1 + np.exp(-g))) * u) @ W[f"{p}.mlp.down_proj.weight"].T).astype(np.float32)
        h = _np_rms(h, W["language_model.model.norm.weight"], c["eps"], axis=-1)
        return (h @ W["language_model.lm_head.weight"].T).astype(np.float32)


def verify_case(case_dir: Path) -> dict:
    meta = json.loads((case_dir / "meta.json").read_text())
    ref = {}
    with safe_open(str(case_dir / "reference.safetensors"), "np") as f:
        for k in f.keys():
            ref[k] = f.get_tensor(k)
    model_dir = case_dir / "model"
    W = _np_load_weights(model_dir)
    cfg = _np_config(model_dir)
    tok = Tokenizer.from_file(str(case_dir / meta["tokenizer"]["path"]))
    diffs = {}

    audio, sr = soundfile.read(str(case_dir / "audio.wav"), dtype="float32")
    assert sr == SAMPLE_RATE and np.array_equal(audio, ref["audio_raw"])
    x = audio.astype(np.float32)
    rms = np.float32(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
    x = (x * (np.float32(10 ** (-25 / 20)) / (rms + np.float32(1e-6)))).astype(np.float32)
    peak = np.abs(x).max()
    if peak > 1.0:
        x = (x / (peak + np.float32(1e-6))).astype(np.float32)
    n_audio = math.ceil(audio.shape[0] / HOP)
    x = np.concatenate([x, np.zeros(n_audio * HOP - x.shape[0], np.float32)])
    diffs["input_values"] = float(np.abs(x - ref["input_values"]).max())

    ac = _np_encoder(W, "acoustic_tokenizer_encoder", cfg["encoders"]["acoustic"], ref["input_values"])
    se = _np_encoder(W, "semantic_tokenizer_encoder", cfg["encoders"]["semantic"], ref["input_values"])
    diffs["acoustic_latents"] = float(np.abs(ac - ref["acoustic_latents"]).max())
    diffs["semantic_latents"] = float(np.abs(se - ref["semantic_latents"]).max())

    def proj(kind, lat):
        p = f"multi_modal_projector.{kind}"
        h = lat @ W[f"{p}_linear_1.weight"].T + W[f"{p}_linear_1.bias"]
        h = _np_rms(h, W[f"{p}_norm.weight"], 1e-6, axis=-1)
        return h @ W[f"{p}_linear_2.weight"].T + W[f"{p}_linear_2.bias"]

    emb_audio = (proj("acoustic", ref["acoustic_latents"]) + proj("semantic", ref["semantic_latents"])).astype(np.float32)
    diffs["audio_embeds"] = float(np.abs(emb_audio - ref["audio_embeds"]).max())

    ids = tok.encode(build_prompt(n_audio, audio.shape[0], meta["context"]), add_special_tokens=False).ids
    assert ids == ref["input_ids"].tolist(), "tokenizer.json does not reproduce input_ids"
    box = tok.token_to_id("<|box_start|>")
    h = W["language_model.model.embed_tokens.weight"][np.array(ids)].copy()
    h[np.array(ids) == box] = ref["audio_embeds"]
    dec = _NpDecoder(W, cfg)
    logits = dec.forward(h, 0)
    diffs["prompt_logits"] = float(np.abs(logits - ref["prompt_logits"]).max())

    generated, step = [], logits[-1]
    for i in range(meta["max_new_tokens"]):
        diffs["step_logits"] = max(diffs.get("step_logits", 0.0), float(np.abs(step - ref["step_logits"][i]).max()))
        nxt = int(step.argmax())
        generated.append(nxt)
        step = dec.forward(W["language_model.model.embed_tokens.weight"][[nxt]], len(ids) + i)[0]
    assert generated == ref["generated_ids"].tolist(), (generated, ref["generated_ids"].tolist())
    for k, v in diffs.items():
        scale = float(np.abs(ref[k]).max())
        assert v <= 2e-4 * max(scale, 1.0), f"{case_dir.name}: numpy {k} differs by {v} (scale {scale})"
    return diffs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    repo = Path(__file__).resolve().parent.parent
    ap.add_argument("--out", type=Path, default=repo / "Tests" / "Fixtures" / "engine")
    ap.add_argument("--case", action="append", choices=sorted(CASES), help="build only these cases")
    ap.add_argument("--verify-only", action="store_true",
                    help="do not build; check the existing fixtures with the independent numpy implementation")
    args = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    if args.verify_only:
        for name in args.case or list(CASES):
            diffs = verify_case(args.out / name)
            print(f"{name}: numpy reimplementation agrees; max abs diffs " +
                  ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer()
    print(f"tokenizer: {tok.get_vocab_size(with_added_tokens=True)} tokens")
    for name in args.case or list(CASES):
        meta = build_case(name, CASES[name], args.out, tok)
        diffs = verify_case(args.out / name)
        print(f"  numpy reimplementation agrees; max abs diffs " + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()))
        meta_path = args.out / name / "meta.json"
        meta = json.loads(meta_path.read_text())
        meta["checks"]["numpy_float32_reimplementation_max_abs_diff"] = diffs
        meta_path.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
        size = sum(p.stat().st_size for p in (args.out / name).rglob("*") if p.is_file())
        print(f"{name}: prompt {meta['prompt_length']} ids, N={meta['num_audio_tokens']}, "
              f"min margin {meta['min_step_margin']:.4f}, seed {meta['seed']}, {size / 1e6:.2f} MB")
    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"total {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
