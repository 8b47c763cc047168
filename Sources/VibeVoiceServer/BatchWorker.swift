import Foundation
import VibeVoiceASR

/// Decodes up to `slots` requests together on one dedicated thread (continuous batching): each decode step
/// streams the weights once for all running requests; a request that finishes or is cancelled frees its slot
/// at once and the next queued one takes it (its encoding and prefill run then, while the others wait).
/// Places = `slots` running + `maxQueue` waiting; memory is bounded by the slots (one KV cache each). Every
/// request gets exactly the transcript it would get alone.
public final class BatchWorker: TranscriptionScheduler, @unchecked Sendable {
    private let transcriber: Transcriber
    public let slots: Int
    public let maxQueue: Int
    private let condition = NSCondition()
    private var reserved: Set<UInt64> = []
    private var queue: [(TranscriptionJob, Reservation)] = []
    private var runningCount = 0
    private var closed = false
    private var nextID: UInt64 = 0
    private var idleWaiters: [CheckedContinuation<Void, Never>] = []

    public init(transcriber: Transcriber, slots: Int, maxQueue: Int) {
        self.transcriber = transcriber
        self.slots = max(1, slots)
        self.maxQueue = max(0, maxQueue)
        let thread = Thread { self.workLoop() }
        thread.name = "vibevoice-batch"
        thread.stackSize = 16 << 20
        thread.start()
    }

    public func reserve() -> Reservation? {
        condition.withLock {
            guard !closed, reserved.count + runningCount < slots + maxQueue else { return nil }
            nextID += 1
            reserved.insert(nextID)
            return Reservation(id: nextID)
        }
    }

    public func release(_ reservation: Reservation) {
        condition.withLock {
            reserved.remove(reservation.id)
            signalIfIdle()
            condition.broadcast()
        }
    }

    public func submit(_ job: TranscriptionJob, in reservation: Reservation) {
        condition.withLock {
            guard reserved.contains(reservation.id) else { return }
            queue.append((job, reservation))
            condition.broadcast()
        }
    }

    public func cancel(_ job: TranscriptionJob) {
        job.markCancelled()
        condition.withLock {
            if let i = queue.firstIndex(where: { $0.0 === job }) {
                reserved.remove(queue[i].1.id)
                queue.remove(at: i)
                signalIfIdle()
                condition.broadcast()
            }
        }
    }

    public var load: SchedulerLoad {
        condition.withLock {
            SchedulerLoad(waiting: reserved.count, queued: queue.count, running: runningCount, capacity: slots + maxQueue)
        }
    }

    public func close() {
        condition.withLock {
            closed = true
            condition.broadcast()
        }
    }

    public func waitUntilIdle() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            condition.withLock {
                if reserved.isEmpty && runningCount == 0 { c.resume() } else { idleWaiters.append(c) }
            }
        }
    }

    /// Call with the lock held.
    private func signalIfIdle() {
        guard reserved.isEmpty, runningCount == 0 else { return }
        let waiters = idleWaiters
        idleWaiters = []
        for w in waiters { w.resume() }
    }

    private func workLoop() {
        var running: [(job: TranscriptionJob, sequence: TranscriptionSequence)] = []
        while true {
            // Admit queued jobs into free slots (or wait when there is nothing to do).
            condition.lock()
            while running.isEmpty && queue.isEmpty && !(closed && reserved.isEmpty) { condition.wait() }
            if running.isEmpty && queue.isEmpty {     // closed and nothing left: the thread ends
                condition.unlock()
                return
            }
            var admitted: [TranscriptionJob] = []
            while running.count + admitted.count < slots, !queue.isEmpty {
                let (job, reservation) = queue.removeFirst()
                reserved.remove(reservation.id)
                admitted.append(job)
            }
            runningCount += admitted.count
            condition.unlock()

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
        condition.withLock {
            runningCount -= 1
            signalIfIdle()
            condition.broadcast()
        }
    }
}
