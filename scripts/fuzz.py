#!/usr/bin/env python3
"""Builds the libFuzzer harnesses of Fuzz/ (with the address sanitizer) and runs each for a given time.

    python scripts/fuzz.py                      # every harness, 60 s each
    python scripts/fuzz.py --seconds 600 FuzzSafetensors FuzzConfig
    python scripts/fuzz.py --runs 1000000       # stop each harness after a million executions
    python scripts/fuzz.py --runs 1000000 --workers 2 FuzzAudioLoader   # two processes, 500 000 each
    python scripts/fuzz.py --make-seeds         # rewrite the committed seed corpora in Fuzz/Corpus/

Seeds (small, committed) are in Fuzz/Corpus/<harness>/; the growing corpus and any finding (crash-*,
leak-*, timeout-*, slow-unit-*, oom-*) go to Fuzz/.work/<harness>/ (ignored by git). An input slower than
1 s counts as a finding (-timeout=1, -report_slow_units=1). Prints one line per harness: executions, rate,
corpus size and findings. Every finding becomes a regression test in the main test suite.
"""
import argparse
import gzip
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUZZ = ROOT / "Fuzz"
WORK = FUZZ / ".work"
CORPUS = FUZZ / "Corpus"

# harness -> largest input libFuzzer makes (bytes)
HARNESSES = {
    "FuzzSafetensors": 4096,
    "FuzzShardIndex": 8192,
    "FuzzConfig": 8192,
    "FuzzTokenizerLoad": 8192,
    "FuzzTokenizerEncode": 1024,
    "FuzzTokenizerDecode": 1024,
    "FuzzTranscriptParser": 4096,
    "FuzzConvertReader": 4096,
    "FuzzAudioLoader": 65536,
    "FuzzServerRequest": 16384,
}

# harness -> seed folders besides Fuzz/Corpus/<harness> (read only; the committed test fixtures)
EXTRA_SEEDS = {
    "FuzzAudioLoader": [ROOT / "Tests/Fixtures/containers"],
}


def build():
    cmd = ["swift", "build", "--package-path", str(FUZZ), "-c", "release",
           "-Xswiftc", "-sanitize=fuzzer,address", "-Xswiftc", "-g"]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    out = subprocess.run(cmd + ["--show-bin-path"], check=True, capture_output=True, text=True).stdout.strip()
    return Path(out)


def tokenizer_path():
    target = WORK / "qwen2.5-tokenizer.json"
    if not target.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        with gzip.open(ROOT / "Tests/Fixtures/tokenizer/qwen2.5-tokenizer.json.gz", "rb") as src:
            target.write_bytes(src.read())
    return target


def run(binary, name, seconds, runs, workers=1):
    """Runs one harness: `workers` processes side by side on the same corpus folder (each reads the others' new
    inputs when it reloads the folder), the executions split between them; prints their sum."""
    work = WORK / name
    artifacts = WORK / "artifacts" / name
    work.mkdir(parents=True, exist_ok=True)
    artifacts.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, FUZZ_ROOT=str(ROOT), FUZZ_TOKENIZER=str(tokenizer_path()),
               ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:symbolize=1",
               LSAN_OPTIONS=f"suppressions={FUZZ / 'lsan.supp'}",
               SWIFT_BACKTRACE="enable=no")   # the backtracer hangs under ASAN after an abort
    base = [str(binary / name), f"-max_len={HARNESSES[name]}", "-timeout=1", "-report_slow_units=1",
            "-rss_limit_mb=3072", "-print_final_stats=1", f"-artifact_prefix={artifacts}/"]
    if seconds:
        base.append(f"-max_total_time={seconds}")
    if runs:
        base.append(f"-runs={-(-runs // workers)}")
    base += [str(work), str(CORPUS / name)] + [str(d) for d in EXTRA_SEEDS.get(name, [])]
    logs = [WORK / (f"{name}.log" if i == 0 else f"{name}.{i}.log") for i in range(workers)]
    start = time.time()
    handles = [open(log, "w") for log in logs]
    procs = [subprocess.Popen(base, env=env, stdout=h, stderr=subprocess.STDOUT) for h in handles]
    codes = [p.wait() for p in procs]
    for h in handles:
        h.close()
    elapsed = time.time() - start
    execs, slow = 0, 0
    for log in logs:
        text = log.read_text(errors="replace")
        counts = re.findall(r"stat::number_of_executed_units:\s*(\d+)", text)
        execs += int(counts[-1]) if counts else 0
        slow += len(re.findall(r"Slowest unit: (\d+) s", text))
    findings = sorted(p.name for p in artifacts.iterdir())
    corpus = len(list(work.iterdir()))
    status = "ok" if not any(codes) and not findings else f"FINDINGS (exit {max(codes, key=abs)})"
    print(f"{name:22s} {execs:>10d} execs {execs / max(elapsed, 1e-9):>9.0f}/s  {elapsed:6.0f} s  corpus {corpus:5d}  "
          f"workers {workers}  slow-unit reports {slow}  {status} {' '.join(findings)}", flush=True)
    return execs, findings


