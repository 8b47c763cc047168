#!/usr/bin/env python3
"""Fault injection for `vibevoice-asr`: full disks, read-only outputs, SIGKILL during a download, memory limits.

    swift build && sudo python scripts/fault_tests.py [--binary .build/debug/vibevoice-asr] [--kills 6]
    sudo python scripts/fault_tests.py --quantize     # also the quantize cases (needs the quantize command)

Needs root (it mounts small tmpfs file systems and unmounts them afterwards) and no network: the Hub is a
local fake that serves the tiny checkpoint of Tests/Fixtures/engine/hf_bf16_chunked in the Hub's protocol
(API, resolve with X-Repo-Commit/ETag, LFS redirect with X-Linked-Etag/X-Linked-Size, byte ranges), slowly
when asked, so that a process can be killed in the middle of a transfer. Prints one row per fault: what
happened (exit code, first line of stderr) and what was left on disk; exits 1 if any expectation fails.

Expectations: a clear error (exit 1 for outputs, 2 for model downloads), never a crash (exit >= 128 other than
our own SIGKILL); no output file half-written or left as a temporary; the cache never holds a snapshot file
that points at an incomplete blob; a rerun after the fault completes and gives files whose SHA-256 match.

Quantize cases (`--quantize`) expect the command `vibevoice-asr quantize --model DIR --to q8_0 --output DIR`:
a full disk while writing the quantised checkpoint and SIGKILL at random moments, each followed by a rerun;
the output directory must be either absent/unchanged or complete.
"""
import argparse
import hashlib
import http.server
import json
import os
import random
import shutil
import signal
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "Tests/Fixtures/engine/hf_bf16_chunked/model"
AUDIO = ROOT / "Tests/Fixtures/engine/hf_bf16_chunked/audio.wav"
REPO = "fault/tiny"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
ROWS = []
FAILED = []


# ---- a fake Hub -----------------------------------------------------------------------------------------

class Hub:
    def __init__(self):
        self.files = {p.name: p.read_bytes() for p in MODEL.iterdir()}
        self.trickle = None          # (bytes per write, pause) for /cdn/ bodies
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def send(self, status, headers=(), body=b"", head=False):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if head or not body:
                    return
                if hub.trickle and self.path.startswith("/cdn/"):
                    step, pause = hub.trickle
                    for i in range(0, len(body), step):
                        self.wfile.write(body[i:i + step])
                        self.wfile.flush()
                        time.sleep(pause)
                else:
                    self.wfile.write(body)

            def route(self, head):
                path = self.path
                if path.startswith("/api/models/"):
                    siblings = [{"rfilename": n} for n in hub.files]
                    body = json.dumps({"id": REPO, "sha": COMMIT, "siblings": siblings}).encode()
                    return self.send(200, [("Content-Type", "application/json")], body, head)
                if path.startswith("/cdn/"):
                    sha = path[len("/cdn/"):]
                    data = next((d for d in hub.files.values() if hashlib.sha256(d).hexdigest() == sha), None)
                    if data is None:
                        return self.send(404, head=head)
                    rng = self.headers.get("Range")
                    if rng and rng.startswith("bytes=") and rng.endswith("-"):
                        start = int(rng[6:-1])
                        if start >= len(data):
                            return self.send(416, [("Content-Range", f"bytes */{len(data)}")], head=head)
                        return self.send(206, [("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")],
                                         data[start:], head)
                    return self.send(200, [], data, head)
                parts = path.lstrip("/").split("/", 4)
                if len(parts) != 5 or parts[2] != "resolve" or parts[4] not in hub.files:
                    return self.send(404, [("X-Error-Code", "EntryNotFound")], head=head)
                data = hub.files[parts[4]]
                git = hashlib.sha256(b"blob" + data).hexdigest()[:40]
                if parts[4].endswith(".safetensors"):
                    sha = hashlib.sha256(data).hexdigest()
                    port = self.server.server_address[1]
                    return self.send(302, [("X-Repo-Commit", COMMIT), ("Location", f"http://127.0.0.1:{port}/cdn/{sha}"),
                                           ("X-Linked-Etag", f'"{sha}"'), ("X-Linked-Size", str(len(data))),
                                           ("ETag", f'W/"{git}"')], head=head)
                return self.send(200, [("X-Repo-Commit", COMMIT), ("ETag", f'"{git}"')], data, head)

            def do_GET(self):
                self.route(False)

            def do_HEAD(self):
                self.route(True)

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


# ---- helpers --------------------------------------------------------------------------------------------

def mount(path, size, readonly=False):
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if readonly else "")
    subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], check=True)


