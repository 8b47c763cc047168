import Foundation

/// Decoded audio as the model consumes it: 24 kHz mono float32, not loudness-normalised
/// (apply `LoudnessNormalizer.normalize` for that), plus facts about the source.
public struct AudioSignal: Sendable, Equatable {
    /// The model's sample rate.
    public static let sampleRate = 24_000

    /// 24 kHz mono samples.
    public var samples: [Float]
    /// The sample rate of the source before resampling.
    public var sourceSampleRate: Int
    /// The number of channels of the source before downmixing.
    public var sourceChannels: Int
    /// The number of frames (samples per channel) decoded from the source.
    public var sourceFrames: Int
    /// libsndfile's name for the container and encoding (e.g. "WAV (Microsoft), Signed 16 bit PCM"),
    /// or "samples" for audio given as an array.
    public var sourceFormat: String
    /// What the user should know about the decoding, one sentence each (audio kept from a damaged file
    /// with `allowPartial`); empty for a clean decode.
    public var warnings: [String]

    public init(samples: [Float], sourceSampleRate: Int, sourceChannels: Int, sourceFrames: Int,
                sourceFormat: String, warnings: [String] = []) {
        self.samples = samples
        self.sourceSampleRate = sourceSampleRate
        self.sourceChannels = sourceChannels
        self.sourceFrames = sourceFrames
        self.sourceFormat = sourceFormat
        self.warnings = warnings
    }

    /// Duration in seconds of the 24 kHz signal: `samples.count / 24000`.
    public var duration: Double { Double(samples.count) / Double(Self.sampleRate) }
}
