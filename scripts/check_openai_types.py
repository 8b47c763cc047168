#!/usr/bin/env python3
"""Validate our OpenAI-shaped outputs against the `openai` package's own pydantic types (strict validation,
not the client's lenient parsing).

Two sources, either or both:
  --cli BINARY     render the committed transcript fixtures with `vibevoice-asr convert` (verbose_json,
                   diarized_json) and validate them;
  --server URL     post an audio file to a running `vibevoice-asr serve` in every JSON format and with
                   stream=true, and validate each body and each event.

    python scripts/check_openai_types.py --cli .build/debug/vibevoice-asr
    python scripts/check_openai_types.py --server http://127.0.0.1:8000 --audio Tests/Fixtures/engine/hf_bf16_chunked/audio.wav

Exit status 0 when everything validates, 1 otherwise. Needs only the `openai` package (pip install openai).
"""
import argparse
import json
import pathlib
import subprocess
import sys
import urllib.request
import uuid

from openai.types.audio import (Transcription, TranscriptionDiarized, TranscriptionTextDeltaEvent,
                                TranscriptionTextDoneEvent, TranscriptionTextSegmentEvent, TranscriptionVerbose)

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "Tests" / "Fixtures" / "transcripts"
TYPES = {"json": Transcription, "verbose_json": TranscriptionVerbose, "diarized_json": TranscriptionDiarized}
EVENTS = {"transcript.text.delta": TranscriptionTextDeltaEvent, "transcript.text.done": TranscriptionTextDoneEvent,
          "transcript.text.segment": TranscriptionTextSegmentEvent}

failures = 0


def check(label, model, text):
    global failures
    try:
        parsed = model.model_validate_json(text, strict=True)
        print(f"ok    {label}: {model.__name__}" + (f", {len(parsed.segments)} segments" if getattr(parsed, "segments", None) is not None else ""))
    except Exception as e:  # pydantic.ValidationError or JSON errors
        failures += 1
        print(f"FAIL  {label}: {model.__name__}: {e}")


def from_cli(binary):
    for name in ["meeting_verbose.json", "meeting.json", "meeting_raw.txt", "librispeech_raw.txt", "truncated_raw.txt", "plain_raw.txt"]:
        for fmt in ["verbose_json", "diarized_json"]:
            out = subprocess.run([binary, "convert", str(FIXTURES / name), "--to", fmt], capture_output=True, text=True)
            if out.returncode != 0:
                global failures
                failures += 1
                print(f"FAIL  convert {name} --to {fmt}: exit {out.returncode}: {out.stderr.strip()}")
                continue
            check(f"convert {name} --to {fmt}", TYPES[fmt], out.stdout)


def multipart(fields, audio_path):
    boundary = uuid.uuid4().hex
    body = b""
    for k, v in fields.items():
        body += f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n".encode()
    body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{pathlib.Path(audio_path).name}\"\r\n"
             "Content-Type: application/octet-stream\r\n\r\n").encode()
    body += pathlib.Path(audio_path).read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def post(url, key, fields, audio):
    body, ctype = multipart(fields, audio)
    req = urllib.request.Request(url.rstrip("/") + "/v1/audio/transcriptions", data=body, method="POST",
                                 headers={"Content-Type": ctype, **({"Authorization": f"Bearer {key}"} if key else {})})
    with urllib.request.urlopen(req, timeout=600) as r:
        return r.read().decode()


def from_server(url, key, audio):
    for fmt, model in TYPES.items():
        check(f"server response_format={fmt}", model, post(url, key, {"response_format": fmt, "model": "whisper-1"}, audio))
    for fmt in ["json", "diarized_json"]:
        raw = post(url, key, {"stream": "true", "response_format": fmt}, audio)
        seen = []
        for block in raw.split("\n\n"):
            data = "\n".join(line[6:] for line in block.split("\n") if line.startswith("data: "))
            if not data:
                continue
            kind = json.loads(data).get("type")
            seen.append(kind)
            if kind in EVENTS:
                check(f"server stream ({fmt}) event {kind}", EVENTS[kind], data)
            else:
                global failures
                failures += 1
                print(f"FAIL  server stream ({fmt}): unexpected event {data[:200]}")
        if not seen or seen[-1] != "transcript.text.done":
            failures += 1
            print(f"FAIL  server stream ({fmt}): does not end with transcript.text.done: {seen}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cli", help="path to the vibevoice-asr binary")
    ap.add_argument("--server", help="base URL of a running vibevoice-asr serve")
    ap.add_argument("--api-key", default=None)
    ap.add_argument("--audio", default=str(ROOT / "Tests/Fixtures/engine/hf_bf16_chunked/audio.wav"))
    args = ap.parse_args()
    if not args.cli and not args.server:
        ap.error("give --cli, --server or both")
    if args.cli:
        from_cli(args.cli)
    if args.server:
        from_server(args.server, args.api_key, args.audio)
    print(f"{'all valid' if failures == 0 else f'{failures} failure(s)'}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