def umount(path):
    subprocess.run(["umount", str(path)], check=False)


def fill(path, leave_bytes):
    """Fills the file system of `path` until about `leave_bytes` remain."""
    st = os.statvfs(path)
    free = st.f_bavail * st.f_frsize
    if free > leave_bytes:
        with open(path / ".filler", "wb") as f:
            f.write(b"\0" * (free - leave_bytes))


def listing(path):
    if not path.exists():
        return "(nothing)"
    items = []
    for p in sorted(path.rglob("*")):
        rel = p.relative_to(path)
        if rel.name == ".filler":
            continue
        if p.is_symlink():
            items.append(f"{rel} -> {os.readlink(p)}{'' if p.exists() else ' (DANGLING)'}")
        elif p.is_file():
            items.append(f"{rel} ({p.stat().st_size} B)")
    return ", ".join(items) if items else "(nothing)"


def run(binary, args, env=None, timeout=600):
    r = subprocess.run([binary] + args, capture_output=True, text=True, env=dict(os.environ, **(env or {})),
                       timeout=timeout)
    first = (r.stderr.strip().splitlines() or [""])[-1][:500]
    return r.returncode, first


def row(fault, happened, left, ok):
    ROWS.append((fault, happened, left, "ok" if ok else "FAIL"))
    if not ok:
        FAILED.append(fault)
    print(f"[{'ok' if ok else 'FAIL'}] {fault}\n       happened: {happened}\n       left: {left}", flush=True)


def hub_env(hub, cache):
    return {"HF_ENDPOINT": f"http://127.0.0.1:{hub.port}", "HF_HOME": str(cache), "HF_HUB_CACHE": str(cache),
            "HF_HUB_OFFLINE": "0"}


def snapshot_consistent(cache):
    """Every snapshot file resolves to a complete blob whose SHA-256 (LFS) matches; no .incomplete remains."""
    repo = cache / ("models--" + REPO.replace("/", "--"))
    snap = repo / "snapshots" / COMMIT
    problems = []
    for name, data in Hub().files.items() if False else ((p.name, p.read_bytes()) for p in MODEL.iterdir()):
        f = snap / name
        if not f.exists():
            problems.append(f"{name} missing")
        elif f.read_bytes() != data:
            problems.append(f"{name} differs")
    problems += [f"{p.name} left" for p in (repo / "blobs").glob("*.incomplete")] if (repo / "blobs").exists() else []
    return problems


# ---- the faults -----------------------------------------------------------------------------------------

def output_faults(binary, work):
    raw = work / "big_raw.txt"
    segs = [{"Start": i, "End": i + 1, "Speaker": i % 3, "Content": "word " * 40} for i in range(2000)]
    raw.write_text("assistant\n" + json.dumps(segs))

    disk = work / "full"
    mount(disk, "1m")
    try:
        fill(disk, 64 * 1024)
        code, msg = run(binary, ["convert", str(raw), "--to", "json", "-o", str(disk / "out.json")])
        left = listing(disk)
        row("full disk: convert -o on a 1 MB tmpfs with 64 KB free (output ~500 KB)", f"exit {code}: {msg}", left,
            code == 1 and "No space left" in msg and left == "(nothing)")
        code, msg = run(binary, ["transcribe", str(AUDIO), "-m", str(MODEL), "-q", "--max-new-tokens", "4",
                                 "--output-dir", str(disk), "-f", "json", "-f", "verbose_json", "-f", "srt"])
        left = listing(disk)
        # 64 KB is enough for these small transcripts: they must be complete files, or none.
        complete = all(json.loads((disk / n).read_text()) is not None for n in ["audio.json", "audio.verbose.json"]
                       if (disk / n).exists())
        row("full disk: transcribe --output-dir with 64 KB free", f"exit {code}: {msg or '(no message)'}", left,
            code in (0, 1) and complete and ".tmp" not in left)
        for p in disk.iterdir():
            p.unlink()
        fill(disk, 0)
        code, msg = run(binary, ["transcribe", str(AUDIO), "-m", str(MODEL), "-q", "--max-new-tokens", "4",
                                 "--output-dir", str(disk), "-f", "json"])
        left = listing(disk)
        row("full disk: transcribe --output-dir with 0 bytes free", f"exit {code}: {msg}", left,
            code == 1 and "No space left" in msg and ".tmp" not in left and "audio.json" not in left)
    finally:
        umount(disk)

    ro = work / "ro"
    mount(ro, "1m", readonly=True)
    try:
        code, msg = run(binary, ["convert", str(raw), "--to", "srt", "-o", str(ro / "out.srt")])
        row("read-only output folder: convert -o", f"exit {code}: {msg}", listing(ro),
            code == 1 and "Read-only file system" in msg)
        code, msg = run(binary, ["transcribe", str(AUDIO), "-m", str(MODEL), "-q", "--max-new-tokens", "4",
                                 "--output-dir", str(ro)])
        row("read-only output folder: transcribe --output-dir", f"exit {code}: {msg}", listing(ro),
            code == 1 and "Read-only file system" in msg)
        code, msg = run(binary, ["transcribe", str(AUDIO), "-m", str(MODEL), "-q", "--max-new-tokens", "4",
                                 "--save-audio", str(ro / "in.wav")])
        row("read-only output folder: transcribe --save-audio", f"exit {code}: {msg}", listing(ro),
            code == 1 and str(ro) in msg)
    finally:
        umount(ro)


