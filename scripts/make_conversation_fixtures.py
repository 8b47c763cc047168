#!/usr/bin/env python3
"""Build the conversation and scoring fixtures under Tests/Fixtures/conversations/.

Developer tool, never run by CI. Needs Python 3.11 with torch, transformers==5.23.0, tokenizers, numpy and
soundfile, and no network. It reuses the tokenizer, chat template and audio synthesiser of
make_engine_fixtures.py (same folder) and the tiny checkpoints that script wrote under Tests/Fixtures/engine/.

What transformers 5.23.0 does, recorded here:

  prompts.json   VibeVoiceAsrProcessor.apply_chat_template / apply_transcription_request on conversations
                 (the released checkpoint's chat template, real Qwen2.5 tokenizer): the input_ids, or the
                 error the reference raises. Audio items are given by length only ({"type": "audio",
                 "samples": N}); the prompt ids do not depend on the samples.
  scoring.json   On two tiny checkpoints (hf_bf16_chunked, hf_inmemory_f32_long), loaded from their files:
                 apply_chat_template(..., output_labels=True) -> input_ids, labels, and
                 model(**inputs, sample=False).loss; plus the log-probabilities transformers gives each token
                 of a transcript teacher-forced after the transcription prompt.
  second.wav     A second clip (24 kHz mono float32) for conversations with two audio items.
  meeting*.json / meeting_raw.txt  The transcript scored in scoring.json, in our json and verbose_json formats
                 and as the model's raw output.

Usage:  python scripts/make_conversation_fixtures.py [--out Tests/Fixtures/conversations]
        python scripts/make_conversation_fixtures.py --verify-only   # rebuild in memory, compare with the files
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_engine_fixtures as mef  # noqa: E402  (checks the transformers version on import)
import transformers  # noqa: E402
from transformers import (  # noqa: E402
    VibeVoiceAcousticTokenizerFeatureExtractor,
    VibeVoiceAsrForConditionalGeneration,
    VibeVoiceAsrProcessor,
)

assert transformers.__version__ == mef.REQUIRED_TRANSFORMERS

REPO = Path(__file__).resolve().parent.parent
ENGINE = REPO / "Tests" / "Fixtures" / "engine"
QWEN_GZ = REPO / "Tests" / "Fixtures" / "tokenizer" / "qwen2.5-tokenizer.json.gz"
SCORING_CHECKPOINTS = ["hf_bf16_chunked", "hf_inmemory_f32_long"]
SECOND_CLIP_SAMPLES = 19_000  # 0.79 s: 6 audio tokens, not a multiple of the hop

# Qwen/Qwen2.5-7B's tokenizer_config.json, from which transformers' conversion script built the released
# processor: the pad token (masked out of the labels) is <|endoftext|>; there is no BOS token.
TOKENIZER_CONFIG = {"tokenizer_class": "Qwen2Tokenizer", "pad_token": "<|endoftext|>",
                    "eos_token": "<|endoftext|>", "bos_token": None}

# The transcript that scoring.json teacher-forces, written the way the model writes its output.
SEGMENTS = [
    {"start": 0.0, "end": 1.5, "speaker": 0, "text": "Alice and Bob talk about the budget."},
    {"start": 1.5, "end": 3.35, "speaker": 1, "text": "Yes, the meeting is today."},
]


def model_number(x: float) -> str:
    """How the model writes a time: at most two decimals, whole numbers without a point (0, 5.86)."""
    r = round(x, 2)
    return str(int(r)) if r == int(r) else repr(r)


def model_output_body(segments: list[dict]) -> str:
    items = [
        '{"Start":%s,"End":%s,"Speaker":%d,"Content":%s}'
        % (model_number(s["start"]), model_number(s["end"]), s["speaker"], json.dumps(s["text"], ensure_ascii=False))
        for s in segments
    ]
    return "[" + ",".join(items) + "]"


def make_processor(tokenizer_json: Path) -> VibeVoiceAsrProcessor:
    tmp = Path(tempfile.mkdtemp(prefix="vv-conv-tok-"))
    shutil.copy(tokenizer_json, tmp / "tokenizer.json")
    (tmp / "tokenizer_config.json").write_text(json.dumps(TOKENIZER_CONFIG))
    tok = transformers.AutoTokenizer.from_pretrained(str(tmp))
    shutil.rmtree(tmp)
    assert tok.pad_token == "<|endoftext|>" and tok.bos_token is None
    return VibeVoiceAsrProcessor(feature_extractor=VibeVoiceAcousticTokenizerFeatureExtractor(), tokenizer=tok,
                                 chat_template=mef.CHAT_TEMPLATE)


def to_reference(messages: list[dict], audio_for) -> list[dict]:
    """Our file format -> the reference's: audio items become arrays ({"type": "audio", "audio": array})."""
    out = []
    for m in messages:
        content = m["content"]
        if isinstance(content, list):
            items = []
            for item in content:
                if item["type"] == "audio":
                    items.append({"type": "audio", "audio": audio_for(item)})
                else:
                    items.append(dict(item))
            content = items
        out.append({"role": m["role"], "content": content})
    return out


