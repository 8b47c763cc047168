#!/usr/bin/env python3
"""Checks that other tools read our subtitles and RTTM as we mean them.

    pip install pysrt webvtt-py pyannote.core
    swift build && python scripts/check_output_parsers.py [--binary .build/debug/vibevoice-asr]

A raw model output with the awkward cases (zero-length, reversed and absurd times, hours past 99, text with
U+2028, U+2029, U+0085, VT and FF, `-->` and tags) goes through `vibevoice-asr convert` to srt, vtt and
rttm, then:
- pysrt (splits cue lines with Python's `splitlines`) must see the cue lines a strict parser sees (split at
  CR/LF only), and the same times;
- webvtt-py must read every cue with our times and text;
- pyannote.core must keep every RTTM turn (it drops zero-length segments, so we must write none), and its
  own `write_rttm` must reproduce our lines.
Exit status 0 when every check passes.
"""
import argparse
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SEGMENTS = [
    {"Start": 0, "End": 1.5, "Speaker": 0, "Content": "plain"},
    {"Start": 1.5, "End": 1.5, "Speaker": 1, "Content": "zero length"},
    {"Start": 3, "End": 2, "Speaker": 1, "Content": "reversed"},
    {"Start": 2.0004, "End": 2.0001, "Speaker": 0, "Content": "rounds to zero"},
    {"Start": 4, "End": 5.25, "Speaker": 0, "Content": "line\u2028sep para\u2029sep nel\u0085sep vt\u000bff\u000cend"},
    {"Start": 6, "End": 7, "Speaker": 2, "Content": "arrow --> and <b>tag</b> & amp"},
    {"Start": 360000, "End": 360001.001, "Speaker": 0, "Content": "a hundred hours"},
    {"Start": 8, "End": "1e306:00:00", "Speaker": 1, "Content": "absurd end"},
    {"Start": 9, "End": 10, "Speaker": None, "Content": "two\nlines"},
]


def convert(binary, raw, fmt):
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
        f.write(raw)
    r = subprocess.run([binary, "convert", f.name, "--to", fmt, "--file-id", "meeting"], capture_output=True)
    Path(f.name).unlink()
    if r.returncode != 0:
        sys.exit(f"convert --to {fmt} failed: {r.stderr.decode()}")
    return r.stdout.decode("utf-8")


def strict_cues(text):
    """Cues as a strict parser reads SRT/VTT: blocks split at blank lines, lines at CR/LF only."""
    blocks, cur = [], []
    for line in text.replace("\r\n", "\n").split("\n"):
        if line == "":
            if cur:
                blocks.append(cur)
            cur = []
        else:
            cur.append(line)
    if cur:
        blocks.append(cur)
    return blocks


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=str(ROOT / ".build/debug/vibevoice-asr"))
    args = ap.parse_args()
    import pysrt
    import webvtt
    from pyannote.core import Annotation, Segment

    raw = "assistant\n" + json.dumps(SEGMENTS, ensure_ascii=False)
    failures = []

    srt = convert(args.binary, raw, "srt")
    strict = [b[2:] for b in strict_cues(srt)]
    subs = pysrt.from_string(srt)
    if len(subs) != len(strict):
        failures.append(f"pysrt reads {len(subs)} cues, a strict parser {len(strict)}")
    for sub, lines in zip(subs, strict):
        if sub.text.splitlines() != lines:
            failures.append(f"pysrt cue {sub.index}: {sub.text.splitlines()!r} != strict {lines!r}")
    print(f"srt: {len(subs)} cues read by pysrt")

    vtt = convert(args.binary, raw, "vtt")
    cues = webvtt.from_buffer(io.StringIO(vtt))
    strict_vtt = strict_cues(vtt)[1:]   # the first block is the WEBVTT header
    if len(cues) != len(strict_vtt):
        failures.append(f"webvtt-py reads {len(cues)} cues, a strict parser {len(strict_vtt)}")
    for cue, block in zip(cues, strict_vtt):
        start, _, end = block[0].partition(" --> ")
        if (cue.start, cue.end) != (start, end):
            failures.append(f"webvtt-py times {cue.start} --> {cue.end} != {block[0]}")
        if cue.raw_text.splitlines() != block[1:]:
            failures.append(f"webvtt-py text {cue.raw_text!r} != {block[1:]!r}")
    print(f"vtt: {len(cues)} cues read by webvtt-py")

    rttm = convert(args.binary, raw, "rttm")
    lines = rttm.splitlines()
    ann = Annotation(uri="meeting")
    for i, line in enumerate(lines):
        f = line.split()
        if len(f) != 10 or f[0] != "SPEAKER":
            failures.append(f"rttm line is not 10 fields: {line!r}")
            continue
        onset, duration = float(f[3]), float(f[4])
        ann[Segment(onset, onset + duration), i] = f[7]
    kept = len(list(ann.itertracks()))
    if kept != len(lines):
        failures.append(f"pyannote.core kept {kept} of {len(lines)} RTTM turns")
    out = io.StringIO()
    ann.write_rttm(out)
    if sorted(out.getvalue().splitlines()) != sorted(lines):
        failures.append("pyannote.core writes these turns differently:\n" + out.getvalue() + "ours:\n" + rttm)
    print(f"rttm: {len(lines)} turns written, {kept} kept by pyannote.core")

    for f in failures:
        print("FAIL:", f)
    print("all checks passed" if not failures else f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
