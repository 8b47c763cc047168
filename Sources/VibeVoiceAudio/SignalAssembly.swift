import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Turns decoded blocks into the model's signal, the same way for every decoder (libsndfile, FFmpeg):
/// each block of interleaved float frames is checked for NaN and infinity, counted against the duration
/// limit, averaged to mono (`AudioLoader.downmix`) and fed to the 24 kHz resampler; only the 24 kHz output is
/// kept. Audio that is already 24 kHz mono is copied as decoded.
final class SignalAssembler {
    let name: String
    let rate: Int
    let channels: Int
    /// Frames decoded so far (per channel).
    private(set) var decoded = 0
    private(set) var output: [Float] = []
    private let maxDuration: Double?
    private let maxFrames: Int?
    private var mono: [Float] = []
    private let resampler: StreamingResampler?

    /// Checks the rate and channel count against `AudioLoader`'s limits; with `expectedFrames` (a length the
    /// container states) the output buffer is reserved once at its final size.
    init(name: String, rate: Int, channels: Int, maxDuration: Double?, expectedFrames: Int?) throws {
        guard AudioLoader.supportedChannelCounts.contains(channels) else {
            throw AudioError.invalidChannelCount(name: name, channels: channels)
        }
        guard AudioLoader.supportedSampleRates.contains(rate) else {
            throw AudioError.invalidSampleRate(name: name, rate: rate)
        }
        self.name = name
        self.rate = rate
        self.channels = channels
        self.maxDuration = maxDuration
        if let limit = maxDuration {
            let bound = (limit * Double(rate)).rounded(.down)
            maxFrames = bound < 9e18 ? Int(bound) : nil
        } else {
            maxFrames = nil
        }
        let target = AudioSignal.sampleRate
        if let frames = expectedFrames {
            let expected = Resampler.outputLength(inputFrames: frames, from: rate, to: target)
            let reserve = min(expected, AudioLoader.maxReservedSamples) + 64
            // Swift traps when an array cannot grow; under a memory limit (ulimit -v, a cgroup) the buffer
            // the header asks for is tried first with malloc, so that its failure is an error, not a crash.
            guard let probe = malloc(reserve * MemoryLayout<Float>.size) else {
                throw AudioError.outOfMemory(name: name, bytes: reserve * MemoryLayout<Float>.size)
            }
            free(probe)
            output.reserveCapacity(reserve)
        }
        resampler = rate == target ? nil : try StreamingResampler(from: rate, to: target)
    }

    /// Consumes `frames` interleaved frames.
    func append(_ interleaved: UnsafeBufferPointer<Float>, frames n: Int) throws {
        guard n > 0, let base = interleaved.baseAddress else { return }
        let count = n * channels
        precondition(interleaved.count >= count, "a block holds fewer samples than its frame count says")
        if let bad = UnsafeBufferPointer(start: base, count: count).firstIndex(where: { !$0.isFinite }) {
            throw AudioError.nonFiniteSample(name: name, frame: decoded + bad / channels, channel: bad % channels)
        }
        decoded += n
        if let maxFrames, decoded > maxFrames {
            throw AudioError.tooLongWhileDecoding(name: name, decodedSeconds: Double(decoded) / Double(rate),
                                                  limit: maxDuration!)
        }
        if channels > 1 {
            if mono.count < n { mono = [Float](repeating: 0, count: n) }
            try mono.withUnsafeMutableBufferPointer { dst in
                AudioLoader.downmix(base, frames: n, channels: channels, into: dst.baseAddress!)
                try consume(UnsafeBufferPointer(start: dst.baseAddress!, count: n))
            }
        } else {
            try consume(UnsafeBufferPointer(start: base, count: n))
        }
    }

    private func consume(_ block: UnsafeBufferPointer<Float>) throws {
        if let resampler {
            try resampler.process(block, into: &output)
        } else {
            output.append(contentsOf: block)
        }
    }

    /// Appends `frames` frames of silence (a span a damaged packet held, with `allowPartial`).
    func appendSilence(frames: Int) throws {
        guard frames > 0 else { return }
        let block = max(1, min(AudioLoader.blockFrames, AudioLoader.maxBlockSamples / channels))
        let zeros = [Float](repeating: 0, count: min(frames, block) * channels)
        var left = frames
        while left > 0 {
            let n = min(left, block)
            try zeros.withUnsafeBufferPointer { try append($0, frames: n) }
            left -= n
        }
    }

    /// Flushes the resampler and returns the 24 kHz signal of the first `keptFrames` source frames (default:
    /// all decoded): exactly `round(keptFrames × 24000 / rate)` samples.
    func finish(keptFrames: Int? = nil) throws -> [Float] {
        let frames = keptFrames ?? decoded
        let target = AudioSignal.sampleRate
        if let resampler {
            try resampler.flush(into: &output)
            Resampler.fitLength(&output, to: Resampler.outputLength(inputFrames: frames, from: rate, to: target))
        } else if frames < output.count {
            output.removeLast(output.count - frames)
        }
        guard !output.isEmpty else { throw AudioError.tooShortToResample(name: name, frames: frames, rate: rate) }
        // Finite input can still overflow in the channel mean or the resampler (a float WAV of 3e38 values,
        // found by fuzzing); an infinite sample would turn the loudness normalisation into NaN.
        guard !output.contains(where: { !$0.isFinite }) else { throw AudioError.overflow(name: name) }
        let result = output
        output = []
        return result
    }
}