# --------------------------------------------------------------------------------------------------------------
# prompts.json: the chat template on the real tokenizer
# --------------------------------------------------------------------------------------------------------------

A = {"type": "audio", "samples": 140_640}   # 5.86 s: the released checkpoint's test clip length
B = {"type": "audio", "samples": 7_000}     # 0.29 s: 3 audio tokens


def text(t: str) -> dict:
    return {"type": "text", "text": t}


PROMPT_CASES = [
    dict(name="transcription_request", call="apply_transcription_request", prompt=None,
         what="apply_transcription_request(audio): the SPEC 6 prompt, 103 ids",
         messages=[{"role": "user", "content": [A]}]),
    dict(name="custom_prompt", call="apply_transcription_request", prompt="  About VibeVoice  ",
         what="apply_transcription_request(audio, prompt=...): the prompt becomes the extra info, verbatim (not stripped)",
         messages=[{"role": "user", "content": [A, text("  About VibeVoice  ")]}]),
    dict(name="custom_prompt_empty", call="apply_transcription_request", prompt="",
         what="an empty prompt is no extra info (a whitespace-only one would be kept)",
         messages=[{"role": "user", "content": [A, text("")]}]),
    dict(name="system_prompt_override", system_prompt="You transcribe meetings. Write JSON.",
         what="system_prompt= replaces the default system text",
         messages=[{"role": "user", "content": [A]}]),
    dict(name="system_prompt_empty", system_prompt="",
         what="an empty system_prompt gives an empty system turn (default() only fills an undefined variable)",
         messages=[{"role": "user", "content": [A]}]),
    dict(name="system_message_dropped",
         what="a system message in the conversation is dropped; the system turn keeps the default text",
         messages=[{"role": "system", "content": [text("Be brief.")]}, {"role": "user", "content": [A]}]),
    dict(name="multi_turn_with_assistant",
         what="assistant turns are dropped; a follow-up user turn without audio keeps none of its text; "
              "turns are joined by a blank line (<|im_end|>\\n\\n<|im_start|>)",
         messages=[{"role": "user", "content": [A, text("Speakers: Ana, Raj")]},
                   {"role": "assistant", "content": [text('[{"Start":0,"End":5.86,"Speaker":0,"Content":"Hello."}]')]},
                   {"role": "user", "content": [text("Who spoke first?")]}]),
    dict(name="two_audio_items",
         what="each audio item gets its own block and instruction, all with the turn's first text item as "
              "extra info; the second text item is dropped; no newline between the two blocks",
         messages=[{"role": "user", "content": [text("Names: Ana"), A, text("ignored second text"), B]}]),
    dict(name="two_user_turns_with_audio", system_prompt="Transcribe.",
         what="audio in two user turns, durations filled in order",
         messages=[{"role": "user", "content": [A]},
                   {"role": "assistant", "content": "dropped"},
                   {"role": "user", "content": [B, text("second clip")]}]),
    dict(name="user_without_audio",
         what="a user turn with text only renders as an empty turn",
         messages=[{"role": "user", "content": [text("Summarise the meeting.")]}]),
    dict(name="plain_string_content",
         what="content given as a plain string: the template finds no items in it, the turn is empty",
         messages=[{"role": "user", "content": "Hello there"}]),
    dict(name="assistant_only",
         what="no user turn: only the system turn, without the trailing newline",
         messages=[{"role": "assistant", "content": "Hi."}]),
    dict(name="special_tokens_in_text",
         what="control tokens typed in a text item are tokenised as the control tokens",
         messages=[{"role": "user", "content": [A, text("a <|im_end|> b")]}]),
    dict(name="error_duration_placeholder_exhausted",
         what="<|AUDIO_DURATION|> typed in a text item takes an audio duration; a rendered text item always "
              "comes with its own audio block, so there is always one placeholder too many: StopIteration",
         messages=[{"role": "user", "content": [A, text("is <|AUDIO_DURATION|> long")]}]),
    dict(name="error_audio_slot_in_text",
         what="a typed <|box_start|> makes the slot count differ from the audio count: ValueError",
         messages=[{"role": "user", "content": [A, text("x <|box_start|> y")]}]),
    dict(name="error_audio_in_assistant_turn",
         what="audio in an assistant turn is loaded but never placed: ValueError",
         messages=[{"role": "user", "content": [A]}, {"role": "assistant", "content": [B]}]),
]


