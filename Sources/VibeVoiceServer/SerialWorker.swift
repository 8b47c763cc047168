import Foundation
import VibeVoiceASR

/// Runs one job at a time on a dedicated thread (model work is long and blocking, so it stays off
/// the Swift concurrency pool and the event loops), with a bounded queue in front of it.
/// Places = 1 running + `maxQueue` waiting; when all are taken, `reserve()` says no at once.
public final class SerialWorker: TranscriptionScheduler, @unchecked Sendable {
    private let run: @Sendable (TranscriptionJob) -> Result<TranscriptionResult, Error>
    private let places: SchedulerPlaces
    public var maxQueue: Int { places.maxQueue }

    /// Runs jobs through `transcriber`.
    public convenience init(transcriber: Transcriber, maxQueue: Int) {
        self.init(maxQueue: maxQueue) { job in
            var options = job.options
            let outer = options.isCancelled
            options.isCancelled = { job.isCancelled || outer?() == true }
            return Result { try transcriber.transcribe(samples: job.samples, options: options, onEvent: job.onEvent) }
        }
    }

    /// Runs jobs through `run` (tests use a scripted engine here).
    public init(maxQueue: Int, run: @escaping @Sendable (TranscriptionJob) -> Result<TranscriptionResult, Error>) {
        self.places = SchedulerPlaces(running: 1, maxQueue: maxQueue)
        self.run = run
        let thread = Thread { self.workLoop() }   // the thread keeps the worker alive until closed and idle
        thread.name = "vibevoice-worker"
        thread.stackSize = 16 << 20
        thread.start()
    }

    public func reserve() -> Reservation? { places.reserve() }
    public func release(_ reservation: Reservation) { places.release(reservation) }
    public func submit(_ job: TranscriptionJob, in reservation: Reservation) { places.submit(job, in: reservation) }
    public func cancel(_ job: TranscriptionJob) { places.cancel(job) }
    public var load: SchedulerLoad { places.load }
    public func close() { places.close() }
    public func waitUntilIdle() async { await places.waitUntilIdle() }

    private func workLoop() {
        while let admitted = places.admit(upTo: 1, wait: true) {
            for job in admitted {
                job.complete(job.isCancelled ? .failure(TranscriberError.cancelled) : run(job))
                places.finished()
            }
        }
    }
}
