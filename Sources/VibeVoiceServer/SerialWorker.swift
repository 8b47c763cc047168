import Foundation
import VibeVoiceASR

/// Runs one job at a time on a dedicated thread (model work is long and blocking, so it stays off
/// the Swift concurrency pool and the event loops), with a bounded queue in front of it.
/// Places = 1 running + `maxQueue` waiting; when all are taken, `reserve()` says no at once.
public final class SerialWorker: TranscriptionScheduler, @unchecked Sendable {
    private let run: @Sendable (TranscriptionJob) -> Result<TranscriptionResult, Error>
    public let maxQueue: Int
    private let condition = NSCondition()
    private var reserved: Set<UInt64> = []
    private var queue: [(TranscriptionJob, Reservation)] = []
    private var running: TranscriptionJob?
    private var closed = false
    private var nextID: UInt64 = 0
    private var idleWaiters: [CheckedContinuation<Void, Never>] = []

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
        self.maxQueue = max(0, maxQueue)
        self.run = run
        let thread = Thread { self.workLoop() }   // the thread keeps the worker alive until closed and idle
        thread.name = "vibevoice-worker"
        thread.stackSize = 16 << 20
        thread.start()
    }

    public func reserve() -> Reservation? {
        condition.withLock {
            guard !closed, reserved.count + (running == nil ? 0 : 1) < 1 + maxQueue else { return nil }
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
            SchedulerLoad(waiting: reserved.count, queued: queue.count, running: running == nil ? 0 : 1, capacity: 1 + maxQueue)
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
                if reserved.isEmpty && running == nil { c.resume() } else { idleWaiters.append(c) }
            }
        }
    }

    /// Call with the lock held.
    private func signalIfIdle() {
        guard reserved.isEmpty, running == nil else { return }
        let waiters = idleWaiters
        idleWaiters = []
        for w in waiters { w.resume() }
    }

    private func workLoop() {
        while true {
            condition.lock()
            while queue.isEmpty && !(closed && reserved.isEmpty) { condition.wait() }
            if queue.isEmpty {          // closed and nothing left: the thread ends
                condition.unlock()
                return
            }
            let (job, reservation) = queue.removeFirst()
            reserved.remove(reservation.id)
            running = job
            condition.unlock()

            let result: Result<TranscriptionResult, Error> =
                job.isCancelled ? .failure(TranscriberError.cancelled) : run(job)
            job.complete(result)

            condition.withLock {
                running = nil
                signalIfIdle()
            }
        }
    }
}