def build_prompt_cases() -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="vv-conv-qwen-"))
    with gzip.open(QWEN_GZ, "rb") as f:
        (tmp / "tokenizer.json").write_bytes(f.read())
    processor = make_processor(tmp / "tokenizer.json")
    shutil.rmtree(tmp)
    rng = np.random.default_rng(7)
    out = []
    for case in PROMPT_CASES:
        def audio_for(item):
            return (0.1 * rng.standard_normal(item["samples"])).astype(np.float32)

        entry = {"name": case["name"], "what": case["what"], "messages": case["messages"]}
        if "system_prompt" in case:
            entry["system_prompt"] = case["system_prompt"]
        try:
            if case.get("call") == "apply_transcription_request":
                audio = audio_for(case["messages"][0]["content"][0])
                inputs = processor.apply_transcription_request(audio, prompt=case["prompt"])
                entry["call"] = "apply_transcription_request"
                entry["prompt"] = case["prompt"]
            else:
                kwargs = {"system_prompt": case["system_prompt"]} if "system_prompt" in case else {}
                conv = to_reference(copy.deepcopy(case["messages"]), audio_for)
                inputs = processor.apply_chat_template(conv, tokenize=True, return_dict=True, **kwargs)
            entry["input_ids"] = inputs["input_ids"][0].tolist()
            assert not case["name"].startswith("error_"), case["name"]
        except (StopIteration, RuntimeError, ValueError) as e:
            assert case["name"].startswith("error_"), (case["name"], e)
            entry["error"] = f"{type(e).__name__}: {e}"
        out.append(entry)
    # the reference's own ground truth (SPEC 6): the first case is the released checkpoint's 103-id prompt
    assert len(out[0]["input_ids"]) == 103
    return {"transformers": transformers.__version__, "tokenizer": "Tests/Fixtures/tokenizer/qwen2.5-tokenizer.json.gz",
            "cases": out}


# --------------------------------------------------------------------------------------------------------------
# scoring.json: labels and loss on tiny checkpoints
# --------------------------------------------------------------------------------------------------------------

def load_reference_model(case: str) -> VibeVoiceAsrForConditionalGeneration:
    model_dir = ENGINE / case / "model"
    return VibeVoiceAsrForConditionalGeneration.from_pretrained(
        str(model_dir), dtype=torch.float32, attn_implementation="eager").eval()


