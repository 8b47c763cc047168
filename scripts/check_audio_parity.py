#!/usr/bin/env python3
"""Compare the Swift audio front-end's 24 kHz output with independent resamplers.

Development check, not run by CI. It runs the Swift test that writes source files and our
output into a directory, then for each case compares our output with
  * scipy.signal.resample_poly (an independent polyphase resampler), and
  * the reference front-end's path (soundfile + python-soxr "soxr_hq", padded/trimmed to
    ceil(n * 24000 / rate)), if the `soxr` package is installed,
printing SNR (dB, over the whole signal and away from the edges) and the lag (samples) at
the cross-correlation peak.

Usage: python3 scripts/check_audio_parity.py [--dir DIR] [--no-run]
"""
import argparse
import math
import os
import subprocess
import sys
import tempfile
from fractions import Fraction

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

CASES = ["stereo44k", "mono16k", "mono48k"]


def snr_db(ours, ref):
    noise = np.sum((ours.astype(np.float64) - ref.astype(np.float64)) ** 2)
    signal = np.sum(ref.astype(np.float64) ** 2)
    return float("inf") if noise == 0 else 10 * math.log10(signal / noise)


def lag(ours, ref, max_lag=32):
    a = ours.astype(np.float64)
    b = ref.astype(np.float64)
    best, best_val = 0, -np.inf
    for k in range(-max_lag, max_lag + 1):
        if k >= 0:
            v = np.dot(a[k:], b[: len(b) - k])
        else:
            v = np.dot(a[: len(a) + k], b[-k:])
        if v > best_val:
            best, best_val = k, v
    return best


def reference_front_end(mono, rate):
    """The reference: python-soxr soxr_hq, then pad/trim to ceil(n * 24000 / rate)."""
    import soxr

    n_out = math.ceil(len(mono) * 24000 / rate)
    y = soxr.resample(mono, rate, 24000, quality="soxr_hq")
    return np.pad(y, (0, max(0, n_out - len(y))))[:n_out].astype(np.float32)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", default=None, help="where the files go (default: a temporary directory)")
    parser.add_argument("--no-run", action="store_true", help="use files already in --dir")
    args = parser.parse_args()
    out_dir = args.dir or tempfile.mkdtemp(prefix="audio-parity-")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if not args.no_run:
        env = dict(os.environ, AUDIO_PARITY_DIR=out_dir)
        subprocess.run(["swift", "test", "--filter", "ParityDumpTests"], cwd=root, env=env, check=True,
                       stdout=subprocess.DEVNULL)
    try:
        import soxr  # noqa: F401
        have_soxr = True
    except ImportError:
        have_soxr = False
        print("python-soxr not installed: skipping the comparison with the reference front-end")

    for case in CASES:
        src, rate = sf.read(os.path.join(out_dir, f"{case}_source.wav"), dtype="float32", always_2d=True)
        mono = src.mean(axis=1).astype(np.float32) if src.shape[1] > 1 else src[:, 0]
        ours, ours_rate = sf.read(os.path.join(out_dir, f"{case}_ours_24k.wav"), dtype="float32")
        assert ours_rate == 24000
        expected_len = math.ceil(len(mono) * 24000 / rate)
        print(f"{case}: {rate} Hz x {src.shape[1]} ch, {len(mono)} frames -> {len(ours)} samples "
              f"(ceil(n*24000/rate) = {expected_len})")
        frac = Fraction(24000, rate)
        poly = resample_poly(mono.astype(np.float64), frac.numerator, frac.denominator)[:len(ours)]
        edge = 2400
        print(f"  vs scipy resample_poly: SNR {snr_db(ours, poly):.1f} dB (whole), "
              f"{snr_db(ours[edge:-edge], poly[edge:-edge]):.1f} dB (without 0.1 s edges), "
              f"lag {lag(ours, poly)} samples")
        if have_soxr:
            ref = reference_front_end(mono, rate)
            diff = np.abs(ours - ref)
            print(f"  vs reference (python-soxr soxr_hq): SNR {snr_db(ours, ref):.1f} dB, "
                  f"max |diff| {diff.max():.3g}, identical samples {np.mean(diff == 0) * 100:.2f} %, "
                  f"lag {lag(ours, ref)} samples, length {'equal' if len(ref) == len(ours) else 'DIFFERENT'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
