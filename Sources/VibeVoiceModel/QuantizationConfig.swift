import Foundation
import VibeVoiceCompute
import VibeVoiceJSON

/// The `quantization_config` entry of a checkpoint written by `vibevoice-asr quantize` (README, "Quantised
/// checkpoints"): which tensors are stored in which block format.
///
/// ```json
/// "quantization_config": {"quant_method": "vibevoice_blocks", "version": 1, "format": "q8_0", "block_size": 32,
///   "scale_dtype": "float16", "scale_suffix": "_scale",
///   "tensors": {"language_model.model.layers.0.self_attn.q_proj.weight": {"format": "q8_0", "shape": [3584, 3584]}, ...}}
/// ```
/// A listed tensor `NAME` of logical shape `[rows, cols]` is stored as its payload (`I8 [rows, nb·32]` for q8_0,
/// `U8 [rows, nb·16]` for q4_0, nb = ceil(cols / 32), the last block zero-padded) and its scales `NAME_scale`
/// (`F16 [rows, nb]`).
public struct QuantizationConfig: Sendable, Equatable {
    public static let method = "vibevoice_blocks"
    public static let version = 1
    public static let scaleSuffix = "_scale"

    /// One quantised tensor: its format and logical shape.
    public struct Tensor: Sendable, Equatable {
        public var format: DType
        public var shape: [Int]
        public init(format: DType, shape: [Int]) {
            self.format = format
            self.shape = shape
        }
    }

    /// The format most tensors use (what `--to` asked for).
    public var format: DType
    /// Every quantised tensor, by canonical name.
    public var tensors: [String: Tensor]

    public init(format: DType, tensors: [String: Tensor]) {
        self.format = format
        self.tensors = tensors
    }

    /// The name of the scale tensor of `name`.
    public static func scaleName(of name: String) -> String { name + scaleSuffix }

    /// Parses `quantization_config` (nil when the config has none).
    static func parse(_ top: ConfigReader) throws(ConfigError) -> QuantizationConfig? {
        guard let q = try top.optionalObject("quantization_config") else { return nil }
        let methodName = try q.optionalString("quant_method") ?? "(none)"
        guard methodName == method else {
            throw q.unsupported("quant_method", "\"\(methodName)\"",
                                supported: "\"\(method)\" (checkpoints written by `vibevoice-asr quantize`)")
        }
        let version = try q.int("version", default: Self.version)
        guard version == Self.version else {
            throw q.unsupported("version", String(version), supported: String(Self.version))
        }
        let blockSize = try q.int("block_size", default: DType.blockLength)
        guard blockSize == DType.blockLength else {
            throw q.unsupported("block_size", String(blockSize), supported: String(DType.blockLength))
        }
        let scaleType = try q.string("scale_dtype", default: "float16")
        guard scaleType == "float16" else { throw q.unsupported("scale_dtype", "\"\(scaleType)\"", supported: "\"float16\"") }
        let suffix = try q.string("scale_suffix", default: scaleSuffix)
        guard suffix == scaleSuffix else { throw q.unsupported("scale_suffix", "\"\(suffix)\"", supported: "\"\(scaleSuffix)\"") }
        let formatName = try q.optionalString("format") ?? ""
        guard let format = DType(blockFormatName: formatName) else {
            throw q.unsupported("format", "\"\(formatName)\"", supported: Self.supportedNames)
        }
        let map = try q.requiredObject("tensors")
        var tensors: [String: Tensor] = [:]
        for (name, _) in map.object {
            let entry = try map.requiredObject(name)
            let f = try entry.optionalString("format") ?? ""
            guard let tensorFormat = DType(blockFormatName: f) else {
                throw entry.unsupported("format", "\"\(f)\"", supported: Self.supportedNames)
            }
            guard let shape = try entry.optionalIntArray("shape") else { throw entry.missing("shape") }
            var product = 1, overflow = false
            for d in shape where !overflow { (product, overflow) = product.multipliedReportingOverflow(by: max(d, 0)) }
            guard shape.count >= 2, shape.allSatisfy({ $0 > 0 }), !overflow, product < 1 << 40 else {
                throw entry.invalid("shape", "\(shape)", expected: "at least two positive sizes of a plausible tensor")
            }
            tensors[name] = Tensor(format: tensorFormat, shape: shape)
        }
        return QuantizationConfig(format: format, tensors: tensors)
    }

    static var supportedNames: String { DType.blockFormats.map { "\"\($0.userName)\"" }.joined(separator: ", ") }

    /// The JSON object written into config.json.
    public var jsonObject: [String: Any] {
        ["quant_method": Self.method, "version": Self.version, "format": format.userName,
         "block_size": DType.blockLength, "scale_dtype": "float16", "scale_suffix": Self.scaleSuffix,
         "tensors": tensors.mapValues { ["format": $0.format.userName, "shape": $0.shape] as [String: Any] }]
    }
}
