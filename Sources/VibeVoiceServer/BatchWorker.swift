import Foundation
import VibeVoiceASR

/// Decodes up to `slots` requests together on one dedicated thread (continuous batching): each decode step
/// streams the weights once for all running requests; a request that finishes or is cancelled frees its slot
/// at once and the next queued one takes it (its encoding and prefill run then, while the others wait).
/// Places = `slots` running + `maxQueue` waiting; memory is bounded by the slots (one KV cache each). Every
/// request gets exactly the transcript it would get alone.
public final class BatchWorker: TranscriptionScheduler, @unchecked Sendable {
    private let transcriber: Transcriber
    private let places: SchedulerPlaces
    public var slots: Int { places.running }
    public var maxQueue: Int { places.maxQueue }

    public init(transcriber: Transcriber, slots: Int, maxQueue: Int) {
        self.transcriber = transcriber
        self.places = SchedulerPlaces(running: slots, maxQueue: maxQueue)
        let thread = Thread { self.workLoop() }
        thread.name = "vibevoice-batch"
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
        var running: [(job: TranscriptionJob, sequence: TranscriptionSequence)] = []
        // Admit queued jobs into free slots; wait only when nothing runs (nil: closed and drained, the thread ends).
        while let admitted = places.admit(upTo: slots - running.count, wait: running.isEmpty) {
            for job in admitted {
                if job.isCancelled {
                    finish(job, .failure(TranscriberError.cancelled))
                    continue
                }
                var options = job.options
                let outer = options.isCancelled
                options.isCancelled = { job.isCancelled || outer?() == true }
                do {
                    let s = try TranscriptionSequence(transcriber: transcriber, samples: job.samples, options: options,
                                                      onEvent: job.onEvent)
                    if let r = s.result { finish(job, .success(r)) } else { running.append((job, s)) }
                } catch {
                    finish(job, .failure(error))
                }
            }
            guard !running.isEmpty else { continue }
            transcriber.step(running.map(\.sequence))
            running = running.filter { entry in
                if let r = entry.sequence.result { finish(entry.job, .success(r)); return false }
                if let e = entry.sequence.error { finish(entry.job, .failure(e)); return false }
                return true
            }
        }
    }

    private func finish(_ job: TranscriptionJob, _ result: Result<TranscriptionResult, Error>) {
        job.complete(result)
        places.finished()
    }
}