def download_faults(binary, work, kills):
    hub = Hub()
    args = ["transcribe", str(AUDIO), "-m", REPO, "-q", "--max-new-tokens", "2"]

    cache = work / "cache_full"
    mount(cache, "1m")   # the weights are 2 MB
    try:
        code, msg = run(binary, args, hub_env(hub, cache))
        left = listing(cache)
        row("full disk during a download (1 MB cache, 2 MB of weights)", f"exit {code}: {msg}", left,
            code == 2 and "space" in msg.lower() and "DANGLING" not in left)
        subprocess.run(["mount", "-o", "remount,size=16m", "tmpfs", str(cache)], check=True)
        code, msg = run(binary, args, hub_env(hub, cache))
        problems = snapshot_consistent(cache)
        row("  rerun after freeing space (remount at 16 MB)", f"exit {code}{': ' + msg if code else ''}",
            listing(cache) if problems else "complete snapshot, SHA-256 checked, no .incomplete", code == 0 and not problems)
    finally:
        umount(cache)

    hub.trickle = (16 * 1024, 0.02)   # about 0.8 MB/s: the 2 MB weights take ~2.5 s
    rng = random.Random(13)
    for k in range(kills):
        cache = work / f"cache_kill{k}"
        env = dict(os.environ, **hub_env(hub, cache))
        delay = rng.uniform(0.3, 2.8)
        p = subprocess.Popen([binary] + args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        after_kill = listing(cache)
        dangling = "DANGLING" in after_kill
        hub.trickle = None
        code, msg = run(binary, args, env)
        problems = snapshot_consistent(cache)
        hub.trickle = (16 * 1024, 0.02)
        partial = [s for s in after_kill.split(", ") if ".incomplete" in s]
        row(f"SIGKILL {delay:.2f} s into a download, then a rerun",
            f"killed (left {len(partial)} partial blob(s)); rerun exit {code}{': ' + msg if code else ''}",
            f"after the kill: {after_kill[:200]}; after the rerun: "
            + ("complete, SHA-256 checked" if not problems else ", ".join(problems)),
            not dangling and code == 0 and not problems)
        shutil.rmtree(cache, ignore_errors=True)
    hub.server.shutdown()


def memory_faults(binary, work):
    # A weights file larger than the address-space limit: mmap fails, which must be an error, not a crash.
    big = work / "bigmodel"
    shutil.copytree(MODEL, big)
    (big / "model.safetensors").unlink()
    header = json.dumps({"huge": {"dtype": "F32", "shape": [1024, 1024, 1024], "data_offsets": [0, 4 << 30]}}).encode()
    header += b" " * (-len(header) % 8)
    with open(big / "model.safetensors", "wb") as f:
        f.write(len(header).to_bytes(8, "little") + header)
        f.truncate(8 + len(header) + (4 << 30))   # sparse: 4 GB of zeros that take no disk
    limit = "ulimit -v 2000000; "   # 2 GB of address space
    r = subprocess.run(["bash", "-c", limit + f"'{binary}' transcribe '{AUDIO}' -m '{big}' -q"], capture_output=True, text=True)
    msg = (r.stderr.strip().splitlines() or [""])[-1][:160]
    row("ulimit -v 2 GB, a 4 GB weights file", f"exit {r.returncode}: {msg}", "(reads only)",
        r.returncode == 2 and "mmap failed" in msg)

    # Audio whose header claims 3 hours: the decode buffer is reserved from the header.
    wav = work / "long.wav"
    frames = 3 * 3600 * 24000
    data_bytes = frames * 2
    hdr = (b"RIFF" + (36 + data_bytes).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little")
           + (1).to_bytes(2, "little") + (1).to_bytes(2, "little") + (24000).to_bytes(4, "little")
           + (48000).to_bytes(4, "little") + (2).to_bytes(2, "little") + (16).to_bytes(2, "little")
           + b"data" + data_bytes.to_bytes(4, "little"))
    with open(wav, "wb") as f:
        f.write(hdr)
        f.truncate(len(hdr) + data_bytes)   # sparse: 518 MB of silence
    for limit_kb, what in [(1_000_000, "the decode buffer (1.04 GB) cannot be had"),
                           (1_500_000, "the decode buffer fits, the pipeline's window copy does not")]:
        r = subprocess.run(["bash", "-c", f"ulimit -v {limit_kb}; '{binary}' transcribe '{wav}' -m '{MODEL}' -q --max-new-tokens 2"],
                           capture_output=True, text=True)
        lines = [l for l in r.stderr.strip().splitlines() if l.startswith(("error:", "Fatal error:"))]
        msg = (lines or [""])[0][:300]
        row(f"ulimit -v {limit_kb / 1e6:.1f} GB, a 3-hour WAV: {what}", f"exit {r.returncode}: {msg}", "(reads only)",
            r.returncode in (1, 2))
    shutil.rmtree(big, ignore_errors=True)
    wav.unlink()


def quantize_faults(binary, work, kills):
    out_disk = work / "qfull"
    mount(out_disk, "1m")
    try:
        code, msg = run(binary, ["quantize", "--model", str(MODEL), "--to", "q8_0", "--output", str(out_disk / "q8")])
        left = listing(out_disk)
        row("full disk while writing a quantised checkpoint", f"exit {code}: {msg}", left,
            code in (1, 2) and "space" in msg.lower() and not (out_disk / "q8" / "config.json").exists())
    finally:
        umount(out_disk)
    rng = random.Random(17)
    for k in range(kills):
        out = work / f"q8_kill{k}"
        partial = work / f".q8_kill{k}.partial"
        p = subprocess.Popen([binary, "quantize", "--model", str(MODEL), "--to", "q8_0", "--output", str(out)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        delay = rng.uniform(0.01, 0.35)      # the tiny model quantises in about 0.3 s
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        after = f"{partial.name}: {listing(partial)}; {out.name}: {listing(out)}"
        finished = out.exists()
        loads = lambda: run(binary, ["transcribe", str(AUDIO), "-m", str(out), "-q", "--max-new-tokens", "2",
                                     "--tokenizer", str(MODEL)])[0] == 0
        if finished:
            # The run completed before the kill: the output must be whole, and a rerun refuses to replace it.
            whole = loads()
            code, msg = run(binary, ["quantize", "--model", str(MODEL), "--to", "q8_0", "--output", str(out)])
            row(f"SIGKILL {delay:.2f} s into quantize (it had finished), then a rerun",
                f"output complete and loadable: {whole}; rerun exit {code}: {msg}", f"{after[:200]}",
                whole and code == 1 and "already exists" in msg)
        else:
            # Killed mid-run: nothing at the output path (only the hidden partial directory); the rerun clears
            # it and writes a whole checkpoint.
            code, msg = run(binary, ["quantize", "--model", str(MODEL), "--to", "q8_0", "--output", str(out)])
            ok = code == 0 and loads() and not partial.exists()
            row(f"SIGKILL {delay:.2f} s into quantize (before it finished), then a rerun", f"rerun exit {code}{': ' + msg if code else ''}",
                f"after the kill: {after[:200]}; after the rerun: {'whole' if ok else listing(out)[:120]}", ok)
        shutil.rmtree(out, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=str(ROOT / ".build/debug/vibevoice-asr"))
    ap.add_argument("--kills", type=int, default=6, help="SIGKILLs at random moments of a download")
    ap.add_argument("--quantize", action="store_true", help="also the quantize cases")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the full-disk cases mount tmpfs file systems")
    work = Path(tempfile.mkdtemp(prefix="vibevoice-faults-"))
    try:
        output_faults(args.binary, work)
        download_faults(args.binary, work, args.kills)
        memory_faults(args.binary, work)
        if args.quantize:
            quantize_faults(args.binary, work, args.kills)
    finally:
        for p in work.iterdir():
            umount(p)
        shutil.rmtree(work, ignore_errors=True)
    print("\n| fault | what happened | left on disk | |\n|---|---|---|---|")
    for r in ROWS:
        print("| " + " | ".join(x.replace("|", "/") for x in r) + " |")
    print(f"\n{len(ROWS) - len(FAILED)} of {len(ROWS)} faults handled as expected")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
