import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import ServiceLifecycle
import UnixSignals
import VibeVoiceASR

/// The OpenAI-compatible transcription server: `POST /v1/audio/transcriptions`, `GET /v1/models`,
/// `GET /health`, `GET /metrics`. It listens at once and loads the model in the background (`/health`
/// answers 503 until it is ready). On SIGTERM/SIGINT (or `shutdown()`) it stops taking requests, lets those
/// in flight finish within the grace period, then `run` returns.
public final class TranscriptionServer: Sendable {
    public let configuration: ServerConfiguration
    let logger: Logger
    let state = ServerState()
    let metrics = ServerMetrics()
    private let load: @Sendable () throws -> any TranscriptionScheduler
    private let running = RunningGroup()

    /// `load` runs once, off the concurrency pool, while the server already answers; it typically resolves
    /// the model (download included), builds a `Transcriber` and wraps it in a scheduler (`BatchWorker` in `serve`).
    public init(configuration: ServerConfiguration, logger: Logger,
                load: @escaping @Sendable () throws -> any TranscriptionScheduler) {
        self.configuration = configuration
        self.logger = logger
        self.load = load
    }

    /// The port the server listens on once it is running (useful with port 0).
    public var boundPort: Int? { running.port }

    /// Serves until a signal in `shutdownSignals` arrives (or `shutdown()` is called), then drains.
    /// Throws the model's load error if loading failed.
    public func run(shutdownSignals: [UnixSignal] = [.sigterm, .sigint],
                    onListening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        let router = Router(context: ServerContext.self)
        router.add(middleware: RequestGate(apiKey: configuration.apiKey.map { Array($0.utf8) }, metrics: metrics,
                                           logger: logger))
        addRoutes(to: router)

        let app = Application(
            router: router,
            server: .http1(configuration: .init(idleTimeout: .milliseconds(Int64(configuration.idleTimeout * 1000)))),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port),
                                 serverName: "vibevoice-asr",
                                 availableConnectionsDelegate: MaximumAvailableConnections(configuration.maxConnections)),
            onServerRunning: { [running] channel in
                let port = channel.localAddress?.port ?? 0
                running.port = port
                onListening(port)
            },
            logger: logger
        )
        let loader = ModelService(server: self)
        var groupConfiguration = ServiceGroupConfiguration(
            services: [.init(service: app), .init(service: loader)],
            gracefulShutdownSignals: shutdownSignals, logger: logger)
        groupConfiguration.maximumGracefulShutdownDuration = Duration.milliseconds(Int64(configuration.shutdownGrace * 1000))
        groupConfiguration.maximumCancellationDuration = Duration.seconds(5)
        let group = ServiceGroup(configuration: groupConfiguration)
        running.group = group
        try await group.run()
    }

    /// Starts the graceful shutdown `run` would start on SIGTERM.
    public func shutdown() async {
        await running.group?.triggerGracefulShutdown()
    }

    func addRoutes(to router: Router<ServerContext>) {
        let route = TranscriptionRoute(configuration: configuration, state: state, metrics: metrics, logger: logger)
        router.post("/v1/audio/transcriptions") { request, context in
            try await route.handle(request, context: context)
        }
        router.get("/v1/models") { [configuration] _, _ in
            let body = "{\"object\": \"list\", \"data\": [{\"id\": \(JSONText.string(configuration.modelID)), "
                + "\"object\": \"model\", \"created\": 0, \"owned_by\": \"vibevoice-asr\"}]}\n"
            return Self.json(body)
        }
        router.get("/health") { [state] _, _ in
            switch state.current {
            case .ready: return Self.json("{\"status\": \"ok\"}\n")
            case .loading: return Self.json("{\"status\": \"loading\"}\n", status: .serviceUnavailable)
            case .draining: return Self.json("{\"status\": \"shutting_down\"}\n", status: .serviceUnavailable)
            case .failed(let m):
                return Self.json("{\"status\": \"failed\", \"message\": \(JSONText.string(m))}\n", status: .serviceUnavailable)
            }
        }
        router.get("/metrics") { [state, metrics] _, _ in
            let ready: Bool = { if case .ready = state.current { return true } else { return false } }()
            let text = metrics.render(load: state.scheduler?.load, ready: ready)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        }
    }

    static func json(_ body: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }

    /// Loads the model (on a thread of its own), serves, and on graceful shutdown closes the scheduler so
    /// requests still arriving get 503 while those in flight finish.
    struct ModelService: Service {
        let server: TranscriptionServer

        func run() async throws {
            let (load, state, logger) = (server.load, server.state, server.logger)
            let started = ContinuousClock.now
            let outcome: Result<any TranscriptionScheduler, Error> = await withCheckedContinuation { c in
                let thread = Thread { c.resume(returning: Result { try load() }) }
                thread.stackSize = 16 << 20
                thread.start()
            }
            switch outcome {
            case .success(let scheduler):
                state.set(.ready(scheduler))
                let seconds = (ContinuousClock.now - started) / .seconds(1)
                logger.info("model ready", metadata: ["load_seconds": "\(String(format: "%.2f", seconds))"])
                try? await gracefulShutdown()
                state.set(.draining(scheduler))
                scheduler.close()
                logger.info("shutting down: no new requests; waiting for those in flight")
            case .failure(let error):
                state.set(.failed("\(error)"))
                throw error
            }
        }
    }
}

/// The parts of a running server that `shutdown()` and `boundPort` reach.
final class RunningGroup: Sendable {
    private let _group = Locked<ServiceGroup?>(nil)
    private let _port = Locked<Int?>(nil)

    var group: ServiceGroup? {
        get { _group.value }
        set { _group.value = newValue }
    }
    var port: Int? {
        get { _port.value }
        set { _port.value = newValue }
    }
}
