import Foundation
import CKernels

/// Element types and block formats a weight may have.
///
/// Element types are what safetensors files store (`F32`, `F16`, `BF16`, and the 1-byte integers that
/// carry quantised payloads). Block formats hold 32 values per block with one f16 scale per block, in
/// llama.cpp's layouts of the same names: `q8_0` (8.5 bits per weight) and `q4_0` (4.5 bits per weight).
public enum DType: String, Sendable, CaseIterable {
    case f32 = "F32"
    case f16 = "F16"
    case bf16 = "BF16"
    /// 1-byte integers: the stored payload of a block format (never a usable weight on their own).
    case i8 = "I8"
    case u8 = "U8"
    case q8_0 = "Q8_0"
    case q4_0 = "Q4_0"

    /// Values per block of the block formats.
    public static let blockLength = 32

    /// The block formats, by the names users type (`q8_0`, `q4_0`).
    public static let blockFormats: [DType] = [.q8_0, .q4_0]

    public var isBlockFormat: Bool { self == .q8_0 || self == .q4_0 }

    /// Bytes per element of an element type; nil for block formats.
    public var elementSize: Int? {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .i8, .u8: return 1
        case .q8_0, .q4_0: return nil
        }
    }

    /// Floating-point element types, the ones kernels read directly.
    public var isFloat: Bool { self == .f32 || self == .f16 || self == .bf16 }

    /// Payload bytes of one block (block formats only).
    public var blockPayloadBytes: Int {
        switch self {
        case .q8_0: return 32
        case .q4_0: return 16
        default: return 0
        }
    }

    /// The stored element type of a block format's payload.
    public var payloadElementType: DType? {
        switch self {
        case .q8_0: return .i8
        case .q4_0: return .u8
        default: return nil
        }
    }

    /// The lower-case name users type for a block format (`q8_0`), else the safetensors name.
    public var userName: String { isBlockFormat ? rawValue.lowercased() : rawValue }

    /// A block format from its user-facing name (`q8_0`, `Q4_0`).
    public init?(blockFormatName name: String) {
        guard let d = DType(rawValue: name.uppercased()), d.isBlockFormat else { return nil }
        self = d
    }

    /// Bits per weight including scales (block formats), or the element width.
    public var bitsPerWeight: Double {
        if let s = elementSize { return Double(8 * s) }
        return Double(8 * (blockPayloadBytes + 2)) / Double(DType.blockLength)
    }
}

/// Keeps the memory behind a set of weights alive (a memory map, or an owned allocation).
public protocol WeightStorageOwner: AnyObject, Sendable {}

/// A read-only tensor in its stored form, pointing into memory that `owner` keeps alive (usually a
/// memory-mapped safetensors file). Weights are never widened as a whole: kernels read the stored form
/// and widen tiles on the fly.
///
/// Block formats: `shape` is the logical `[rows, cols]`; `data` is the payload (`blocksPerRow` blocks
/// per row, the last zero-padded) and `scales` the f16 scales `[rows, blocksPerRow]`.
public struct WeightTensor: @unchecked Sendable {
    public let dtype: DType
    public let shape: [Int]
    public let data: UnsafeRawPointer
    /// Block formats: f16 scales `[rows, blocksPerRow]`; nil for element types.
    public let scales: UnsafeRawPointer?
    public let owner: WeightStorageOwner?
    /// Keeps the scales alive when they live elsewhere than the payload.
    public let scalesOwner: WeightStorageOwner?
    /// Block formats: the in-memory decode layout with 8 rows interleaved per block (`vv_q4_0_interleave8`,
    /// `vv_q8_0_interleave8`; rows padded to groups of 8), made by `interleavedForDecode()`. Never stored in a
    /// checkpoint.
    public let interleaved8: Bool

    /// A tensor of an element type.
    public init(dtype: DType, shape: [Int], data: UnsafeRawPointer, owner: WeightStorageOwner?) {
        precondition(!dtype.isBlockFormat, "block formats need scales")
        self.dtype = dtype
        self.shape = shape
        self.data = data
        self.scales = nil
        self.owner = owner
        self.scalesOwner = nil
        self.interleaved8 = false
    }

    /// A block-format tensor of logical shape `[rows, cols]` (or more dimensions, flattened after the first).
    public init(blockFormat: DType, shape: [Int], data: UnsafeRawPointer, scales: UnsafeRawPointer,
                owner: WeightStorageOwner?, scalesOwner: WeightStorageOwner? = nil, interleaved8: Bool = false) {
        precondition(blockFormat.isBlockFormat && shape.count >= 2, "a block format needs a 2-D shape")
        self.interleaved8 = interleaved8
        self.dtype = blockFormat
        self.shape = shape
        self.data = data
        self.scales = scales
        self.owner = owner
        self.scalesOwner = scalesOwner
    }

