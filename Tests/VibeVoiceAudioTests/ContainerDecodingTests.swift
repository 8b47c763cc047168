import Foundation
import XCTest
@testable import VibeVoiceAudio

/// Files libsndfile does not read (M4A, MP4, MOV, MKV, WebM, AVI, WMA, ADTS, AMR) decode through FFmpeg to the
/// same signal as the same audio in a WAV: sample for sample for lossless codecs, and for lossy ones with the
/// length, the alignment and an SNR measured on the committed files.
final class ContainerDecodingTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = try TestAudio.temporaryDirectory(self)
    }

    /// ALAC (relabelled 16 kHz, so resampled), stereo PCM in a MOV with a video track (downmixed) and FLAC in a
    /// MKV with a video track: the signal equals the one libsndfile gives for a WAV of the same samples.
    func testLosslessCodecsGiveTheSamplesOfTheSameWAV() throws {
        let s16 = try Containers.source16()
        let head = Array(s16[0..<24_000])

        let alac = try AudioLoader.load(contentsOf: Containers.url("alac-16k.m4a"))
        let alacWAV = try AudioLoader.load(contentsOf: Containers.wav(head, rate: 16_000, in: dir, name: "alac.wav"))
        XCTAssertEqual(alac.sourceFrames, 24_000)
        XCTAssertEqual(alac.sourceSampleRate, 16_000)
        XCTAssertEqual(alac.samples.count, 36_000)
        XCTAssertEqual(alac.samples, alacWAV.samples)
        XCTAssertEqual(alac.sourceFormat, "QuickTime / MOV, ALAC (Apple Lossless Audio Codec)")

        let left = Array(s16[0..<12_000])
        let stereo = zip(left, left.reversed()).flatMap { [$0, $1] }
        let mov = try AudioLoader.load(contentsOf: Containers.url("pcm-stereo.mov"))
        let movWAV = try AudioLoader.load(contentsOf: Containers.wav(stereo, rate: 24_000, channels: 2, in: dir, name: "mov.wav"))
        XCTAssertEqual(mov.sourceChannels, 2)
        XCTAssertEqual(mov.sourceFrames, 12_000)
        XCTAssertEqual(mov.samples, movWAV.samples)
        XCTAssertEqual(mov.sourceFormat, "QuickTime / MOV, PCM signed 16-bit little-endian, stream #1")

        let mkv = try AudioLoader.load(contentsOf: Containers.url("flac-2audio.mkv"))
        XCTAssertEqual(mkv.samples, try AudioLoader.load(contentsOf: Containers.wav(head, rate: 24_000, in: dir, name: "a.wav")).samples)
        let second = try AudioLoader.load(contentsOf: Containers.url("flac-2audio.mkv"), audioStream: 1)
        XCTAssertEqual(second.samples,
                       try AudioLoader.load(contentsOf: Containers.wav(head.reversed(), rate: 24_000, in: dir, name: "r.wav")).samples)
        XCTAssertEqual(second.sourceFormat, "Matroska / WebM, FLAC (Free Lossless Audio Codec), stream #2")
    }

    /// FFmpeg converts each sample format its decoders give (u8, s16, s32 for 24- and 32-bit, float, double; packed
    /// and planar) exactly as libsndfile does: the same WAV, AIFF or FLAC read by either gives the same signal.
    func testFFmpegReadsWhatLibsndfileReadsToTheSameSamples() throws {
        var rng = TestAudio.SplitMix(seed: 21)
        let frames = 9_001
        let left = TestAudio.sine(330, amplitude: 0.7, rate: 44_100, count: frames).map { $0 + Float.random(in: -0.05...0.05, using: &rng) }
        let right = TestAudio.sine(550, amplitude: 0.4, rate: 44_100, count: frames)
        let x = TestAudio.interleave([left, right])
        for format in [TestFormat.wavPCM8, .wavPCM16, .wavPCM24, .wavPCM32, .wavFloat, .wavDouble, .aiff24, .flac16, .flac24] {
            let url = dir.appendingPathComponent("\(format.name.replacingOccurrences(of: " ", with: "-")).\(format.ext)")
            try TestAudio.write(x, rate: 44_100, channels: 2, format: format, to: url)
            let viaSndfile = try AudioLoader.load(contentsOf: url)
            let data = try Data(contentsOf: url)
            let viaFFmpeg = try data.withUnsafeBytes { raw in
                try FFmpegDecoder.decode(MemoryReader(base: raw.baseAddress!, count: raw.count),
                                         DecodeRequest(name: "x", maxDuration: nil, allowPartial: false, audioStream: 0))
            }
            XCTAssertEqual(viaFFmpeg.sourceFrames, frames, "\(format)")
            XCTAssertEqual(viaFFmpeg.samples, viaSndfile.samples, "\(format)")
            XCTAssertNotEqual(viaSndfile.sourceFormat, viaFFmpeg.sourceFormat, "two decoders were compared")
        }
    }

    /// Each lossy file of the 3.35 s source (80 434 frames): its exact length, where its audio starts against the
    /// WAV's (lag, in samples at 24 kHz), and the SNR against the WAV once aligned. Lengths, as FFmpeg 5.1
    /// decodes them:
    /// - AAC in MP4/M4A: the edit list trims the 1024 frames of encoder delay, and the loader drops the padding
    ///   after the edit list's end, which ffmpeg's muxer writes in milliseconds: 3.352 s = 80 448 frames.
    /// - raw ADTS AAC records no delay: 80 frames of 1024, the audio 1024 samples late.
    /// - Opus in WebM: pre-skip and end padding trimmed by FFmpeg, exactly 2 × 80 434 at 48 kHz.
    /// - Vorbis in Matroska: 78 frames of the last block beyond the end, which Matroska does not trim.
    /// - MP3 in AVI records no delay: 71 frames of 1152, the audio 1105 samples late (LAME's 576 + the
    ///   decoder's 529).
    /// - WMA: ffmpeg's encoder writes no delay and its decoder drops the first 2048-frame block, so the file
    ///   starts 2048 samples into the audio: 39 blocks of 2048.
    /// SNR floors: the measured value rounded down, less 1 dB (measured: AAC 48.19, Opus 39.16, Vorbis 35.16,
    /// MP3 26.02, WMA 47.84 dB; the same for every file holding the same AAC stream).
    func testLossyCodecsKeepLengthAlignmentAndSNR() throws {
        let reference = try AudioLoader.load(contentsOf: Containers.wav(try Containers.source16(), rate: 24_000, in: dir,
                                                                         name: "source.wav")).samples
        let cases: [(file: String, frames: Int, rate: Int, lag: Int, snr: Double)] = [
            ("aac.m4a", 80_448, 24_000, 0, 47), ("aac-moov-end.m4a", 80_448, 24_000, 0, 47),
            ("aac-video.mp4", 80_448, 24_000, 0, 47), ("aac.aac", 80 * 1024, 24_000, 1024, 47),
            ("opus-video.webm", 2 * 80_434, 48_000, 0, 38), ("vorbis.mkv", 80_512, 24_000, 0, 34),
            ("mp3-video.avi", 71 * 1152, 24_000, 1105, 25), ("wma.wma", 39 * 2048, 24_000, -2048, 46),
        ]
        for c in cases {
            let signal = try AudioLoader.load(contentsOf: Containers.url(c.file))
            XCTAssertEqual(signal.sourceFrames, c.frames, c.file)
            XCTAssertEqual(signal.sourceSampleRate, c.rate, c.file)
            XCTAssertEqual(signal.sourceChannels, 1, c.file)
            XCTAssertEqual(signal.samples.count, Resampler.outputLength(inputFrames: c.frames, from: c.rate, to: 24_000), c.file)
            XCTAssertEqual(signal.warnings, [], c.file)
            XCTAssertEqual(Containers.lag(signal.samples, reference, near: c.lag), c.lag, c.file)
            let (x, r) = Containers.aligned(signal.samples, reference, lag: c.lag)
            let snr = TestAudio.snr(x, r, range: 0..<x.count)
            XCTAssertGreaterThan(snr, c.snr, "\(c.file): SNR \(snr) dB")
        }
    }

    /// Bytes in memory (uploads, standard input) decode like the file, including an MP4 whose index comes
    /// after the audio (read by seeking in the buffer).
    func testMemoryMatchesFile() throws {
        for file in ["aac-moov-end.m4a", "aac-video.mp4", "opus-video.webm", "pcm-stereo.mov", "wma.wma", "aac.aac"] {
            let url = Containers.url(file)
            var fromData = try AudioLoader.load(data: try Data(contentsOf: url), name: "upload")
            let fromFile = try AudioLoader.load(contentsOf: url)
            XCTAssertEqual(fromData.samples, fromFile.samples, file)
            fromData.sourceFormat = fromFile.sourceFormat
            XCTAssertEqual(fromData, fromFile, file)
        }
    }

    /// AMR-NB (8 kHz) and AMR-WB (16 kHz): 20 ms a frame.
    func testAMR() throws {
        for (wideband, rate) in [(false, 8_000), (true, 16_000)] {
            let url = dir.appendingPathComponent(wideband ? "a.awb" : "a.amr")
            try Containers.amr(wideband: wideband, frames: 50).write(to: url)
            let signal = try AudioLoader.load(contentsOf: url)
            XCTAssertEqual(signal.sourceSampleRate, rate)
            XCTAssertEqual(signal.sourceFrames, 50 * rate / 50)
            XCTAssertEqual(signal.samples.count, 24_000)
            XCTAssertEqual(signal.warnings, [])
            XCTAssertTrue(signal.sourceFormat.hasPrefix("3GPP AMR, AMR-"), signal.sourceFormat)
        }
    }

    /// The audio streams count from 0 among audio streams; a file without one, or a number past the last,
    /// is an error that lists what the file holds.
    func testAudioStreamChoiceAndFilesWithoutAudio() throws {
        let video = Containers.url("video-only.mp4")
        XCTAssertThrowsError(try AudioLoader.load(contentsOf: video)) { error in
            XCTAssertEqual(error as? AudioError, .noAudioStream(name: video.path, streams: "#0 video mpeg4"))
            XCTAssertEqual("\(error)", "\(video.path): no audio stream to transcribe (streams: #0 video mpeg4)")
        }
        let mkv = Containers.url("flac-2audio.mkv")
        XCTAssertThrowsError(try AudioLoader.load(contentsOf: mkv, audioStream: 2)) { error in
            XCTAssertEqual("\(error)", "\(mkv.path): there is no audio stream 2; audio streams count from 0, and this file has "
                               + "2 (0 = #1 audio flac [eng], 1 = #2 audio flac [fra])")
        }
        // A WAV has one audio stream (read by libsndfile as stream 0; another number is FFmpeg's to refuse).
        let wav = try Containers.wav([1, 2, 3, 4], rate: 8_000, in: dir, name: "w.wav")
        XCTAssertThrowsError(try AudioLoader.load(contentsOf: wav, audioStream: 1)) { error in
            XCTAssertEqual(error as? AudioError, .audioStreamNotFound(name: wav.path, requested: 1,
                                                                       audioStreams: "1 (0 = #0 audio pcm_s16le)"))
        }
        XCTAssertThrowsError(try AudioLoader.load(contentsOf: wav, audioStream: -1)) { error in
            XCTAssertEqual(error as? AudioError, .invalidAudioStream(-1))
        }
        XCTAssertThrowsError(try AudioLoader.load(data: Data([1]), audioStream: -2)) { error in
            XCTAssertEqual(error as? AudioError, .invalidAudioStream(-2))
        }
    }

    /// A stream whose rate and channel count change (two ADTS streams back to back) is refused, saying where.
    func testFormatChangeMidStreamIsAnError() throws {
        var bytes = try Data(contentsOf: Containers.url("aac.aac"))
        bytes.append(try Data(contentsOf: Containers.url("aac-48k-stereo.aac")))
        XCTAssertThrowsError(try AudioLoader.load(data: bytes, name: "joined.aac")) { error in
            guard case .formatChanged(let name, let detail)? = error as? AudioError else { return XCTFail("\(error)") }
            XCTAssertEqual(name, "joined.aac")
            XCTAssertEqual(detail, "at 3.41 s it changes from 24000 Hz, 1 channel(s) to 48000 Hz, 2 channel(s)")
        }
    }

    /// `maxDuration` is checked against the container's stated length before decoding.
    func testMaxDurationFromTheContainer() throws {
        let url = Containers.url("aac-video.mp4")
        XCTAssertThrowsError(try AudioLoader.load(contentsOf: url, maxDuration: 3)) { error in
            XCTAssertEqual(error as? AudioError, .tooLong(name: url.path, seconds: 3.352, limit: 3))
        }
        XCTAssertEqual(try AudioLoader.load(contentsOf: url, maxDuration: 3.4).sourceFrames, 80_448)
        // Raw ADTS states no length (FFmpeg's estimate from the bit rate is not used): stopped while decoding.
        XCTAssertThrowsError(try AudioLoader.load(contentsOf: Containers.url("aac.aac"), maxDuration: 2)) { error in
            guard case .tooLongWhileDecoding(_, let seconds, 2)? = error as? AudioError else { return XCTFail("\(error)") }
            XCTAssertGreaterThan(seconds, 2)
        }
    }

    /// Text that FFmpeg reads as something other than audio or video (subtitles, a playlist that would make it
    /// open other files) is refused as not audio.
    func testNonMediaFormatsFFmpegKnowsAreRefused() throws {
        let cases = [
            ("subs.srt", "1\n00:00:01,000 --> 00:00:02,000\nhello\n\n"),
            ("list.m3u8", "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"),
        ]
        for (name, text) in cases {
            let url = dir.appendingPathComponent(name)
            try Data(text.utf8).write(to: url)
            XCTAssertThrowsError(try AudioLoader.load(contentsOf: url)) { error in
                guard case .unrecognizedFormat(let n, _)? = error as? AudioError else { return XCTFail("\(name): \(error)") }
                XCTAssertEqual(n, url.path)
            }
            XCTAssertThrowsError(try AudioLoader.load(contentsOf: url, audioStream: 1)) { error in
                guard case .unrecognizedFormat(_, let detail)? = error as? AudioError else { return XCTFail("\(name): \(error)") }
                XCTAssertTrue(detail.contains("not an audio or video container"), detail)
            }
        }
    }

    /// Concurrent loads of container files, good and damaged, give what one load at a time gives (FFmpeg's error
    /// text is kept per thread).
    func testConcurrentLoads() throws {
        let good = Containers.url("aac.m4a")
        let data = try Data(contentsOf: Containers.url("aac-moov-end.m4a"))
        let cut = dir.appendingPathComponent("cut.m4a")
        try data.prefix(data.count / 2).write(to: cut)
        let expected = try AudioLoader.load(contentsOf: good).samples
        var first = ""
        XCTAssertThrowsError(try AudioLoader.load(contentsOf: cut)) { first = "\($0)" }
        XCTAssertTrue(first.contains("moov atom not found"), first)
        let message = first
        let results = ConcurrentResults(count: 16)
        DispatchQueue.concurrentPerform(iterations: 16) { i in
            if i % 2 == 0 {
                results.set(i, (try? AudioLoader.load(contentsOf: good).samples == expected) ?? false)
            } else {
                do {
                    _ = try AudioLoader.load(contentsOf: cut)
                    results.set(i, false)
                } catch {
                    results.set(i, "\(error)" == message)
                }
            }
        }
        XCTAssertEqual(results.values, [Bool](repeating: true, count: 16))
    }
}
