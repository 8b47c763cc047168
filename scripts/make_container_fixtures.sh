#!/usr/bin/env bash
# Writes the small audio and video files of Tests/Fixtures/containers/ (M4A, MP4, MOV, MKV, WebM, AVI, WMA,
# ADTS AAC) from the tiny engine fixture's audio, with the ffmpeg command-line tool (Debian bookworm's
# FFmpeg 5.1: apt-get install ffmpeg). Run by a developer, not by CI; the tests read the committed files.
#
# Every file holds the 16-bit rendering of Tests/Fixtures/engine/hf_bf16_chunked/audio.wav (24 kHz mono
# float32, 80 434 frames): int16(clip(round_half_even(x * 32768))), which is how ffmpeg converts float to
# 16-bit and how the tests rebuild the same samples as a WAV to compare with. The lossless files hold a slice
# of it, some relabelled or rearranged (exactly, without resampling) so that the FFmpeg path is compared with
# libsndfile's on resampling and downmixing too:
#   alac-16k.m4a      ALAC, the first 24 000 samples labelled 16 kHz
#   pcm-stereo.mov    PCM s16le, the first 12 000 samples as the left channel and the same reversed as the
#                     right, 24 kHz; plus an MJPEG video track
#   flac-2audio.mkv   an MPEG-4 video track, then FLAC [eng]: the first 24 000 samples, then FLAC [fra]: the
#                     same reversed
# The lossy files hold all 80 434 samples (3.35 s) at 24 kHz:
#   aac.m4a (moov first), aac-moov-end.m4a (moov last), aac-video.mp4 (+ MPEG-4 video), aac.aac (raw ADTS),
#   opus-video.webm (+ VP8 video), vorbis.mkv, mp3-video.avi (+ MJPEG video), wma.wma (WMA v2 in ASF)
#   video-only.mp4    MPEG-4 video and no audio
#   aac-48k-stereo.aac  raw ADTS of the first 12 000 samples resampled to 48 kHz stereo (appended to aac.aac, a
#                     stream whose rate and channel count change)
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=Tests/Fixtures/engine/hf_bf16_chunked/audio.wav
OUT=Tests/Fixtures/containers
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$OUT"
ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }
# Reproducible files: no encoder version strings or creation times.
EXACT=(-fflags +bitexact -flags:a +bitexact -flags:v +bitexact -map_metadata -1)
video() { echo "color=c=gray:s=16x16:r=1:d=$1"; }

ff -i "$SRC" -c:a pcm_s16le "$TMP/s16.wav"
ff -i "$TMP/s16.wav" -af "atrim=end_sample=24000" -c:a pcm_s16le "$TMP/head24k.wav"
ff -i "$TMP/head24k.wav" -af areverse -c:a pcm_s16le "$TMP/head24k-rev.wav"
ff -i "$TMP/s16.wav" -af "atrim=end_sample=12000" -c:a pcm_s16le "$TMP/head12k.wav"

# Lossless.
ff -i "$TMP/head24k.wav" -af asetrate=16000 -c:a alac "${EXACT[@]}" "$OUT/alac-16k.m4a"
ff -f lavfi -i "$(video 0.5)" -i "$TMP/head12k.wav" \
   -filter_complex "[1:a]asplit[l][r0];[r0]areverse[r];[l][r]join=inputs=2:channel_layout=stereo[a]" \
   -map 0:v -map "[a]" -c:v mjpeg -c:a pcm_s16le "${EXACT[@]}" "$OUT/pcm-stereo.mov"
ff -f lavfi -i "$(video 1)" -i "$TMP/head24k.wav" -i "$TMP/head24k-rev.wav" \
   -map 0:v -map 1:a -map 2:a -c:v mpeg4 -c:a flac -metadata:s:a:0 language=eng -metadata:s:a:1 language=fra \
   "${EXACT[@]}" "$OUT/flac-2audio.mkv"

# Lossy.
ff -i "$TMP/s16.wav" -c:a aac -b:a 64k -movflags +faststart "${EXACT[@]}" "$OUT/aac.m4a"
ff -i "$TMP/s16.wav" -c:a aac -b:a 64k "${EXACT[@]}" "$OUT/aac-moov-end.m4a"
ff -f lavfi -i "$(video 3.35)" -i "$TMP/s16.wav" -c:v mpeg4 -c:a aac -b:a 64k -movflags +faststart \
   "${EXACT[@]}" "$OUT/aac-video.mp4"
ff -i "$OUT/aac.m4a" -c copy -f adts "${EXACT[@]}" "$OUT/aac.aac"
ff -f lavfi -i "$(video 3.35)" -i "$TMP/s16.wav" -c:v libvpx -c:a libopus -b:a 64k "${EXACT[@]}" "$OUT/opus-video.webm"
ff -i "$TMP/s16.wav" -c:a libvorbis -b:a 64k "${EXACT[@]}" "$OUT/vorbis.mkv"
ff -f lavfi -i "$(video 3.35)" -i "$TMP/s16.wav" -c:v mjpeg -c:a libmp3lame -b:a 64k "${EXACT[@]}" "$OUT/mp3-video.avi"
ff -i "$TMP/s16.wav" -c:a wmav2 -b:a 64k "${EXACT[@]}" "$OUT/wma.wma"
ff -f lavfi -i "$(video 2)" -c:v mpeg4 "${EXACT[@]}" "$OUT/video-only.mp4"
ff -i "$TMP/head12k.wav" -af aresample=48000 -ac 2 -c:a aac -b:a 64k -f adts "${EXACT[@]}" "$OUT/aac-48k-stereo.aac"
ls -l "$OUT"