    /// The same storage viewed with another logical shape of the same rows and values per row.
    public func reshaped(_ newShape: [Int]) -> WeightTensor {
        precondition(newShape.reduce(1, *) == count && newShape.first == shape.first,
                     "a reshape keeps the rows and their length")
        if let scales {
            return WeightTensor(blockFormat: dtype, shape: newShape, data: data, scales: scales, owner: owner,
                                scalesOwner: scalesOwner, interleaved8: interleaved8)
        }
        return WeightTensor(dtype: dtype, shape: newShape, data: data, owner: owner)
    }

    public var count: Int { shape.reduce(1, *) }
    public var rows: Int { shape.first ?? 1 }
    /// Values per row.
    public var cols: Int { rows == 0 ? 0 : count / rows }
    /// Blocks per row (block formats).
    public var blocksPerRow: Int { (cols + DType.blockLength - 1) / DType.blockLength }

    /// Rows as stored: `rows`, or rounded up to a multiple of 8 in the interleaved layout.
    public var storedRows: Int { interleaved8 ? (rows + 7) / 8 * 8 : rows }

    /// Bytes of the payload (block formats) or of the elements.
    public var payloadByteCount: Int {
        if let s = dtype.elementSize { return count * s }
        return storedRows * blocksPerRow * dtype.blockPayloadBytes
    }

    /// Bytes of the f16 scales (block formats), else 0.
    public var scaleByteCount: Int { dtype.isBlockFormat ? storedRows * blocksPerRow * 2 : 0 }

    /// This block-format tensor in the interleaved decode layout (a copy in owned memory, one pass over the
    /// payload); other tensors, and one already interleaved, are returned as they are. The values are the same;
    /// the mat-vec over it is faster (the 8 rows' payload is one sequential stream, and each activation load and
    /// scale conversion serves 8 rows) and sums each row in its own order (see quant_q4_0x8.c, quant_q8_0x8.c).
    public func interleavedForDecode() -> WeightTensor {
        guard dtype.isBlockFormat, !interleaved8, let scales, rows > 0, cols > 0 else { return self }
        let nb = blocksPerRow
        let groups = (rows + 7) / 8
        let payload = groups * 8 * nb * dtype.blockPayloadBytes
        let buf = OwnedWeightBuffer(byteCount: payload + groups * 8 * nb * 2)
        let d = (buf.pointer + payload).assumingMemoryBound(to: UInt16.self)
        let ds = scales.assumingMemoryBound(to: UInt16.self)
        // Groups are independent: the threads take ranges of them (one pass over the 7.5 GB q8_0 decoder).
        let (format, rowCount, src, dst) = (dtype, rows, data, buf.pointer)
        let rowBytes = nb * dtype.blockPayloadBytes
        Parallel.forRanges(groups, minChunk: 64) { g0, g1 in
            let r0 = g0 * 8, n = min(rowCount, g1 * 8) - r0
            if format == .q8_0 {
                vv_q8_0_interleave8((src + r0 * rowBytes).assumingMemoryBound(to: Int8.self), ds + r0 * nb, n, nb,
                                    (dst + r0 * rowBytes).assumingMemoryBound(to: Int8.self), d + r0 * nb)
            } else {
                vv_q4_0_interleave8((src + r0 * rowBytes).assumingMemoryBound(to: UInt8.self), ds + r0 * nb, n, nb,
                                    (dst + r0 * rowBytes).assumingMemoryBound(to: UInt8.self), d + r0 * nb)
            }
        }
        return WeightTensor(blockFormat: dtype, shape: shape, data: UnsafeRawPointer(buf.pointer),
                            scales: UnsafeRawPointer(d), owner: buf, interleaved8: true)
    }

    /// Every byte a full pass over the tensor reads.
    public var byteCount: Int { payloadByteCount + scaleByteCount }

