#!/usr/bin/env python3
"""Drive a running `vibevoice-asr serve` with the official `openai` Python client (pip install openai):
`client.audio.transcriptions.create(...)` for every response format and with streaming, plus the error
paths a client meets (bad key, bad format). Prints one line per call and exits 1 if any check fails.

    vibevoice-asr serve -m Tests/Fixtures/engine/hf_bf16_chunked/model --max-new-tokens 24 --api-key k &
    python scripts/openai_client_check.py --base-url http://127.0.0.1:8000/v1 --api-key k
"""
import argparse
import pathlib
import sys

import openai
from openai import OpenAI
from openai.types.audio import Transcription, TranscriptionDiarized, TranscriptionVerbose

ROOT = pathlib.Path(__file__).resolve().parent.parent
failures = 0


def report(ok, label, detail):
    global failures
    failures += 0 if ok else 1
    print(f"{'ok  ' if ok else 'FAIL'}  {label}: {detail}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base-url", default="http://127.0.0.1:8000/v1")
    ap.add_argument("--api-key", default="none")
    ap.add_argument("--audio", default=str(ROOT / "Tests/Fixtures/engine/hf_bf16_chunked/audio.wav"))
    args = ap.parse_args()
    client = OpenAI(base_url=args.base_url, api_key=args.api_key, max_retries=0, timeout=600)
    audio = pathlib.Path(args.audio)
    print(f"openai {openai.__version__}, server {args.base_url}, audio {audio.name}")

    models = client.models.list()
    report(len(models.data) == 1, "models.list", [m.id for m in models.data])

    for fmt in ["json", "verbose_json", "diarized_json", "text", "srt", "vtt"]:
        with audio.open("rb") as f:
            r = client.audio.transcriptions.create(model="whisper-1", file=f, response_format=fmt, prompt="Alice, Bob")
        if fmt == "json":
            report(isinstance(r, Transcription) and isinstance(r.text, str) and r.usage is not None and r.usage.type == "duration",
                   fmt, f"Transcription(text={r.text[:30]!r}..., usage.seconds={r.usage.seconds})")
        elif fmt == "verbose_json":
            ok = isinstance(r, TranscriptionVerbose) and r.duration > 0 and r.language == "unknown" and r.segments is not None
            extra = r.model_extra or {}
            report(ok and len(extra.get("tokens", [])) > 0, fmt,
                   f"TranscriptionVerbose(duration={r.duration}, language={r.language!r}, {len(r.segments or [])} segments, "
                   f"tokens={len(extra.get('tokens', []))}, prompt_tokens={extra.get('prompt_tokens')}, truncated={extra.get('truncated')})")
        elif fmt == "diarized_json":
            report(isinstance(r, TranscriptionDiarized) and r.task == "transcribe" and r.duration > 0, fmt,
                   f"TranscriptionDiarized(duration={r.duration}, {len(r.segments)} segments)")
        else:
            report(isinstance(r, str), fmt, f"str of {len(r)} characters: {r[:40]!r}")
    # rttm is ours, not in the client's list: it comes back through extra_body as the raw body.
    with audio.open("rb") as f:
        raw = client.audio.transcriptions.with_raw_response.create(model="whisper-1", file=f, extra_body={"response_format": "rttm"})
    report(raw.http_response.status_code == 200, "rttm (extra_body)", f"{len(raw.http_response.text)} bytes")

    for fmt in ["json", "diarized_json"]:
        with audio.open("rb") as f:
            stream = client.audio.transcriptions.create(model="whisper-1", file=f, response_format=fmt, stream=True)
            kinds = [event.type for event in stream]
        done_last = bool(kinds) and kinds[-1] == "transcript.text.done"
        report(done_last, f"stream=True ({fmt})", f"events {kinds}")

    try:
        bad = OpenAI(base_url=args.base_url, api_key="wrong-key", max_retries=0)
        with audio.open("rb") as f:
            bad.audio.transcriptions.create(model="whisper-1", file=f)
        report(args.api_key == "none", "wrong key", "accepted (the server has no key)")
    except openai.AuthenticationError as e:
        report(e.status_code == 401, "wrong key", f"AuthenticationError {e.status_code}: {e.body.get('code') if isinstance(e.body, dict) else e.body}")
    try:
        with audio.open("rb") as f:
            client.audio.transcriptions.create(model="whisper-1", file=f, response_format="mp3")
        report(False, "bad response_format", "accepted")
    except openai.BadRequestError as e:
        report(e.status_code == 400, "bad response_format", f"BadRequestError {e.status_code}: {e.body.get('code') if isinstance(e.body, dict) else e.body}")
    try:
        client.audio.transcriptions.create(model="whisper-1", file=("notes.wav", b"this is not audio"))
        report(False, "non-audio bytes", "accepted")
    except openai.BadRequestError as e:
        report(e.status_code == 400, "non-audio bytes named .wav", f"BadRequestError {e.status_code}: {e.body.get('code') if isinstance(e.body, dict) else e.body}")

    print("all passed" if failures == 0 else f"{failures} failure(s)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
