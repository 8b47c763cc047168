import CKernels
import Foundation

/// Several rows (prefill, encoders): BLAS sgemm over weight tiles widened (dequantised) to f32 on the fly.
///
/// Tiles are large (up to `gemmTileElements` floats, from a reused pool) because every sgemm call packs all of its
/// input rows again: a 512-row block through an 18944-wide layer in 16 MB tiles repacked the rows 17 times per
/// layer. A layer with more inputs than outputs (down_proj) is split along its inputs instead, so each input column
/// block is packed once and the partial products accumulate in the output.
extension Linear {
    /// Largest widened tile of the many-row products, in f32 elements (64 MB: q_proj and o_proj in one tile).
    /// Variable only so tests can reach the split paths with small layers.
    nonisolated(unsafe) static var gemmTileElements = 16 << 20

    func gemm(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, ldy: Int,
              accumulate: Bool) {
        let k = inFeatures
        let beta: Float = accumulate ? 1 : 0
        if weight.dtype == .f32 {
            BLAS.gemmNT(m: rows, n: outFeatures, k: k, a: x, lda: k,
                        b: weight.data.assumingMemoryBound(to: Float.self), ldb: k, c: y, ldc: ldy, beta: beta)
            return
        }
        let n = outFeatures, budget = Linear.gemmTileElements
        let splitInputs = k > n && k * n > budget && (weight.dtype == .bf16 || weight.dtype == .f16)
        let tileCount = splitInputs ? n * min(k, max(64, budget / n / 64 * 64)) : max(16, min(n, budget / max(1, k))) * k
        GEMMScratch.shared.with(tileCount) { tile in
            if splitInputs {
                let kc = tileCount / n
                var k0 = 0
                while k0 < k {
                    let w = min(kc, k - k0)
                    widenColumns(k0, w, into: tile)
                    BLAS.gemmNT(m: rows, n: n, k: w, a: x + k0, lda: k, b: tile, ldb: w, c: y, ldc: ldy,
                                beta: k0 == 0 ? beta : 1)
                    k0 += w
                }
                return
            }
            let tileRows = tileCount / k
            var o0 = 0
            while o0 < n {
                let t = min(tileRows, n - o0)
                widenRows(o0, t, into: tile)
                BLAS.gemmNT(m: rows, n: t, k: k, a: x, lda: k, b: tile, ldb: k, c: y + o0, ldc: ldy, beta: beta)
                o0 += t
            }
        }
    }

    /// Columns [k0, k0 + count) of every row widened to f32 (`[outFeatures, count]`), split across threads.
    /// bf16 and f16 weights only.
    private func widenColumns(_ k0: Int, _ count: Int, into dst: UnsafeMutablePointer<Float>) {
        let k = inFeatures, w = weight
        Parallel.forRanges(outFeatures, minChunk: 16) { r0, r1 in
            let src = w.data.assumingMemoryBound(to: UInt16.self)
            for r in r0..<r1 {
                if w.dtype == .bf16 {
                    vv_widen_bf16(src + r * k + k0, dst + r * count, count)
                } else {
                    vv_widen_f16(src + r * k + k0, dst + r * count, count)
                }
            }
        }
    }

    /// Widens weight rows [row, row+count) to f32, split across threads.
    public func widenRows(_ row: Int, _ count: Int, into dst: UnsafeMutablePointer<Float>) {
        widenRows(row, count, into: dst, threads: ComputeThreads.count)
    }

    /// Widens weight rows [row, row+count) to f32 on at most `threads` threads.
    public func widenRows(_ row: Int, _ count: Int, into dst: UnsafeMutablePointer<Float>, threads: Int) {
        let k = inFeatures
        let w = weight
        Parallel.forRanges(count, threads: threads, minChunk: 8) { r0, r1 in
            w.widenRows(row + r0, r1 - r0, into: dst + r0 * k)
        }
    }

