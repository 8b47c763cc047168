import Foundation

/// A checkpoint (safetensors files, shard index) the engine cannot use. Every case names the file and,
/// where there is one, the tensor.
public enum CheckpointError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file could not be opened or mapped.
    case unreadable(file: String, reason: String)
    /// The file is shorter than its own header says it is, or too short to have a header.
    case truncated(file: String, detail: String)
    /// The header is not a valid safetensors header (bad length, bad JSON, wrong structure).
    case malformedHeader(file: String, detail: String)
    /// A tensor entry of the header is inconsistent (offsets, shape, size).
    case invalidTensor(file: String, tensor: String, detail: String)
    /// A tensor is stored in an element type the engine does not read.
    case unsupportedDType(file: String, tensor: String, dtype: String)
    /// `model.safetensors.index.json` is malformed.
    case malformedIndex(file: String, detail: String)
    /// The shard index names a shard that does not exist.
    case missingShard(index: String, shard: String)
    /// The shard index places a tensor in a shard that does not hold it.
    case indexMismatch(index: String, tensor: String, shard: String)
    /// The directory holds no safetensors weights at all.
    case noWeights(directory: String)
    /// Two stored tensors map to the same canonical name.
    case duplicateTensor(name: String, first: String, second: String)
    /// A tensor the model needs is not in the checkpoint.
    case missingTensor(directory: String, name: String, tried: [String])
    /// A tensor has a different shape than the config implies. `stored` is its name in the file.
    case shapeMismatch(file: String, tensor: String, stored: String, expected: [Int], actual: [Int])
    /// A quantised tensor's payload or scales do not match its format and logical shape (`field` names the
    /// stored tensor at fault).
    case quantizedTensorMismatch(file: String, tensor: String, field: String, detail: String)
    /// A tensor could not be quantised (non-finite values, values beyond an f16 scale, or already quantised).
    case cannotQuantize(file: String, tensor: String, detail: String)

    public var description: String {
        switch self {
        case let .unreadable(file, reason):
            return "cannot read weights file \(file): \(reason)"
        case let .truncated(file, detail):
            return "weights file \(file) is truncated: \(detail)"
        case let .malformedHeader(file, detail):
            return "weights file \(file) has a malformed safetensors header: \(detail)"
        case let .invalidTensor(file, tensor, detail):
            return "weights file \(file): tensor '\(Self.shown(tensor))' is invalid: \(detail)"
        case let .unsupportedDType(file, tensor, dtype):
            return "weights file \(file): tensor '\(Self.shown(tensor))' has dtype '\(Self.shown(dtype))'; supported: F32, F16, BF16 (and I8/U8 payloads of quantised weights)"
        case let .malformedIndex(file, detail):
            return "shard index \(file) is malformed: \(detail)"
        case let .missingShard(index, shard):
            return "shard index \(index) names shard '\(Self.shown(shard))', which does not exist"
        case let .indexMismatch(index, tensor, shard):
            return "shard index \(index) places tensor '\(Self.shown(tensor))' in '\(Self.shown(shard))', but that shard does not hold it"
        case let .noWeights(directory):
            return "checkpoint directory \(directory) holds no .safetensors weights"
        case let .duplicateTensor(name, first, second):
            return "checkpoint holds tensor '\(Self.shown(name))' twice: as \(Self.shown(first)) and as \(Self.shown(second))"
        case let .missingTensor(directory, name, tried):
            return "checkpoint \(directory) lacks tensor '\(Self.shown(name))' (looked for: \(tried.map(Self.shown).joined(separator: ", ")))"
        case let .shapeMismatch(file, tensor, stored, expected, actual):
            let storedNote = stored == tensor ? "" : " (stored as '\(Self.shown(stored))')"
            return "weights file \(file): tensor '\(Self.shown(tensor))'\(storedNote) has shape \(actual), expected \(expected)"
        case let .quantizedTensorMismatch(file, tensor, field, detail):
            return "weights file \(file): quantised tensor '\(Self.shown(tensor))': '\(Self.shown(field))' \(detail)"
        case let .cannotQuantize(file, tensor, detail):
            return "weights file \(file): cannot quantise tensor '\(Self.shown(tensor))': \(detail)"
        }
    }

    /// A name as messages show it: whole when short; a very long one (a damaged header can hold a
    /// megabyte-long tensor name) as its start and end with its length, so one error stays one line.
    /// Control characters are shown escaped (`\u{A}`), for the same reason.
    static func shown(_ name: String) -> String {
        let limit = 160
        var scalars: [Unicode.Scalar] = []
        for u in name.unicodeScalars {
            if u.value < 0x20 || u.value == 0x7F { scalars += "\\u{\(String(u.value, radix: 16, uppercase: true))}".unicodeScalars }
            else { scalars.append(u) }
        }
        guard scalars.count > limit else { return String(String.UnicodeScalarView(scalars)) }
        let head = String(String.UnicodeScalarView(scalars[..<100]))
        let tail = String(String.UnicodeScalarView(scalars[(scalars.count - 40)...]))
        return "\(head)…\(tail) (\(name.utf8.count) bytes)"
    }
}