def loss_cases(body: str, transcript_text: str) -> list[dict]:
    main = {"type": "audio", "path": "CASE_AUDIO"}
    second = {"type": "audio", "path": "second.wav"}
    return [
        dict(name="transcription_with_answer",
             what="transcription prompt + the transcript as an assistant turn: the template drops the assistant "
                  "turn, so the loss covers the prompt's text only",
             messages=[{"role": "user", "content": [main, text("Alice, Bob; budget")]},
                       {"role": "assistant", "content": body}]),
        dict(name="documented_training_recipe",
             what="transformers' documented training example: the transcript as the user turn's text item "
                  "(extra info), no assistant turn",
             messages=[{"role": "user", "content": [text(transcript_text), main]}]),
        dict(name="multi_turn_two_audio_system", system_prompt="You transcribe meetings.",
             what="system prompt override, two audio items in two user turns, an assistant turn and a text-only "
                  "user turn",
             messages=[{"role": "user", "content": [main, text("Names: Ana")]},
                       {"role": "assistant", "content": [text("[]")]},
                       {"role": "user", "content": [text("Who spoke?")]},
                       {"role": "user", "content": [second]}]),
    ]


def labelled_positions(labels: torch.Tensor) -> int:
    """Positions the causal loss averages over: labels shifted left by one, -100 ignored."""
    return int((labels[1:] != -100).sum())


def build_scoring(out_dir: Path, second_clip: np.ndarray) -> dict:
    body = model_output_body(SEGMENTS)
    transcript_text = " ".join(s["text"] for s in SEGMENTS)
    results = []
    teacher = []
    for case in SCORING_CHECKPOINTS:
        model = load_reference_model(case)
        processor = make_processor(ENGINE / case / "model" / "tokenizer.json")
        tok = processor.tokenizer
        audio_main, sr = soundfile.read(str(ENGINE / case / "audio.wav"), dtype="float32")
        assert sr == mef.SAMPLE_RATE

        def audio_for(item):
            return audio_main if item["path"] == "CASE_AUDIO" else second_clip

        for lc in loss_cases(body, transcript_text):
            kwargs = {"system_prompt": lc["system_prompt"]} if "system_prompt" in lc else {}
            conv = to_reference(copy.deepcopy(lc["messages"]), audio_for)
            inputs = processor.apply_chat_template(conv, tokenize=True, return_dict=True, output_labels=True, **kwargs)
            with torch.no_grad():
                out = model(**inputs, sample=False)
            ids, labels = inputs["input_ids"][0], inputs["labels"][0]
            # the loss is transformers' ForCausalLMLoss: mean cross-entropy of logits[i] against labels[i+1]
            logp = torch.log_softmax(out.logits[0].double(), dim=-1)
            mask = labels[1:] != -100
            manual = -(logp[:-1][mask].gather(1, labels[1:][mask][:, None])).mean()
            assert abs(float(manual) - float(out.loss)) < 1e-5 * max(1.0, float(out.loss)), (manual, out.loss)
            messages = json.loads(json.dumps(lc["messages"]).replace(
                "CASE_AUDIO", f"../engine/{case}/audio.wav"))
            entry = {"checkpoint": case, "name": lc["name"], "what": lc["what"], "messages": messages,
                     "input_ids": ids.tolist(), "labels": labels.tolist(), "loss": float(out.loss),
                     "labelled_positions": labelled_positions(labels)}
            if "system_prompt" in lc:
                entry["system_prompt"] = lc["system_prompt"]
            results.append(entry)

        # Teacher forcing: the transcription prompt (context "Alice, Bob; budget"), then the reply the model
        # would write, <|im_start|>assistant\n{body}<|im_end|>, through the same model; log p of each reply token.
        prompt = results[-3]["input_ids"]
        header = [tok.convert_tokens_to_ids("<|im_start|>")] + tok.encode("assistant\n", add_special_tokens=False)
        body_ids = tok.encode(body, add_special_tokens=False)
        reply = header + body_ids + [tok.convert_tokens_to_ids("<|im_end|>")]
        whole = tok.encode("<|im_start|>assistant\n" + body + "<|im_end|>", add_special_tokens=False)
        assert whole == reply, "the reply tokenises differently in one piece"
        conv = to_reference([{"role": "user", "content": [{"type": "audio", "path": "CASE_AUDIO"}, text("Alice, Bob; budget")]}],
                            audio_for)
        inputs = processor.apply_chat_template(conv, tokenize=True, return_dict=True)
        assert inputs["input_ids"][0].tolist() == prompt
        full = torch.tensor([prompt + reply])
        with torch.no_grad():
            logits = model(input_ids=full, attention_mask=torch.ones_like(full), input_values=inputs["input_values"],
                           padding_mask=inputs["padding_mask"], sample=False).logits[0]
        logp = torch.log_softmax(logits.double(), dim=-1)
        start = len(prompt)
        reply_logp = [float(logp[start + k - 1, t]) for k, t in enumerate(reply)]
        scored = reply_logp[len(header):]  # the body and <|im_end|>
        teacher.append({"checkpoint": case, "context": "Alice, Bob; budget", "prompt_length": len(prompt),
                        "reply_ids": reply, "header_length": len(header), "reply_logprobs": reply_logp,
                        "nll": -sum(scored) / len(scored), "scored_tokens": len(scored)})
    return {"transformers": transformers.__version__, "body": body, "loss_cases": results, "teacher_forced": teacher}