# ---- seed corpora ------------------------------------------------------------------------------------


def safetensors_bytes(tensors, metadata=None, pad=True):
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def server_seeds(put):
    """Requests as the server reads them: the Content-Type line, a newline, the multipart body."""
    def form(boundary, parts, close=True):
        out = b""
        for headers, body in parts:
            out += b"--" + boundary + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body + b"\r\n"
        return out + (b"--" + boundary + b"--\r\n" if close else b"")
    b = b"XyZ123"
    file_part = ([b'Content-Disposition: form-data; name="file"; filename="a.wav"', b"Content-Type: audio/wav"],
                 b"RIFF\x24\x00\x00\x00WAVEfmt ")
    field = lambda name, value: ([b'Content-Disposition: form-data; name="' + name + b'"'], value)
    put("FuzzServerRequest", "full", b"multipart/form-data; boundary=XyZ123\n" + form(b, [
        field(b"model", b"vibevoice-asr"), field(b"response_format", b"verbose_json"), field(b"temperature", b"0.2"),
        field(b"stream", b"true"), field(b"prompt", b"Names: Ada, Grace"), file_part]))
    put("FuzzServerRequest", "quoted", b'Multipart/Form-Data; charset=utf-8; boundary="a b;c"\n' + form(b"a b;c", [
        ([b'content-disposition: form-data; name="file"; filename="x \\"y\\".m4a"'], b"\x00\x01\x02"),
        field(b"timestamp_granularities[]", b"segment")]))
    put("FuzzServerRequest", "cut", b"multipart/form-data; boundary=q\n" + form(b"q", [file_part], close=False))
    put("FuzzServerRequest", "bad_field", b"multipart/form-data; boundary=q\n" + form(b"q", [
        field(b"response_format", b"mp3"), field(b"temperature", b"nan"), file_part]))


