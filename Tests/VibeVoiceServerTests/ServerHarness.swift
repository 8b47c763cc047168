import Foundation
import Logging
import XCTest
@testable import VibeVoiceServer
@testable import VibeVoiceASR

/// A live server on a free loopback port, run in-process; `stop()` shuts it down as SIGTERM would.
final class ServerHarness: @unchecked Sendable {
    let server: TranscriptionServer
    private var task: Task<Void, Error>?
    private(set) var port = 0
    var scheduler: (any TranscriptionScheduler)? { server.state.scheduler }

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/engine")
    static let modelDir = fixtures.appendingPathComponent("hf_bf16_chunked/model")
    static let audio = fixtures.appendingPathComponent("hf_bf16_chunked/audio.wav")

    init(configure: (inout ServerConfiguration) -> Void = { _ in },
         load: @escaping @Sendable () throws -> any TranscriptionScheduler) throws {
        var config = ServerConfiguration()
        config.port = 0
        config.maxNewTokens = 24
        configure(&config)
        var logger = Logger(label: "test-server")
        logger.logLevel = .warning
        server = TranscriptionServer(configuration: config, logger: logger, load: load)
        let listening = DispatchSemaphore(value: 0)
        let server = self.server
        task = Task { try await server.run(shutdownSignals: []) { _ in listening.signal() } }
        guard listening.wait(timeout: .now() + 30) == .success, let p = server.boundPort else {
            throw RawHTTP.Failure("the server did not start listening")
        }
        port = p
    }

    /// A server on the tiny bf16 fixture checkpoint (real model, real tokenizer), decoding up to `slots`
    /// requests together as `serve --batch` does.
    static func realModel(maxQueue: Int = 8, slots: Int = 4,
                          configure: (inout ServerConfiguration) -> Void = { _ in }) throws -> ServerHarness {
        let h = try ServerHarness(configure: { c in
            c.maxQueue = maxQueue
            configure(&c)
        }) {
            BatchWorker(transcriber: try Transcriber(modelDirectory: modelDir), slots: slots, maxQueue: maxQueue)
        }
        try h.waitUntilReady()
        return h
    }

    func waitUntilReady(timeout: Double = 30) throws {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if server.state.servingScheduler != nil { return }
            Thread.sleep(forTimeInterval: 0.02)
        }
        throw RawHTTP.Failure("the model did not become ready")
    }

    /// Graceful shutdown; waits for `run` to return and gives its outcome.
    @discardableResult
    func stop() async -> Result<Void, Error> {
        await server.shutdown()
        guard let task else { return .success(()) }
        self.task = nil
        return await task.result
    }

    deinit {
        if let task {
            let server = self.server
            Task { await server.shutdown(); _ = await task.result }
        }
    }
}

/// A stand-in engine with scripted behaviour, behind a real `SerialWorker`, for what the tiny model
/// cannot show on demand: segments, slow jobs, jobs that run until cancelled.
final class ScriptedEngine: @unchecked Sendable {
    enum Script {
        /// Emits these segments, then finishes.
        case segments([Segment])
        /// Runs until cancelled (polls like the real decode loop, every 5 ms).
        case untilCancelled
        /// Waits for `release()`, then finishes.
        case untilReleased
    }

    private let lock = NSCondition()
    var script: Script
    private(set) var started = 0
    private(set) var cancelledJobs = 0
    private(set) var finished = 0
    private var released = false

    init(_ script: Script) { self.script = script }

    func release() { lock.withLock { released = true; lock.broadcast() } }

    func waitForStarts(_ n: Int, timeout: Double = 10) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        return lock.withLock {
            while started < n { if !lock.wait(until: end) { return false } }
            return true
        }
    }

    func counts() -> (started: Int, cancelled: Int, finished: Int) {
        lock.withLock { (started, cancelledJobs, finished) }
    }

    func worker(maxQueue: Int) -> SerialWorker {
        SerialWorker(maxQueue: maxQueue) { job in self.run(job) }
    }

    private func run(_ job: TranscriptionJob) -> Result<TranscriptionResult, Error> {
        lock.withLock { started += 1; lock.broadcast() }
        let seconds = Double(job.samples.count) / 24000
        var segments: [Segment] = []
        switch script {
        case .segments(let s):
            for seg in s { job.onEvent(.segment(seg)) }
            segments = s
        case .untilCancelled:
            while !job.isCancelled { Thread.sleep(forTimeInterval: 0.005) }
            lock.withLock { cancelledJobs += 1 }
            return .failure(TranscriberError.cancelled)
        case .untilReleased:
            lock.withLock { while !released { lock.wait() } }
        }
        lock.withLock { finished += 1 }
        var t = Transcript(segments: segments, rawText: "", duration: seconds, tokens: [1, 2, 3], promptTokens: 10)
        t.temperature = Double(job.options.temperature)
        return .success(TranscriptionResult(transcript: t, audioSeconds: seconds, stopReason: .stopToken, timings: [:]))
    }
}

/// Polls `condition` until true or `timeout`.
func eventually(timeout: Double = 5, _ condition: () -> Bool) -> Bool {
    let end = Date().addingTimeInterval(timeout)
    while Date() < end {
        if condition() { return true }
        Thread.sleep(forTimeInterval: 0.01)
    }
    return condition()
}

/// A small valid WAV: `seconds` of a quiet tone at 24 kHz, 16-bit mono.
func toneWAV(seconds: Double = 0.5) -> Data {
    let n = Int(seconds * 24000)
    var pcm = Data(capacity: n * 2)
    for i in 0..<n {
        let v = Int16(sin(Double(i) * 0.05) * 3000)
        withUnsafeBytes(of: v.littleEndian) { pcm.append(contentsOf: $0) }
    }
    func le32(_ x: UInt32) -> Data { withUnsafeBytes(of: x.littleEndian) { Data($0) } }
    func le16(_ x: UInt16) -> Data { withUnsafeBytes(of: x.littleEndian) { Data($0) } }
    var d = Data("RIFF".utf8) + le32(UInt32(36 + pcm.count)) + Data("WAVE".utf8)
    d += Data("fmt ".utf8) + le32(16) + le16(1) + le16(1) + le32(24000) + le32(48000) + le16(2) + le16(16)
    d += Data("data".utf8) + le32(UInt32(pcm.count)) + pcm
    return d
}
