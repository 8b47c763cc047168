import Foundation
import VibeVoiceASR

/// The seam between the HTTP layer and the model: requests take a place (queued or running) before their
/// upload is read, are submitted into it, and can be cancelled at any time. `BatchWorker` decodes up to
/// N requests together (the server's engine); `SerialWorker` runs one at a time through any closure (tests).
public protocol TranscriptionScheduler: AnyObject, Sendable {
    /// Takes one of the bounded places for a request about to be submitted, or returns nil when all are
    /// taken (the server answers 429) or the scheduler is closed.
    func reserve() -> Reservation?
    /// Gives a place back that was reserved but never submitted into (the upload or its audio was bad).
    func release(_ reservation: Reservation)
    /// Queues `job` in its reserved place. The job's `complete` is called exactly once: with the result,
    /// with the error the pipeline raised, or with `TranscriberError.cancelled`.
    func submit(_ job: TranscriptionJob, in reservation: Reservation)
    /// Cancels a job: a queued job is dropped at once and never runs; a running one stops at its next
    /// token (or at the end of its current encode/prefill stage) and frees its place then.
    func cancel(_ job: TranscriptionJob)
    /// Places in use now.
    var load: SchedulerLoad { get }
    /// Stops handing out places; jobs already submitted still run.
    func close()
    /// Returns when no job is queued or running.
    func waitUntilIdle() async
}

public struct SchedulerLoad: Sendable, Equatable {
    /// Places reserved but not yet running (reading uploads, decoding audio, waiting in the queue).
    public var waiting: Int
    /// Of those, jobs submitted and waiting for the model.
    public var queued: Int
    /// Jobs on the model now.
    public var running: Int
    /// All places: running slots plus the queue.
    public var capacity: Int
}

/// A place in the scheduler, held from admission until the job ends.
public final class Reservation: Sendable {
    let id: UInt64
    init(id: UInt64) { self.id = id }
}

/// One transcription request: 24 kHz mono samples, options, and where its events and result go.
public final class TranscriptionJob: @unchecked Sendable {
    public let samples: [Float]
    public let options: TranscriptionOptions
    let onEvent: @Sendable (TranscriptionEvent) -> Void
    private let lock = NSLock()
    private var cancelled = false
    private var completion: (@Sendable (Result<TranscriptionResult, Error>) -> Void)?

    public init(samples: [Float], options: TranscriptionOptions,
                onEvent: @escaping @Sendable (TranscriptionEvent) -> Void = { _ in },
                completion: @escaping @Sendable (Result<TranscriptionResult, Error>) -> Void) {
        self.samples = samples
        self.options = options
        self.onEvent = onEvent
        self.completion = completion
    }

    public var isCancelled: Bool { lock.withLock { cancelled } }

    func markCancelled() { lock.withLock { cancelled = true } }

    /// Delivers the outcome once; later calls do nothing.
    func complete(_ result: Result<TranscriptionResult, Error>) {
        let c: (@Sendable (Result<TranscriptionResult, Error>) -> Void)? = lock.withLock {
            defer { completion = nil }
            return completion
        }
        c?(result)
    }
}

extension TranscriptionScheduler {
    /// Submits `samples` and waits for the result. Cancelling the calling task cancels the job: the
    /// call returns at once with `TranscriberError.cancelled`, and the job never runs (queued) or
    /// stops at its next token (running).
    public func transcribe(samples: [Float], options: TranscriptionOptions, in reservation: Reservation,
                           onEvent: @escaping @Sendable (TranscriptionEvent) -> Void = { _ in })
        async throws -> TranscriptionResult {
        let box = JobBox()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let job = TranscriptionJob(samples: samples, options: options, onEvent: onEvent) {
                    continuation.resume(with: $0)
                }
                if box.set(job) {
                    job.complete(.failure(TranscriberError.cancelled))
                    release(reservation)
                } else {
                    submit(job, in: reservation)
                }
            }
        } onCancel: {
            if let job = box.cancel() {
                cancel(job)
                job.complete(.failure(TranscriberError.cancelled))
            }
        }
    }
}

/// Hands the job from the submitting closure to the cancellation handler, whichever runs first.
private final class JobBox: @unchecked Sendable {
    private let lock = NSLock()
    private var job: TranscriptionJob?
    private var cancelled = false

    /// Stores the job; true when cancellation came first (the job must not be submitted).
    func set(_ j: TranscriptionJob) -> Bool {
        lock.withLock {
            job = j
            return cancelled
        }
    }

    func cancel() -> TranscriptionJob? {
        lock.withLock {
            cancelled = true
            return job
        }
    }
}
