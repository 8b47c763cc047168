import Foundation

/// Element types a stored weight may have. Quantised block formats join this list later.
public enum DType: String, Sendable, CaseIterable {
    case f32 = "F32"
    case f16 = "F16"
    case bf16 = "BF16"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        }
    }
}

/// Keeps the memory behind a set of weights alive (a memory map, or an owned allocation).
public protocol WeightStorageOwner: AnyObject, Sendable {}

/// A read-only tensor in its stored dtype, pointing into memory that `owner` keeps alive
/// (usually a memory-mapped safetensors file). Weights are never widened as a whole: kernels
/// read the stored dtype and widen tiles on the fly.
public struct WeightTensor: @unchecked Sendable {
    public let dtype: DType
    public let shape: [Int]
    public let data: UnsafeRawPointer
    public let owner: WeightStorageOwner?

    public init(dtype: DType, shape: [Int], data: UnsafeRawPointer, owner: WeightStorageOwner?) {
        self.dtype = dtype
        self.shape = shape
        self.data = data
        self.owner = owner
    }

    public var count: Int { shape.reduce(1, *) }
    public var byteCount: Int { count * dtype.byteSize }

    /// Element `i` widened to f32 (slow path; for tests and small tensors).
    @inline(__always)
    public func element(_ i: Int) -> Float {
        switch dtype {
        case .f32: return data.load(fromByteOffset: i * 4, as: Float.self)
        case .bf16:
            let bits = data.load(fromByteOffset: i * 2, as: UInt16.self)
            return Float(bitPattern: UInt32(bits) << 16)
        case .f16:
            let bits = data.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)
            return Float(Float16(bitPattern: bits))
        }
    }

    /// The whole tensor widened to f32 (for small tensors: biases, norms, conv weights).
    public func toFloatArray() -> [Float] {
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { dst in
            for i in 0..<count { dst[i] = element(i) }
        }
        return out
    }
}

/// An owned f32 buffer usable as weight storage (tests, synthesised weights).
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
