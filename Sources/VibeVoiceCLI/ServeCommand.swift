import ArgumentParser
import Foundation
import Logging
import VibeVoiceASR
import VibeVoiceCompute
import VibeVoiceServer

/// `vibevoice-asr serve`: the OpenAI-compatible HTTP server.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve transcriptions over HTTP with OpenAI's /v1/audio/transcriptions API.",
        discussion: """
        The server listens at once and loads the model in the background (GET /health answers 503 until it is \
        ready). Up to --batch requests decode together (continuous batching; each gets the transcript it would \
        get alone), with --max-queue more admitted; the rest get 429. \
        SIGTERM or SIGINT stops new requests, lets those in flight finish (up to --shutdown-grace seconds), \
        then exits 0. The API key may also come from the environment variable VIBEVOICE_API_KEY.
        """
    )

    @Option(name: .shortAndLong,
            help: ArgumentHelp("A local model directory, or a Hugging Face repo id.", valueName: "dir-or-repo"))
    var model: String = ModelLocator.defaultRepo

    @Option(help: ArgumentHelp("Branch, tag or commit of a Hub model.", valueName: "rev"))
    var revision: String = "main"

    @Option(help: ArgumentHelp("A tokenizer.json, or a directory holding one (for the original checkpoint).", valueName: "path"))
    var tokenizer: String?

    @Option(help: ArgumentHelp("Address to listen on.", valueName: "host"))
    var host: String = "127.0.0.1"

    @Option(help: ArgumentHelp("Port to listen on (0: any free port, printed at start).", valueName: "port"))
    var port: Int = 8000

    @Option(help: ArgumentHelp("Require 'Authorization: Bearer KEY' on /v1/* (default: $VIBEVOICE_API_KEY, else none).",
                               valueName: "key"))
    var apiKey: String?

    @Option(help: ArgumentHelp("Largest upload in MiB (the whole multipart body).", valueName: "n"))
    var maxUploadMb: Double = 25

    @Option(help: ArgumentHelp("Longest audio accepted, in seconds.", valueName: "seconds"))
    var maxDuration: Double = 3600

    @Option(help: ArgumentHelp("Requests admitted beyond the one on the model; more get 429 with Retry-After.", valueName: "n"))
    var maxQueue: Int = 8

    @Option(help: ArgumentHelp("Seconds from a request's arrival to its response before it is cancelled (504).",
                               valueName: "seconds"))
    var requestTimeout: Double = 600

    @Option(help: ArgumentHelp("Seconds in-flight requests may take to finish after SIGTERM/SIGINT.", valueName: "seconds"))
    var shutdownGrace: Double = 30

    @Option(help: ArgumentHelp("Token budget per request (default: scaled to the audio, as transcribe does).", valueName: "n"))
    var maxNewTokens: Int?

    @Option(help: ArgumentHelp("Threads for the kernels and BLAS (default: all cores).", valueName: "n"))
    var threads: Int?

    @Option(help: ArgumentHelp("Quantise a BF16/F16/F32 checkpoint's decoder while loading: q8_0 or q4_0.", valueName: "format"))
    var weights: String?

    @Option(help: ArgumentHelp("Requests decoded together (each holds a KV cache while it runs).", valueName: "n"))
    var batch: Int = 1

    @OptionGroup var runtime: DecoderRuntimeOptions

    @Option(help: ArgumentHelp("Log level: trace, debug, info, notice, warning, error, critical.", valueName: "level"))
    var logLevel: String = "info"

    func validate() throws {
        guard (0...65535).contains(port) else { throw CLIUsageError("--port must be from 0 to 65535") }
        guard maxUploadMb > 0, maxUploadMb <= 4096 else { throw CLIUsageError("--max-upload-mb must be in (0, 4096]") }
        guard maxDuration > 0 else { throw CLIUsageError("--max-duration must be positive") }
        guard maxQueue >= 0, maxQueue <= 10_000 else { throw CLIUsageError("--max-queue must be from 0 to 10000") }
        guard (1...16).contains(batch) else { throw CLIUsageError("--batch must be from 1 to 16") }
        if let w = weights, DType(blockFormatName: w) == nil {
            throw CLIUsageError("--weights must be one of: \(DType.blockFormats.map(\.userName).joined(separator: ", "))")
        }
        guard requestTimeout > 0 else { throw CLIUsageError("--request-timeout must be positive") }
        guard shutdownGrace >= 0 else { throw CLIUsageError("--shutdown-grace must be 0 or more") }
        if let n = maxNewTokens, n < 1 { throw CLIUsageError("--max-new-tokens must be at least 1") }
        if let n = threads, n < 1 { throw CLIUsageError("--threads must be at least 1") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw CLIUsageError("--log-level '\(logLevel)' is not a log level") }
        if let k = resolvedAPIKey, k.isEmpty { throw CLIUsageError("the API key is empty") }
    }

    var resolvedAPIKey: String? {
        apiKey ?? ProcessInfo.processInfo.environment["VIBEVOICE_API_KEY"]
    }

    func run() throws {
        if let threads { ComputeThreads.set(threads) }
        var config = ServerConfiguration()
        config.host = host
        config.port = port
        config.apiKey = resolvedAPIKey
        config.maxUploadBytes = Int(maxUploadMb * 1024 * 1024)
        config.maxAudioSeconds = maxDuration
        config.maxQueue = maxQueue
        config.requestTimeout = requestTimeout
        config.shutdownGrace = shutdownGrace
        config.maxNewTokens = maxNewTokens
        config.modelID = model

        var logger = Logger(label: "vibevoice-asr")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let (model, revision, tokenizer, queue, slots) = (self.model, self.revision, self.tokenizer, maxQueue, batch)
        let format = weights.flatMap { DType(blockFormatName: $0) }
        let (kvCache, prefill) = (runtime.kvCache, runtime.prefillProducts)
        let server = TranscriptionServer(configuration: config, logger: logger) {
            let display = ProgressDisplay(quiet: false, verbose: false)
            let dir = try ModelLocator.resolve(model, revision: revision, display: display)
            display.clear()
            let transcriber = try Transcriber(modelDirectory: dir, tokenizerPath: tokenizer.map { URL(fileURLWithPath: $0) },
                                              weights: format, kvCache: kvCache)
            try DecoderRuntimeOptions.applyPrefill(prefill, for: transcriber.model.decoderWeightFormat)
            return BatchWorker(transcriber: transcriber, slots: slots, maxQueue: queue)
        }
        let host = config.host
        let outcome = BlockingTask.run {
            try await server.run { port in
                FileHandle.standardError.write(Data("listening on http://\(host):\(port)\n".utf8))
            }
        }
        try outcome.get()
    }
}

/// Runs async work from the synchronous command and waits for it.
enum BlockingTask {
    static func run(_ work: @escaping @Sendable () async throws -> Void) -> Result<Void, Error> {
        let done = DispatchSemaphore(value: 0)
        let box = ResultBox()
        Task {
            do { try await work(); box.result = .success(()) } catch { box.result = .failure(error) }
            done.signal()
        }
        done.wait()
        return box.result
    }

    private final class ResultBox: @unchecked Sendable {
        var result: Result<Void, Error> = .success(())
    }
}
