import Foundation

/// Where the server stands: loading the model, serving, draining for shutdown, or failed to load.
final class ServerState: @unchecked Sendable {
    enum Phase: Sendable {
        case loading
        case ready(any TranscriptionScheduler)
        case draining(any TranscriptionScheduler)
        case failed(String)
    }

    private let lock = NSLock()
    private var phase: Phase = .loading

    var current: Phase { lock.withLock { phase } }

    func set(_ p: Phase) { lock.withLock { phase = p } }

    /// The scheduler while serving; nil while loading, draining or failed.
    var servingScheduler: (any TranscriptionScheduler)? {
        if case .ready(let s) = current { return s }
        return nil
    }

    /// Any scheduler there is (for metrics).
    var scheduler: (any TranscriptionScheduler)? {
        switch current {
        case .ready(let s), .draining(let s): return s
        case .loading, .failed: return nil
        }
    }

    /// The 503 to answer when not serving.
    func unavailable(retryAfter: Int) -> APIError {
        switch current {
        case .loading:
            return .unavailable("the model is still loading; retry shortly (GET /health says when it is ready)",
                                code: "model_loading", retryAfter: retryAfter)
        case .draining:
            return .unavailable("the server is shutting down and takes no new requests", code: "shutting_down")
        case .failed(let message):
            return .unavailable("the model failed to load: \(message)", code: "model_failed")
        case .ready:
            return .internal("the server is ready")
        }
    }
}

/// A reserved place that is given back when nobody took it (a request that failed before its job was
/// submitted, or a stream whose body was never written).
final class HeldPlace: @unchecked Sendable {
    private let lock = NSLock()
    private var reservation: Reservation?
    private let scheduler: any TranscriptionScheduler

    init(_ reservation: Reservation, in scheduler: any TranscriptionScheduler) {
        self.reservation = reservation
        self.scheduler = scheduler
    }

    /// Hands the place to a job (once).
    func take() -> Reservation? {
        lock.withLock {
            defer { reservation = nil }
            return reservation
        }
    }

    deinit {
        if let reservation { scheduler.release(reservation) }
    }
}

struct DeadlineExceeded: Error {}

/// Runs `operation` until `deadline`; past it the operation is cancelled and `DeadlineExceeded` thrown.
func withDeadline<T: Sendable>(_ deadline: ContinuousClock.Instant,
                               _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(until: deadline, clock: .continuous)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw DeadlineExceeded() }
        return value
    }
}

/// A value behind a lock.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value

    init(_ value: Value) { stored = value }

    var value: Value {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }

    /// Reads and changes the value in one step.
    func update<T>(_ body: (inout Value) -> T) -> T {
        lock.withLock { body(&stored) }
    }
}
