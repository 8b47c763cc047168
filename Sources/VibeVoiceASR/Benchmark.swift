import Foundation
import VibeVoiceCompute

/// Measures the machine's own floors (memory read bandwidth, sgemm rate) and the engine's
/// stages on a model, and reports both, with ratios. Used by `vibevoice-asr bench`.
public enum Benchmark {
    /// Peak resident set size of this process, in bytes (Linux: VmHWM), or nil if unknown.
    public static func peakResidentBytes() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let parts = line.split(separator: " ")
            if parts.count >= 2, let kb = Int(parts[1]) { return kb * 1024 }
        }
        return nil
    }

    /// Memory read bandwidth in bytes/s: threaded sums over a 512 MB buffer, best of 3.
    public static func memoryReadBandwidth() -> Double {
        let count = 128 << 20   // floats
        let buf = UnsafeMutablePointer<Float>.allocate(capacity: count)
        defer { buf.deallocate() }
        buf.initialize(repeating: 1, count: count)
        let ones = [Float](repeating: 1, count: 1024)
        var best = 0.0
        for _ in 0..<3 {
            let t = Date()
            // A mat-vec over [count/1024, 1024] reads the whole buffer once.
            let rows = count / 1024
            let w = WeightTensor(dtype: .f32, shape: [rows, 1024], data: UnsafeRawPointer(buf), owner: nil)
            _ = Linear(weight: w, bias: nil).forward(ones, rows: 1)
            let s = Date().timeIntervalSince(t)
            best = max(best, Double(count * 4) / s)
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
