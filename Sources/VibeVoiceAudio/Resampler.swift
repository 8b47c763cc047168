import CSoxr
import Foundation

/// Sample-rate conversion with libsoxr (`SOXR_HQ`, linear phase, float32 in and out), the same
/// configuration as the reference front-end (python-soxr `quality="soxr_hq"`).
///
/// The output is aligned in time with the input: libsoxr removes its own filter delay, and the
/// stream is flushed at the end, so output sample `j` is the signal at time `j / to` seconds.
/// The output has exactly `round(n * to / from)` samples (halves round up), see
/// `outputLength(inputFrames:from:to:)`. transformers' loader pads to `ceil` instead; the two
/// differ by at most one trailing sample.
public enum Resampler {
    /// The number of output samples for `inputFrames` input frames: `round(n * to / from)`
    /// (0 when any argument is not positive).
    public static func outputLength(inputFrames n: Int, from: Int, to: Int) -> Int {
        guard n > 0, from > 0, to > 0 else { return 0 }
        let (product, overflow) = n.multipliedReportingOverflow(by: to)
        if overflow {
            return Int((Double(n) * Double(to) / Double(from)).rounded(.toNearestOrAwayFromZero))
        }
        return (product + from / 2) / from
    }

    /// Resamples a mono signal from `from` Hz to `to` Hz. Returns the input unchanged when the
    /// rates are equal. Throws for rates outside `AudioLoader.supportedSampleRates` and for
    /// NaN or infinite samples.
    public static func resample(_ x: [Float], from: Int, to: Int) throws -> [Float] {
        for rate in [from, to] where !AudioLoader.supportedSampleRates.contains(rate) {
            throw AudioError.invalidSampleRate(name: "<samples>", rate: rate)
        }
        if let bad = x.firstIndex(where: { !$0.isFinite }) {
            throw AudioError.nonFiniteSample(name: "<samples>", frame: bad, channel: 0)
        }
        if from == to { return x }
        let target = outputLength(inputFrames: x.count, from: from, to: to)
        var out: [Float] = []
        out.reserveCapacity(target + 64)
        let stream = try StreamingResampler(from: from, to: to)
        try x.withUnsafeBufferPointer { buffer in
            var start = 0
            while start < buffer.count {
                let end = min(buffer.count, start + AudioLoader.blockFrames)
                try stream.process(UnsafeBufferPointer(rebasing: buffer[start..<end]), into: &out)
                start = end
            }
        }
        try stream.flush(into: &out)
        fitLength(&out, to: target)
        return out
    }

    /// Trims or zero-pads `x` to exactly `count` samples.
    static func fitLength(_ x: inout [Float], to count: Int) {
        if x.count > count {
            x.removeLast(x.count - count)
        } else if x.count < count {
            x.append(contentsOf: repeatElement(0, count: count - x.count))
        }
    }
}

/// One mono libsoxr stream: feed blocks with `process`, then call `flush` once.
final class StreamingResampler {
    private let handle: soxr_t
    private let ratio: Double
    private var scratch: [Float] = []

    init(from: Int, to: Int) throws {
        var error: soxr_error_t? = nil
        var io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I)
        var quality = soxr_quality_spec(UInt(SOXR_HQ), UInt(SOXR_LINEAR_PHASE))
        var runtime = soxr_runtime_spec(1)
        let created = soxr_create(Double(from), Double(to), 1, &error, &io, &quality, &runtime)
        if let error {
            if let created { soxr_delete(created) }
            throw AudioError.resamplerFailed(detail: String(cString: error))
        }
        guard let created else {
            throw AudioError.resamplerFailed(detail: "soxr_create returned no resampler")
        }
        handle = created
        ratio = Double(to) / Double(from)
    }

    deinit { soxr_delete(handle) }

    /// Consumes all of `input`, appending whatever output libsoxr has ready to `out`.
    func process(_ input: UnsafeBufferPointer<Float>, into out: inout [Float]) throws {
        guard let base = input.baseAddress, input.count > 0 else { return }
        var consumed = 0
        var stalls = 0
        while consumed < input.count {
            let remaining = input.count - consumed
            let capacity = Int((Double(remaining) * ratio).rounded(.up)) + 256
            if scratch.count < capacity { scratch = [Float](repeating: 0, count: capacity) }
            var idone = 0
            var odone = 0
            let error: soxr_error_t? = scratch.withUnsafeMutableBufferPointer { dst in
                soxr_process(handle, base + consumed, remaining, &idone, dst.baseAddress, capacity, &odone)
            }
            if let error { throw AudioError.resamplerFailed(detail: String(cString: error)) }
            if odone > 0 { out.append(contentsOf: scratch[0..<odone]) }
            consumed += idone
            if idone == 0 && odone == 0 {
                stalls += 1
                if stalls > 8 {
                    throw AudioError.resamplerFailed(detail: "the resampler stopped consuming input")
                }
            } else {
                stalls = 0
            }
        }
    }

    /// Signals the end of input and appends the remaining output (the tail held in the filter).
    func flush(into out: inout [Float]) throws {
        let capacity = 16_384
        if scratch.count < capacity { scratch = [Float](repeating: 0, count: capacity) }
        // The tail is at most a filter length; the bound only guards against a misbehaving library.
        for _ in 0..<100_000 {
            var odone = 0
            let error: soxr_error_t? = scratch.withUnsafeMutableBufferPointer { dst in
                soxr_process(handle, nil, 0, nil, dst.baseAddress, capacity, &odone)
            }
            if let error { throw AudioError.resamplerFailed(detail: String(cString: error)) }
            if odone == 0 { return }
            out.append(contentsOf: scratch[0..<odone])
        }
        throw AudioError.resamplerFailed(detail: "the resampler did not finish flushing")
    }
}
