import Foundation
import VibeVoiceJSON

/// One causal convolutional speech encoder (acoustic or semantic; SPEC section 3).
public struct SpeechEncoderConfig: Sendable, Equatable {
    /// Input channels (1: mono waveform).
    public var channels: Int
    /// Width of the output latents (64 acoustic, 128 semantic).
    public var hiddenSize: Int
    /// Width of the stem; doubles after every downsampling stage.
    public var numFilters: Int
    /// Kernel of the stem, the depthwise mixers and the head.
    public var kernelSize: Int
    /// ConvNeXt blocks per stage: stem first, then one entry per downsampling ratio.
    public var depths: [Int]
    /// Strides of the downsampling convolutions, in the order they are applied.
    public var downsamplingRatios: [Int]
    public var ffnExpansion: Int
    public var hiddenAct: String
    public var rmsNormEps: Float
    /// Scale of the optional σ-VAE noise (0: the encoder adds none).
    public var vaeStd: Float

    public init(channels: Int = 1, hiddenSize: Int = 64, numFilters: Int = 32, kernelSize: Int = 7,
                depths: [Int] = [3, 3, 3, 3, 3, 3, 8], downsamplingRatios: [Int] = [2, 2, 4, 5, 5, 8],
                ffnExpansion: Int = 4, hiddenAct: String = "gelu", rmsNormEps: Float = 1e-5, vaeStd: Float = 0.625) {
        self.channels = channels
        self.hiddenSize = hiddenSize
        self.numFilters = numFilters
        self.kernelSize = kernelSize
        self.depths = depths
        self.downsamplingRatios = downsamplingRatios
        self.ffnExpansion = ffnExpansion
        self.hiddenAct = hiddenAct
        self.rmsNormEps = rmsNormEps
        self.vaeStd = vaeStd
    }

    /// Input samples per output latent frame: the product of the downsampling ratios (3200).
    public var hopLength: Int { downsamplingRatios.reduce(1, *) }

    /// Channel width after stage `i` (`numFilters · 2^(i+1)`); `stageWidth(-1)` is the stem width.
    public func stageWidth(_ i: Int) -> Int { numFilters << (i + 1) }
}

/// The Qwen2 text decoder (SPEC section 5).
public struct DecoderConfig: Sendable, Equatable {
    public var hiddenSize: Int
    public var numLayers: Int
    public var numHeads: Int
    public var numKVHeads: Int
    public var headDim: Int
    public var intermediateSize: Int
    public var vocabSize: Int
    public var rmsNormEps: Float
    public var ropeTheta: Double
    public var maxPositionEmbeddings: Int
    public var hiddenAct: String
    public var tieWordEmbeddings: Bool

    public init(hiddenSize: Int, numLayers: Int, numHeads: Int, numKVHeads: Int, headDim: Int,
                intermediateSize: Int, vocabSize: Int, rmsNormEps: Float = 1e-6, ropeTheta: Double = 1_000_000,
                maxPositionEmbeddings: Int = 131_072, hiddenAct: String = "silu", tieWordEmbeddings: Bool = false) {
        self.hiddenSize = hiddenSize
        self.numLayers = numLayers
        self.numHeads = numHeads
        self.numKVHeads = numKVHeads
        self.headDim = headDim
        self.intermediateSize = intermediateSize
        self.vocabSize = vocabSize
        self.rmsNormEps = rmsNormEps
        self.ropeTheta = ropeTheta
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.hiddenAct = hiddenAct
        self.tieWordEmbeddings = tieWordEmbeddings
    }
}

/// The whole model's configuration, read from either checkpoint layout (SPEC 1.1 and 1.2).
public struct VibeVoiceConfig: Sendable, Equatable {
    public enum Format: String, Sendable, Equatable {
        /// `model_type: "vibevoice_asr"` (microsoft/VibeVoice-ASR-HF).
        case transformers
        /// `model_type: "vibevoice"` (microsoft/VibeVoice-ASR).
        case original
    }

    public var format: Format
    public var acoustic: SpeechEncoderConfig
    public var semantic: SpeechEncoderConfig
    public var decoder: DecoderConfig
    /// `<|box_start|>`: one slot per audio frame in the prompt.
    public var audioTokenID: Int
    /// `<|object_ref_start|>`: opens the audio span.
    public var audioBOSTokenID: Int
    /// `<|object_ref_end|>`: closes the audio span.
    public var audioEOSTokenID: Int
    /// Samples per encoder chunk for long audio (60 s at 24 kHz); a multiple of the hop length.
    public var acousticChunkSize: Int
    /// Which tensors are stored in a block format (checkpoints written by `vibevoice-asr quantize`).
    public var quantization: QuantizationConfig?

    public static let defaultAudioTokenID = 151_648
    public static let defaultAudioBOSTokenID = 151_646
    public static let defaultAudioEOSTokenID = 151_647
    public static let defaultAcousticChunkSize = 1_440_000

    public init(format: Format, acoustic: SpeechEncoderConfig, semantic: SpeechEncoderConfig, decoder: DecoderConfig,
                audioTokenID: Int = VibeVoiceConfig.defaultAudioTokenID,
                audioBOSTokenID: Int = VibeVoiceConfig.defaultAudioBOSTokenID,
                audioEOSTokenID: Int = VibeVoiceConfig.defaultAudioEOSTokenID,
                acousticChunkSize: Int = VibeVoiceConfig.defaultAcousticChunkSize) {
        self.format = format
        self.acoustic = acoustic
        self.semantic = semantic
        self.decoder = decoder
        self.audioTokenID = audioTokenID
        self.audioBOSTokenID = audioBOSTokenID
        self.audioEOSTokenID = audioEOSTokenID
        self.acousticChunkSize = acousticChunkSize
    }

    /// Reads `config.json` from `url`, which may be the file itself or the checkpoint directory.
    public static func load(from url: URL) throws(ConfigError) -> VibeVoiceConfig {
        var file = url
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw .unreadable(file: url.path, reason: "no such file or directory")
        }
        if isDirectory.boolValue {
            file = url.appendingPathComponent("config.json")
            guard FileManager.default.fileExists(atPath: file.path, isDirectory: &isDirectory),
                  !isDirectory.boolValue else {
                throw .unreadable(file: file.path, reason: "the checkpoint directory has no config.json")
            }
        }
        let data: Data
        do {
            data = try FileContents.read(file)
        } catch {
            throw .unreadable(file: file.path, reason: error.localizedDescription)
        }
        return try VibeVoiceConfig(jsonData: data, source: file.path)
    }

    /// Parses a config from JSON bytes. `source` names the file in error messages.
    public init(jsonData: Data, source: String = "config.json") throws(ConfigError) {
        let root: JSONValue
        do {
            root = try JSONValue.parse(jsonData)
        } catch {
            throw .malformedJSON(file: source, detail: error.description)
        }
        guard case .object(let top) = root else {
            throw .wrongType(file: source, field: "(top level)", expected: "an object", found: root.kindDescription)
        }
        let reader = ConfigReader(file: source, path: "", object: top)
        guard let modelType = try reader.optionalString("model_type") else { throw reader.missing("model_type") }
        switch modelType {
        case "vibevoice_asr": self = try VibeVoiceConfig.parseTransformers(reader)
        case "vibevoice": self = try VibeVoiceConfig.parseOriginal(reader)
        default:
            throw reader.unsupported("model_type", "\"\(modelType)\"", supported: "\"vibevoice_asr\", \"vibevoice\"")
        }
        quantization = try QuantizationConfig.parse(reader)
        try validate(reader)
    }
}
