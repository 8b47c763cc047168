#!/usr/bin/env python3
"""Overload a running `vibevoice-asr serve` and report how it holds up (a development tool, not a test).

A bounded asyncio client keeps FACTOR x capacity requests in flight for DURATION seconds (capacity is read
from the server's /metrics: running slots plus queue places), each on its own loopback connection. A client
that gets 429 waits --backoff seconds before its next try. At the end it prints accepted (200), refused (429),
any other outcome, p50/p99 latency of both, and the server's resident memory over the run (sampled from
/proc/PID/status every 0.5 s; VmHWM is the kernel's peak).

    vibevoice-asr serve -m Tests/Fixtures/engine/hf_bf16_chunked/model --max-new-tokens 24 --port 8000 & PID=$!
    python scripts/load_test.py --port 8000 --pid $PID --factor 10 --duration 60
"""
import argparse
import asyncio
import collections
import pathlib
import re
import statistics
import time
import urllib.request
import uuid

ROOT = pathlib.Path(__file__).resolve().parent.parent


def request_bytes(host, port, audio, key):
    """The request head and body, apart: the client sends the body only while no answer has come."""
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"response_format\"\r\n\r\njson\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n"
            "Content-Type: audio/wav\r\n\r\n").encode() + audio + f"\r\n--{boundary}--\r\n".encode()
    head = (f"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n")
    if key:
        head += f"Authorization: Bearer {key}\r\n"
    return head.encode() + b"\r\n", body


async def one(host, port, payload, timeout):
    """One request; the latency is the time until the response's status line arrives (a refusal can
    come before the upload is finished, and then the rest of the upload is not sent)."""
    head, body = payload
    t0 = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        answer = asyncio.ensure_future(reader.readuntil(b"\r\n"))
        writer.write(head)
        for i in range(0, len(body), 65536):
            if answer.done():
                break
            writer.write(body[i:i + 65536])
            await writer.drain()
        status_line = await asyncio.wait_for(answer, timeout)
        latency = time.monotonic() - t0
        await asyncio.wait_for(reader.read(), timeout)
        writer.close()
        status = int(status_line.split(b" ", 2)[1]) if status_line.startswith(b"HTTP/1.1 ") else -1
        return status, latency
    except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError, OSError) as e:
        return type(e).__name__, time.monotonic() - t0


def rss_kb(pid, field="VmRSS"):
    try:
        text = pathlib.Path(f"/proc/{pid}/status").read_text()
        return int(re.search(rf"{field}:\s+(\d+)", text).group(1))
    except (OSError, AttributeError):
        return None


async def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--pid", type=int, help="server process id, for its resident memory")
    ap.add_argument("--api-key")
    ap.add_argument("--audio", default=str(ROOT / "Tests/Fixtures/engine/hf_bf16_chunked/audio.wav"))
    ap.add_argument("--factor", type=float, default=10, help="clients in flight, as a multiple of capacity")
    ap.add_argument("--duration", type=float, default=60)
    ap.add_argument("--backoff", type=float, default=0.2, help="seconds a refused client waits before retrying")
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args()

    metrics = urllib.request.urlopen(f"http://{args.host}:{args.port}/metrics", timeout=10).read().decode()
    capacity = int(re.search(r"^vibevoice_capacity (\d+)", metrics, re.M).group(1))
    clients = max(1, round(args.factor * capacity))
    payload = request_bytes(args.host, args.port, pathlib.Path(args.audio).read_bytes(), args.api_key)
    print(f"capacity {capacity} (1 running + {capacity - 1} queued), {clients} clients for {args.duration:.0f} s, "
          f"upload {len(payload[0]) + len(payload[1])} bytes")

    results = []
    samples = []
    stop_at = time.monotonic() + args.duration
    start_rss = rss_kb(args.pid) if args.pid else None

    async def client():
        while time.monotonic() < stop_at:
            status, seconds = await one(args.host, args.port, payload, args.timeout)
            results.append((status, seconds, time.monotonic() < stop_at))
            if status == 429:
                await asyncio.sleep(args.backoff)

    async def sampler():
        while time.monotonic() < stop_at + 1:
            if args.pid:
                samples.append((time.monotonic(), rss_kb(args.pid)))
            await asyncio.sleep(0.5)

    t0 = time.monotonic()
    await asyncio.gather(sampler(), *[client() for _ in range(clients)])
    wall = time.monotonic() - t0

    by_status = collections.Counter(r[0] for r in results)
    def pct(xs, p):
        if not xs:
            return float("nan")
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
    ok = [r[1] for r in results if r[0] == 200]
    refused = [r[1] for r in results if r[0] == 429]
    other = {k: v for k, v in by_status.items() if k not in (200, 429)}
    print(f"wall {wall:.1f} s; requests {len(results)}")
    print(f"accepted (200): {len(ok)}  ({len(ok) / wall:.2f}/s)   p50 {pct(ok, 50):.3f} s   p99 {pct(ok, 99):.3f} s")
    print(f"refused  (429): {len(refused)}  p50 {pct(refused, 50) * 1000:.1f} ms   p99 {pct(refused, 99) * 1000:.1f} ms")
    print(f"other outcomes: {other if other else 'none'}")
    if args.pid:
        values = [kb for _, kb in samples if kb]
        print(f"server resident memory: start {start_rss / 1024:.1f} MiB, min {min(values) / 1024:.1f}, "
              f"max {max(values) / 1024:.1f}, end {values[-1] / 1024:.1f} MiB; peak (VmHWM) "
              f"{(rss_kb(args.pid, 'VmHWM') or 0) / 1024:.1f} MiB")
        third = max(1, len(values) // 3)
        print(f"  mean over first / last third of the run: {statistics.mean(values[:third]) / 1024:.1f} / "
              f"{statistics.mean(values[-third:]) / 1024:.1f} MiB")


if __name__ == "__main__":
    asyncio.run(main())
