// TEMPORARY: mirrors the config API the loader branch provides; deleted at merge.
import Foundation
import VibeVoiceCompute

public struct SpeechEncoderConfig: Sendable, Equatable {
    public var channels = 1, hiddenSize = 64, numFilters = 32, kernelSize = 7
    public var depths = [3, 3, 3, 3, 3, 3, 8], downsamplingRatios = [2, 2, 4, 5, 5, 8]
    public var ffnExpansion = 4, hiddenAct = "gelu"
    public var rmsNormEps: Float = 1e-5, vaeStd: Float = 0.625
    public var hopLength: Int { downsamplingRatios.reduce(1, *) }
}
public struct DecoderConfig: Sendable, Equatable {
    public var hiddenSize = 3584, numLayers = 28, numHeads = 28, numKVHeads = 4, headDim = 128
    public var intermediateSize = 18944, vocabSize = 152064
    public var rmsNormEps: Float = 1e-6, ropeTheta: Double = 1e6, maxPositionEmbeddings = 131072
    public var hiddenAct = "silu", tieWordEmbeddings = false
}
public struct VibeVoiceConfig: Sendable, Equatable {
    public enum Format: Sendable { case transformers, original }
    public var format = Format.transformers
    public var acoustic = SpeechEncoderConfig(), semantic = SpeechEncoderConfig()
    public var decoder = DecoderConfig()
    public var audioTokenID = 151648, audioBOSTokenID = 151646, audioEOSTokenID = 151647
    public var acousticChunkSize = 1440000
}
public final class Checkpoint: Sendable {
    public let config = VibeVoiceConfig()
    public init(directory: URL) throws { fatalError() }
    public func tensor(_ name: String) throws -> WeightTensor { fatalError() }
    public func tensor(_ name: String, shape: [Int]) throws -> WeightTensor { fatalError() }
    public func has(_ name: String) -> Bool { false }
}
