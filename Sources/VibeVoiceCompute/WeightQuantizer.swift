import Foundation
import CKernels

/// Why a weight could not be quantised.
public enum QuantizationError: Error, CustomStringConvertible, Equatable, Sendable {
    case notABlockFormat(DType)
    case unsupportedSource(DType)
    case notAMatrix(shape: [Int])
    /// A value of row `row` is NaN or infinite.
    case nonFiniteValue(row: Int)
    /// A block of row `row` needs a scale beyond the f16 range (|value| > 65504 · 127 or · 8).
    case scaleOverflow(row: Int)

    public var description: String {
        switch self {
        case let .notABlockFormat(d): return "\(d.rawValue) is not a block format (expected q8_0 or q4_0)"
        case let .unsupportedSource(d): return "weights stored as \(d.rawValue) cannot be quantised (expected F32, F16 or BF16)"
        case let .notAMatrix(shape): return "shape \(shape) is not a matrix"
        case let .nonFiniteValue(row): return "row \(row) holds a NaN or infinite value"
        case let .scaleOverflow(row): return "row \(row) holds values too large for an f16 block scale"
        }
    }
}

/// Quantises floating-point weights to a block format, rows split across the compute threads.
public enum WeightQuantizer {
    /// Rows widened to f32 at a time per thread.
    static let rowsPerStep = 16

    /// `weight` (F32, F16 or BF16, at least 2-D) in `format`, in a new owned buffer: the payload first,
    /// then the scales at a 64-byte boundary.
    ///
    /// `rowsRead`, when given, is called (from the compute threads, concurrently) with each range of source
    /// rows once they have been read, so a caller can release the source's memory-mapped pages as the
    /// conversion goes instead of holding the whole stored tensor resident (the token embedding and the output
    /// head are about 1.1 GB each in bf16).
    public static func quantize(_ weight: WeightTensor, to format: DType,
                                rowsRead: (@Sendable (Range<Int>) -> Void)? = nil) throws(QuantizationError) -> WeightTensor {
        guard format.isBlockFormat else { throw .notABlockFormat(format) }
        guard weight.dtype.isFloat else { throw .unsupportedSource(weight.dtype) }
        guard weight.shape.count >= 2 else { throw .notAMatrix(shape: weight.shape) }
        let rows = weight.rows, cols = weight.cols
        let nb = (cols + DType.blockLength - 1) / DType.blockLength
        let payload = rows * nb * format.blockPayloadBytes
        let scaleOffset = (payload + 63) & ~63
        let buffer = OwnedWeightBuffer(byteCount: scaleOffset + rows * nb * 2)
        let q = UncheckedSendable(buffer.pointer)
        // The first failing row wins (threads report under the lock).
        var firstFailure: (row: Int, code: Int32)?
        let lock = NSLock()
        Parallel.forRanges(rows, minChunk: rowsPerStep) { r0, r1 in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: rowsPerStep * cols)
            defer { scratch.deallocate() }
            var r = r0
            while r < r1 {
                let n = min(rowsPerStep, r1 - r)
                weight.widenRows(r, n, into: scratch)
                let scalePtr = (q.value + scaleOffset).assumingMemoryBound(to: UInt16.self) + r * nb
                let code: Int32
                if format == .q8_0 {
                    code = vv_quantize_rows_q8_0(scratch, n, cols,
                                                 (q.value.assumingMemoryBound(to: Int8.self)) + r * nb * 32, scalePtr)
                } else {
                    code = vv_quantize_rows_q4_0(scratch, n, cols,
                                                 (q.value.assumingMemoryBound(to: UInt8.self)) + r * nb * 16, scalePtr)
                }
                if code != 0 {
                    // Find the failing row within this step for the message.
                    var bad = r
                    for i in 0..<n where (0..<cols).contains(where: { !scratch[i * cols + $0].isFinite }) {
                        bad = r + i
                        break
                    }
                    if code == -2 {
                        let limit: Float = format == .q8_0 ? 65504 * 127 : 65504 * 8
                        for i in 0..<n where (0..<cols).contains(where: { abs(scratch[i * cols + $0]) >= limit }) {
                            bad = r + i
                            break
                        }
                    }
                    lock.lock()
                    if firstFailure == nil || bad < firstFailure!.row { firstFailure = (bad, code) }
                    lock.unlock()
                    return
                }
                rowsRead?(r..<(r + n))
                r += n
            }
        }
        if let f = firstFailure {
            throw f.code == -1 ? .nonFiniteValue(row: f.row) : .scaleOverflow(row: f.row)
        }
        return WeightTensor(blockFormat: format, shape: weight.shape, data: UnsafeRawPointer(buffer.pointer),
                            scales: UnsafeRawPointer(buffer.pointer + scaleOffset), owner: buffer)
    }
}
