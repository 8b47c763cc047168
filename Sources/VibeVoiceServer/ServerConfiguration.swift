import Foundation

/// Everything `vibevoice-asr serve` can set. Every limit has a bound by default.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    /// 0 picks a free port (tests); `TranscriptionServer.boundPort` tells which.
    public var port = 8000
    /// Requests to /v1/* must carry `Authorization: Bearer <key>` when set.
    public var apiKey: String?
    /// Largest upload (the whole multipart body), refused while it is read.
    public var maxUploadBytes = 25 * 1024 * 1024
    /// Longest audio accepted, in seconds (checked from the file header before decoding).
    public var maxAudioSeconds: Double = 3600
    /// Requests admitted beyond the one on the model; more get 429.
    public var maxQueue = 8
    /// From the request head to the end of the response; a request past it is cancelled (504).
    public var requestTimeout: Double = 600
    /// After SIGTERM/SIGINT, how long in-flight requests may take to finish.
    public var shutdownGrace: Double = 30
    /// A connection that sends nothing for this long is closed (slow or stalled clients).
    public var idleTimeout: Double = 30
    /// Open connections at most; past it new connections wait in the listen backlog.
    public var maxConnections = 256
    /// Token budget per request (nil: scaled to the audio, as `transcribe` does).
    public var maxNewTokens: Int?
    /// The id `GET /v1/models` lists; any `model` field is accepted.
    public var modelID = "microsoft/VibeVoice-ASR-HF"
    /// Seconds a client is told to wait (`Retry-After`) when the queue is full or the model is loading.
    public var retryAfterSeconds = 1

    public init() {}
}
