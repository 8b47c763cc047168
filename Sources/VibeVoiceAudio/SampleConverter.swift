import CFFmpeg

/// Collects FFmpeg's decoded frames as interleaved float32, converting every sample format the decoders give
/// (planar or packed; unsigned 8-bit, 16/32/64-bit integer, float, double) the way libsndfile converts
/// integers: divided by 2^(bits-1), 8-bit offset by 128. Division by a power of two is exact, so a 16-bit
/// track gives the samples of the same 16-bit WAV read through libsndfile.
struct SampleConverter {
    private(set) var pendingFrames = 0
    private var channels = 1
    private var pending: [Float] = []

    /// Appends `frame`'s samples; `false` for a sample format it does not know.
    mutating func add(_ frame: UnsafeMutablePointer<AVFrame>, channels: Int) -> Bool {
        let f = frame.pointee
        let n = Int(f.nb_samples)
        guard n > 0 else { return true }
        guard let data = f.extended_data else { return false }
        if pendingFrames == 0 { self.channels = channels }
        precondition(channels == self.channels, "frames of different channel counts in one block")
        let needed = (pendingFrames + n) * channels
        if pending.count < needed { pending.append(contentsOf: repeatElement(0, count: needed - pending.count)) }
        let format = AVSampleFormat(rawValue: f.format)
        let planar = av_sample_fmt_is_planar(format) != 0
        let offset = pendingFrames * channels
        let known: Bool = pending.withUnsafeMutableBufferPointer { buffer in
            let dst = buffer.baseAddress! + offset
            switch av_get_packed_sample_fmt(format) {
            case AV_SAMPLE_FMT_U8:
                Self.convert(UInt8.self, data, n, channels, planar, dst) { Float(Int32($0) - 128) / 128 }
            case AV_SAMPLE_FMT_S16:
                Self.convert(Int16.self, data, n, channels, planar, dst) { Float($0) / 32_768 }
            case AV_SAMPLE_FMT_S32:
                Self.convert(Int32.self, data, n, channels, planar, dst) { Float($0) / 2_147_483_648 }
            case AV_SAMPLE_FMT_S64:
                Self.convert(Int64.self, data, n, channels, planar, dst) { Float($0) * 0x1p-63 }
            case AV_SAMPLE_FMT_FLT:
                Self.convert(Float.self, data, n, channels, planar, dst) { $0 }
            case AV_SAMPLE_FMT_DBL:
                Self.convert(Double.self, data, n, channels, planar, dst) { Float($0) }
            default:
                return false
            }
            return true
        }
        if known { pendingFrames += n }
        return known
    }

    /// Hands the collected frames (interleaved) to `body`, then starts a new block.
    mutating func withPending(_ body: (UnsafeBufferPointer<Float>, Int) throws -> Void) rethrows {
        let frames = pendingFrames
        pendingFrames = 0
        try pending.withUnsafeBufferPointer { try body($0, frames) }
    }

    @inline(__always)
    private static func convert<T>(_: T.Type, _ data: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>, _ n: Int,
                                   _ channels: Int, _ planar: Bool, _ dst: UnsafeMutablePointer<Float>,
                                   _ scale: (T) -> Float) {
        if planar {
            for c in 0..<channels {
                let src = UnsafeRawPointer(data[c]!).assumingMemoryBound(to: T.self)
                for i in 0..<n { dst[i * channels + c] = scale(src[i]) }
            }
        } else {
            let src = UnsafeRawPointer(data[0]!).assumingMemoryBound(to: T.self)
            for i in 0..<(n * channels) { dst[i] = scale(src[i]) }
        }
    }
}