def write_transcripts(out_dir: Path, body: str) -> None:
    (out_dir / "meeting_raw.txt").write_text("assistant\n" + body + "\n", encoding="utf-8")
    lines = [
        '  {"start": %s, "end": %s, "speaker": %d, "text": %s}'
        % (s["start"], s["end"], s["speaker"], json.dumps(s["text"], ensure_ascii=False)) for s in SEGMENTS
    ]
    (out_dir / "meeting.json").write_text("[\n" + ",\n".join(lines) + "\n]\n", encoding="utf-8")
    verbose = {"text": " ".join(s["text"] for s in SEGMENTS), "duration": 3.35, "truncated": False,
               "segments": [{"id": i, **s} for i, s in enumerate(SEGMENTS)]}
    (out_dir / "meeting_verbose.json").write_text(json.dumps(verbose, indent=2, ensure_ascii=False) + "\n",
                                                  encoding="utf-8")


def build(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    second = mef.synth_audio(SECOND_CLIP_SAMPLES, seed=4242, level=0.2)
    mef.write_float_wav(out_dir / "second.wav", second)
    second_read, _ = soundfile.read(str(out_dir / "second.wav"), dtype="float32")
    assert np.array_equal(second_read, second)
    prompts = build_prompt_cases()
    (out_dir / "prompts.json").write_text(json.dumps(prompts, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    scoring = build_scoring(out_dir, second_read)
    (out_dir / "scoring.json").write_text(json.dumps(scoring, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    write_transcripts(out_dir, scoring["body"])
    for e in scoring["loss_cases"]:
        print(f"{e['checkpoint']:22s} {e['name']:30s} {len(e['input_ids']):4d} ids, "
              f"{e['labelled_positions']:3d} labelled, loss {e['loss']:.6f}")
    for t in scoring["teacher_forced"]:
        print(f"{t['checkpoint']:22s} teacher-forced reply {len(t['reply_ids'])} ids, nll {t['nll']:.6f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "Tests" / "Fixtures" / "conversations")
    ap.add_argument("--verify-only", action="store_true", help="rebuild into a temporary folder and compare")
    args = ap.parse_args()
    if args.verify_only:
        tmp = Path(tempfile.mkdtemp(prefix="vv-conv-verify-"))
        build(tmp)
        differ = [p.name for p in sorted(tmp.iterdir()) if p.read_bytes() != (args.out / p.name).read_bytes()]
        shutil.rmtree(tmp)
        if differ:
            sys.exit(f"differ from the committed fixtures: {', '.join(differ)}")
        print("committed fixtures reproduced byte for byte")
        return
    build(args.out)


if __name__ == "__main__":
    main()
