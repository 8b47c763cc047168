import Foundation
import VibeVoiceCompute

/// A checkpoint whose decoder matrices and token embedding are quantised to a block format as the model asks
/// for them (`--weights q8_0|q4_0`). Each source tensor's memory-mapped pages are dropped once it is converted,
/// so resident memory during the load stays near the quantised size rather than the stored one. Everything
/// else (encoders, projector, norms, biases) is passed through in its stored dtype.
public final class QuantizingWeightSource: WeightSource, @unchecked Sendable {
    // @unchecked: the counters are only touched under `lock`; the model loads its tensors one at a time.
    public let checkpoint: Checkpoint
    public let format: DType
    private let lock = NSLock()
    private var _converted = 0
    private var _bytes = 0

    /// How much of a stored tensor is read before its pages are released (tests use small steps).
    public let releaseStepBytes: Int

    public init(checkpoint: Checkpoint, format: DType, releaseStepBytes: Int = 8 << 20) {
        precondition(format.isBlockFormat, "quantise-on-load needs a block format")
        self.checkpoint = checkpoint
        self.format = format
        self.releaseStepBytes = max(1, releaseStepBytes)
    }

    /// Tensors quantised so far, and their quantised bytes.
    public var converted: (tensors: Int, bytes: Int) {
        lock.lock()
        defer { lock.unlock() }
        return (_converted, _bytes)
    }

    public func has(_ name: String) -> Bool { checkpoint.has(name) }

    public func releaseResidentPages(prefix: String) { checkpoint.releaseResidentPages(prefix: prefix) }

    public func releaseResidentPages(ofTensor name: String) { checkpoint.releaseResidentPages(ofTensor: name) }

    public func tensor(_ name: String, shape: [Int]) throws -> WeightTensor {
        let (stored, canonical, file, convert) = try checked(name, shape: shape)
        guard convert else { return stored }
        let q: WeightTensor
        do {
            // Release the stored pages every few MB as the rows are read, not only at the end.
            let rowBytes = stored.cols * (stored.dtype.elementSize ?? 4)
            let step = max(1, releaseStepBytes / max(1, rowBytes))
            let release = PageRelease(checkpoint: checkpoint, name: name, rowBytes: rowBytes, step: step)
            let rowsRead: (@Sendable (Range<Int>) -> Void)? = stored.rows >= 2 * step ? release.rowsRead : nil
            q = try WeightQuantizer.quantize(stored, to: format, rowsRead: rowsRead)
        } catch {
            throw CheckpointError.cannotQuantize(file: file, tensor: canonical, detail: error.description)
        }
        checkpoint.releaseResidentPages(of: name)
        lock.lock()
        _converted += 1
        _bytes += q.byteCount
        lock.unlock()
        return q
    }
}

extension QuantizingWeightSource {
    /// The stored tensor after every check quantising makes before reading its data (shape, dtype, an already
    /// quantised tensor in another format), and whether it is to be quantised.
    fileprivate func checked(_ name: String, shape: [Int]) throws -> (WeightTensor, String, String, Bool) {
        let stored = try checkpoint.tensor(name, shape: shape)
        let canonical = CheckpointNames.canonical(name) ?? name
        let file = checkpoint.location(of: name)?.file.path ?? checkpoint.directory.path
        guard CheckpointNames.isQuantizable(canonical) else { return (stored, canonical, file, false) }
        if stored.dtype.isBlockFormat {
            guard stored.dtype == format else {
                throw CheckpointError.cannotQuantize(
                    file: file, tensor: canonical,
                    detail: "it is already stored as \(stored.dtype.userName); quantising to \(format.userName) needs an "
                        + "F32, F16 or BF16 checkpoint (or load this one without --weights)")
            }
            return (stored, canonical, file, false)
        }
        guard stored.dtype.isFloat else {
            throw CheckpointError.cannotQuantize(file: file, tensor: canonical,
                                                 detail: QuantizationError.unsupportedSource(stored.dtype).description)
        }
        return (stored, canonical, file, true)
    }

    /// A view that makes the same checks as `tensor(_:shape:)` but returns the stored tensors unconverted
    /// (building a model part on it checks a checkpoint without the cost of quantising).
    public var checkingOnly: WeightSource { CheckingSource(source: self) }
}

private struct CheckingSource: WeightSource {
    let source: QuantizingWeightSource
    func has(_ name: String) -> Bool { source.has(name) }
    func tensor(_ name: String, shape: [Int]) throws -> WeightTensor { try source.checked(name, shape: shape).0 }
    var buildsDecodeLayouts: Bool { false }
}

/// Releases a stored tensor's pages in steps of `step` rows as the quantiser's threads read it. Each thread
/// reads its rows in order, so when a call's rows cross a step boundary the step before it has been read
/// (but for the rows of another thread's range near a thread boundary: those are dropped early and fault back
/// in from the file when read, which costs a re-read, not a wrong value).
private struct PageRelease: @unchecked Sendable {
    // @unchecked: `Checkpoint` is immutable after loading; madvise is safe from any thread.
    let checkpoint: Checkpoint
    let name: String
    let rowBytes: Int
    let step: Int

    func rowsRead(_ rows: Range<Int>) {
        let hi = rows.upperBound / step * step
        guard hi > rows.lowerBound else { return }
        let lo = max(0, hi - step)
        checkpoint.releaseResidentPages(of: name, bytes: (lo * rowBytes)..<(hi * rowBytes))
    }
}
