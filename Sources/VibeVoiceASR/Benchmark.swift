import Foundation
import VibeVoiceCompute
import CKernels

/// Measures the machine's own floors (memory read bandwidth, sgemm rate) and the engine's
/// stages on a model, and reports both, with ratios. Used by `vibevoice-asr bench`.
public enum Benchmark {
    /// Peak resident set size of this process, in bytes (Linux: VmHWM), or nil if unknown.
    public static func peakResidentBytes() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if parts.count >= 2, let kb = Int(parts[1]) { return kb * 1024 }
        }
        return nil
    }

    /// Memory read bandwidth in bytes/s: a threaded f32 mat-vec over a 512 MB buffer, best of 3.
    public static func memoryReadBandwidth() -> Double {
        matvecBandwidth(dtype: .f32)
    }

    /// Bytes/s a threaded mat-vec streams from a 512 MB weight of `dtype` ([rows, 3584]), best of 3.
    public static func matvecBandwidth(dtype: DType) -> Double {
        let bytes = 512 << 20
        let cols = 3584
        let rows = bytes / dtype.byteSize / cols
        let buf = UnsafeMutableRawPointer.allocate(byteCount: rows * cols * dtype.byteSize, alignment: 64)
        defer { buf.deallocate() }
        buf.initializeMemory(as: UInt8.self, repeating: 0x3c, count: rows * cols * dtype.byteSize)
        let x = [Float](repeating: 1, count: cols)
        let w = WeightTensor(dtype: dtype, shape: [rows, cols], data: UnsafeRawPointer(buf), owner: nil)
        let linear = Linear(weight: w, bias: nil)
        var best = 0.0
        for _ in 0..<3 {
            let t = Date()
            _ = linear.forward(x, rows: 1)
            best = max(best, Double(rows * cols * dtype.byteSize) / Date().timeIntervalSince(t))
        }
        return best
    }

    /// sgemm rate in FLOP/s for M×N×K = 512×2048×2048, best of 3.
    public static func sgemmRate() -> Double {
        let m = 512, n = 2048, k = 2048
        let a = [Float](repeating: 0.5, count: m * k)
        let b = [Float](repeating: 0.25, count: n * k)
        var c = [Float](repeating: 0, count: m * n)
        var best = 0.0
        for _ in 0..<3 {
            let t = Date()
            a.withUnsafeBufferPointer { ap in
                b.withUnsafeBufferPointer { bp in
                    c.withUnsafeMutableBufferPointer { cp in
                        BLAS.gemmNT(m: m, n: n, k: k, a: ap.baseAddress!, lda: k, b: bp.baseAddress!, ldb: k,
                                    c: cp.baseAddress!, ldc: n)
                    }
                }
            }
            best = max(best, 2.0 * Double(m * n * k) / Date().timeIntervalSince(t))
        }
        return best
    }
}

extension Benchmark {
    public struct Report: Sendable {
        public var bandwidth: Double
        public var bf16MatvecBandwidth: Double
        public var sgemm: Double
        public var loadSeconds: Double
        public var audioSeconds: Double
        public var encodeSeconds: Double
        public var promptTokens: Int
        public var prefillSeconds: Double
        public var decodeTokens: Int
        public var decodeSeconds: Double
        public var weightBytesPerToken: Int
        public var matrixParameters: Int
        public var peakResidentBytes: Int?
        public var kernelsUseSIMD: Bool

        public var prefillTokensPerSecond: Double { Double(promptTokens) / prefillSeconds }
        public var decodeSecondsPerToken: Double { decodeSeconds / Double(max(1, decodeTokens)) }
        /// Decode floor: the weights streamed once per token at the measured bandwidth.
        public var decodeFloorSecondsPerToken: Double { Double(weightBytesPerToken) / bandwidth }
        /// Prefill ceiling: 2 FLOP per matrix parameter per token at the measured sgemm rate.
        public var prefillCeilingTokensPerSecond: Double { sgemm / (2 * Double(matrixParameters)) }
    }

    /// Loads the model, encodes `audioSeconds` of a synthetic signal, prefills a prompt of the
    /// real shape (system and instruction text around the audio slots) and decodes `decodeTokens`.
    public static func run(modelDirectory: URL, audioSeconds: Double, decodeTokens: Int,
                           log: (String) -> Void) throws -> Report {
        // The model first: a checkpoint that cannot be read fails at once, not after the measurements.
        log("loading \(modelDirectory.path) ...")
        var t = Date()
        let model = try VibeVoiceASRModel(directory: modelDirectory)
        let loadSeconds = Date().timeIntervalSince(t)
        log("measuring memory bandwidth and sgemm rate ...")
        let bandwidth = memoryReadBandwidth()
        let bf16Bandwidth = matvecBandwidth(dtype: .bf16)
        let sgemm = sgemmRate()

        let n = Int(audioSeconds * 24000)
        var rng = SeededRandom(seed: 1)
        var samples = [Float](repeating: 0, count: n)
        for i in 0..<n {
            let s = Double(i) / 24000
            samples[i] = Float(0.3 * sin(2 * Double.pi * (220 + 40 * sin(s)) * s)) + 0.05 * rng.nextGaussian()
        }
        LoudnessNormalizer.normalize(&samples)
        log(String(format: "encoding %.1f s of audio ...", audioSeconds))
        t = Date()
        let audio = try model.encodeAudio(samples)
        let encodeSeconds = Date().timeIntervalSince(t)

        // 26 text ids before the audio and 37 after, as in the real prompt without context.
        let text = model.config.audioTokenID == 151648 ? 1000 : 5
        let prompt = [Int](repeating: text, count: 26) + [Int](repeating: model.config.audioTokenID, count: audio.frames)
            + [Int](repeating: text, count: 37)
        log("prefill of \(prompt.count) tokens and \(decodeTokens) decode steps ...")
        let result = try model.generate(promptIDs: prompt, audio: audio,
                                        options: GenerationOptions(maxNewTokens: decodeTokens + 1, stopTokenIDs: []))
        return Report(bandwidth: bandwidth, bf16MatvecBandwidth: bf16Bandwidth, sgemm: sgemm, loadSeconds: loadSeconds, audioSeconds: audioSeconds,
                      encodeSeconds: encodeSeconds, promptTokens: prompt.count, prefillSeconds: result.prefillSeconds,
                      decodeTokens: decodeTokens, decodeSeconds: result.decodeSeconds,
                      weightBytesPerToken: model.decoder.weightBytesPerToken,
                      matrixParameters: model.decoder.matrixParameterCount,
                      peakResidentBytes: peakResidentBytes(), kernelsUseSIMD: vv_kernels_simd_enabled() != 0)
    }
}