    /// Element `i` widened to f32 (slow path; for tests and small tensors).
    public func element(_ i: Int) -> Float {
        switch dtype {
        case .f32: return data.load(fromByteOffset: i * 4, as: Float.self)
        case .bf16:
            let bits = data.load(fromByteOffset: i * 2, as: UInt16.self)
            return Float(bitPattern: UInt32(bits) << 16)
        case .f16:
            let bits = data.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)
            return Float(Float16(bitPattern: bits))
        case .i8: return Float(data.load(fromByteOffset: i, as: Int8.self))
        case .u8: return Float(data.load(fromByteOffset: i, as: UInt8.self))
        case .q8_0, .q4_0:
            let (r, c) = (i / cols, i % cols)
            let block = r * blocksPerRow + c / DType.blockLength
            let j = c % DType.blockLength
            if interleaved8 {
                let groupBlock = (r / 8) * blocksPerRow + c / DType.blockLength, lane = r % 8
                let s = Float(Float16(bitPattern: scales!.loadUnaligned(fromByteOffset: (groupBlock * 8 + lane) * 2,
                                                                          as: UInt16.self)))
                if dtype == .q8_0 {
                    return s * Float(data.load(fromByteOffset: groupBlock * 256 + j / 4 * 32 + lane * 4 + j % 4,
                                               as: Int8.self))
                }
                let byte = data.load(fromByteOffset: groupBlock * 128 + (j % 16) / 4 * 32 + lane * 4 + j % 4,
                                     as: UInt8.self)
                return s * Float(Int(j < 16 ? byte & 0x0f : byte >> 4) - 8)
            }
            let scale = Float(Float16(bitPattern: scales!.loadUnaligned(fromByteOffset: block * 2, as: UInt16.self)))
            if dtype == .q8_0 {
                return scale * Float(data.load(fromByteOffset: block * 32 + j, as: Int8.self))
            }
            let byte = data.load(fromByteOffset: block * 16 + j % 16, as: UInt8.self)
            return scale * Float(Int(j < 16 ? byte & 0x0f : byte >> 4) - 8)
        }
    }

    /// The whole tensor widened to f32 (for small tensors: biases, norms, conv weights).
    public func toFloatArray() -> [Float] {
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { dst in
            if dtype.isBlockFormat {
                widenRows(0, rows, into: dst.baseAddress!)
            } else {
                for i in 0..<count { dst[i] = element(i) }
            }
        }
        return out
    }

    /// Rows `[row, row + n)` widened to f32, `cols` values each, on the calling thread.
    public func widenRows(_ row: Int, _ n: Int, into dst: UnsafeMutablePointer<Float>) {
        guard n > 0, cols > 0 else { return }
        let k = cols
        switch dtype {
        case .f32:
            dst.update(from: data.assumingMemoryBound(to: Float.self) + row * k, count: n * k)
        case .bf16:
            vv_widen_bf16(data.assumingMemoryBound(to: UInt16.self) + row * k, dst, n * k)
        case .f16:
            vv_widen_f16(data.assumingMemoryBound(to: UInt16.self) + row * k, dst, n * k)
        case .i8, .u8:
            for i in 0..<(n * k) { dst[i] = element(row * k + i) }
        case .q8_0 where interleaved8:
            vv_dequant_rows_q8_0x8(data.assumingMemoryBound(to: Int8.self), scales!.assumingMemoryBound(to: UInt16.self),
                                   k, row, n, dst)
        case .q8_0:
            vv_dequant_rows_q8_0(data.assumingMemoryBound(to: Int8.self), scales!.assumingMemoryBound(to: UInt16.self),
                                 k, row, n, dst)
        case .q4_0 where interleaved8:
            vv_dequant_rows_q4_0x8(data.assumingMemoryBound(to: UInt8.self), scales!.assumingMemoryBound(to: UInt16.self),
                                   k, row, n, dst)
        case .q4_0:
            vv_dequant_rows_q4_0(data.assumingMemoryBound(to: UInt8.self), scales!.assumingMemoryBound(to: UInt16.self),
                                 k, row, n, dst)
        }
    }
}

/// An owned buffer usable as weight storage (quantised weights, tests, synthesised weights), 64-byte aligned.
public final class OwnedWeightBuffer: WeightStorageOwner, @unchecked Sendable {
    public let pointer: UnsafeMutableRawPointer
    public let byteCount: Int
    public init(byteCount: Int) {
        self.byteCount = byteCount
        self.pointer = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
    }
    deinit { pointer.deallocate() }

    /// Makes an f32 `WeightTensor` holding a copy of `values`.
    public static func tensor(_ values: [Float], shape: [Int]) -> WeightTensor {
        precondition(values.count == shape.reduce(1, *), "shape does not match value count")
        let buf = OwnedWeightBuffer(byteCount: values.count * 4)
        values.withUnsafeBytes { buf.pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        return WeightTensor(dtype: .f32, shape: shape, data: UnsafeRawPointer(buf.pointer), owner: buf)
    }
}