    /// y = x·Wᵀ without the bias, on `threads` threads of the caller's: the rows are split and each share is one BLAS
    /// call. Meant for callers that hold BLAS at one thread while they run beside other work (the speech encoders
    /// side by side). Non-f32 weights are widened one tile of output rows at a time into `scratch`, shared by the
    /// threads. Rows of `x` are `lda` apart (at least `inFeatures`).
    public func product(_ x: UnsafePointer<Float>, lda: Int? = nil, rows: Int, into y: UnsafeMutablePointer<Float>,
                        ldy: Int, threads: Int, scratch: ScratchBuffer) {
        guard rows > 0 else { return }
        let k = inFeatures
        let lda = lda ?? k
        precondition(lda >= k, "input rows overlap")
        func run(_ b: UnsafePointer<Float>, _ o0: Int, _ n: Int) {
            Parallel.forRanges(rows, threads: threads, minChunk: 32) { r0, r1 in
                BLAS.gemmNT(m: r1 - r0, n: n, k: k, a: x + r0 * lda, lda: lda, b: b, ldb: k, c: y + r0 * ldy + o0, ldc: ldy)
            }
        }
        if weight.dtype == .f32 {
            run(weight.data.assumingMemoryBound(to: Float.self), 0, outFeatures)
            return
        }
        let tileRows = max(16, min(outFeatures, Linear.tileElements / max(1, k)))
        let tile = scratch.pointer(tileRows * k)
        var o0 = 0
        while o0 < outFeatures {
            let n = min(tileRows, outFeatures - o0)
            widenRows(o0, n, into: tile, threads: threads)
            run(tile, o0, n)
            o0 += n
        }
    }
}

extension Linear {
    /// Products of more than `maxMatvecRows` rows times a Q8_0 or Q4_0 weight (prefill) use the multi-row integer
    /// kernels of decode instead of sgemm over dequantised tiles: each activation row is quantised to 8-bit blocks
    /// as in a decode step, and every output row equals that row's one-row mat-vec bit for bit. Changes the
    /// numerics (activations to 8 bits per block of 32); off by default in the library (the CLI's `--prefill auto`
    /// turns it on where `PrefillProducts.auto` says it is faster). Process-wide.
    nonisolated(unsafe) public static var int8GEMM = false
}

/// How products of many rows (prefill) times a decoder weight are computed; `resolved(for:)` turns a choice into the
/// value for `Linear.int8GEMM`.
public enum PrefillProducts: String, CaseIterable, Sendable {
    /// The integer kernels for Q8_0 and Q4_0 weights where they are faster than sgemm (the AVX-512 VNNI kernel path:
    /// 2.1-2.4x sgemm measured on an AMD Zen 4 host), sgemm over dequantised tiles elsewhere (the AVX2 path: 0.86 of
    /// sgemm; AVX-VNNI without AVX-512 is not measured, so it stays on sgemm) and for float weights.
    case auto
    /// Decode's integer kernels for Q8_0 and Q4_0 weights (`Linear.int8GEMM`); float weights cannot take them.
    case integer
    /// sgemm over dequantised tiles: the float rounding of the weights only.
    case float

    /// Whether this choice puts a decoder of `format` on the integer kernels, at the current kernel path
    /// (`QuantKernelPath.current`, so a cap applied before counts). `nil`: `integer` asked for float weights.
    public func resolved(for format: DType) -> Bool? {
        switch self {
        case .float: return false
        case .integer: return format.isBlockFormat ? true : nil
        case .auto: return format.isBlockFormat && QuantKernelPath.current == .avx512vnni
        }
    }
}

extension Linear {
    /// Widens weight rows on the calling thread (for single embedding rows).
    public func widenRowsSerial(_ row: Int, _ count: Int, into dst: UnsafeMutablePointer<Float>) {
        weight.widenRows(row, count, into: dst)
    }
}

/// Widened weight tiles for `Linear.gemm`, reused across calls (a fresh 64 MB allocation each call would fault its
/// pages in every time). Concurrent callers each get their own buffer.
final class GEMMScratch: @unchecked Sendable {
    static let shared = GEMMScratch()
    private let lock = NSLock()
    private var free: [ScratchBuffer] = []

    func with<R>(_ count: Int, _ body: (UnsafeMutablePointer<Float>) -> R) -> R {
        lock.lock()
        let buffer = free.popLast() ?? ScratchBuffer()
        lock.unlock()
        defer {
            lock.lock()
            free.append(buffer)
            lock.unlock()
        }
        return body(buffer.pointer(count))
    }
}