def make_seeds():
    if CORPUS.exists():
        shutil.rmtree(CORPUS)
    def put(harness, name, data):
        d = CORPUS / harness
        d.mkdir(parents=True, exist_ok=True)
        (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())

    f32 = struct.pack("<4f", 1, -2, 3.5, 0)
    put("FuzzSafetensors", "f32", safetensors_bytes([("w", "F32", [2, 2], f32)]))
    put("FuzzSafetensors", "mixed", safetensors_bytes(
        [("a", "BF16", [3], b"\x80\x3f\x00\x40\x40\x40"), ("b", "F16", [1], b"\x00\x3c"), ("c", "F32", [0], b"")],
        metadata={"format": "pt"}))
    put("FuzzSafetensors", "unpadded", safetensors_bytes([("x", "F32", [1], f32[:4])], pad=False))

    engine = ROOT / "Tests/Fixtures/engine"
    index = json.loads((engine / "original_sharded_context/model/model.safetensors.index.json").read_text())
    put("FuzzShardIndex", "real", json.dumps({"metadata": index["metadata"],
                                              "weight_map": dict(list(index["weight_map"].items())[:60])}))
    few = dict(list(index["weight_map"].items())[:3])
    put("FuzzShardIndex", "few", json.dumps({"metadata": {}, "weight_map": few}))

    for case in ["hf_bf16_chunked", "original_sharded_context"]:
        put("FuzzConfig", case, (engine / case / "model/config.json").read_bytes())
    put("FuzzConfig", "released_hf", (ROOT / "Tests/Fixtures/configs/hf_released_config.json").read_bytes())

    tok = json.loads((engine / "hf_bf16_chunked/model/tokenizer.json").read_text())
    put("FuzzTokenizerLoad", "tiny", json.dumps(tok, ensure_ascii=False))
    small = dict(tok)
    small["model"] = dict(tok["model"], vocab=dict(list(tok["model"]["vocab"].items())[:260]), merges=[])
    put("FuzzTokenizerLoad", "no_merges", json.dumps(small, ensure_ascii=False))

    cases = json.loads((ROOT / "Tests/Fixtures/tokenizer/cases.json").read_text())
    texts = [c["text"] for c in cases["encode"] if c["text"]]
    for i, t in enumerate(texts[::max(1, len(texts) // 12)][:12]):
        put("FuzzTokenizerEncode", f"case{i}", t)
    put("FuzzTokenizerEncode", "cjk_ext", "\U00031350\U0002EBF0 x \U000323AF")
    put("FuzzTokenizerDecode", "prompt", b"\x00" + struct.pack("<8I", 151644, 8948, 198, 2610, 151645, 198, 77091, 151643))
    put("FuzzTokenizerDecode", "bytes", b"\x01" + struct.pack("<6I", 5809, 226, 94, 2376, 152063, 0x80000001))

    transcripts = ROOT / "Tests/Fixtures/transcripts"
    for name in ["librispeech_raw.txt", "truncated_raw.txt", "plain_raw.txt"]:
        put("FuzzTranscriptParser", name, (transcripts / name).read_bytes()[:4096])
    put("FuzzTranscriptParser", "variants", '```json\n[{"Start time":"00:01.5","End time":"2,5","Speaker ID":"Speaker 1",'
        '"Content":"a\\u00e9"},{"Start":1e306,"End":null,"Content":"[Music]"}]\n```')
    for name in ["meeting.json", "meeting_verbose.json", "meeting_raw.txt"]:
        put("FuzzConvertReader", name, (transcripts / name).read_bytes()[:4096])

    server_seeds(put)

    # Audio: tiny files in each container, written with the same libsndfile the engine reads with.
    import numpy as np
    import soundfile as sf
    t = np.arange(2400) / 24000
    x = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    audio = CORPUS / "FuzzAudioLoader"
    audio.mkdir(parents=True, exist_ok=True)
    sf.write(audio / "pcm16.wav", x, 24000, subtype="PCM_16")
    sf.write(audio / "float_stereo.wav", np.stack([x[:1200], -x[:1200]], 1), 16000, subtype="FLOAT")
    sf.write(audio / "a.flac", x, 24000, subtype="PCM_16")
    sf.write(audio / "a.ogg", x, 24000, format="OGG", subtype="VORBIS")
    sf.write(audio / "a.aiff", x[:800], 8000, format="AIFF", subtype="PCM_16")
    sf.write(audio / "a.mp3", np.tile(x, 2), 24000, format="MP3")
    for p in sorted(CORPUS.rglob("*")):
        if p.is_file():
            print(f"{p.relative_to(ROOT)}  {p.stat().st_size} bytes")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("harnesses", nargs="*", help="harness names (default: all)")
    ap.add_argument("--seconds", type=int, default=None,
                    help="time per harness (default 60, or no limit when --runs is given; 0: no limit)")
    ap.add_argument("--runs", type=int, default=0, help="executions per harness, all workers together (0: no limit)")
    ap.add_argument("--workers", type=int, default=1, help="processes per harness, side by side (default 1)")
    ap.add_argument("--make-seeds", action="store_true", help="rewrite Fuzz/Corpus and stop")
    ap.add_argument("--make-server-seeds", action="store_true", help="write only Fuzz/Corpus/FuzzServerRequest")
    ap.add_argument("--no-build", action="store_true", help="use the harnesses already built")
    args = ap.parse_args()
    if args.make_seeds:
        make_seeds()
        return 0
    if args.make_server_seeds:
        def put(harness, name, data):
            d = CORPUS / harness
            d.mkdir(parents=True, exist_ok=True)
            (d / name).write_bytes(data)
        server_seeds(put)
        return 0
    if args.seconds is None:
        args.seconds = 0 if args.runs else 60
    names = args.harnesses or list(HARNESSES)
    unknown = [n for n in names if n not in HARNESSES]
    if unknown:
        sys.exit(f"unknown harness: {', '.join(unknown)} (known: {', '.join(HARNESSES)})")
    binary = Path(subprocess.run(["swift", "build", "--package-path", str(FUZZ), "-c", "release", "-Xswiftc",
                                  "-sanitize=fuzzer,address", "-Xswiftc", "-g", "--show-bin-path"],
                                 check=True, capture_output=True, text=True).stdout.strip()) if args.no_build else build()
    total_findings = 0
    for name in names:
        _, findings = run(binary, name, args.seconds, args.runs, max(1, args.workers))
        total_findings += len(findings)
    return 1 if total_findings else 0


if __name__ == "__main__":
    sys.exit(main())
