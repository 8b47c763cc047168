import Foundation

/// The places of a scheduler and their bookkeeping, shared by `SerialWorker` and `BatchWorker`: `running` places
/// that decode and `maxQueue` that wait. A request first reserves a place (refused at once when all are taken),
/// then submits its job into it; the worker's thread admits queued jobs into free running places and reports each
/// one finished. Reservations not yet submitted count as taken, so an upload being read cannot be overtaken by a
/// later request. `waitUntilIdle` resumes when nothing is reserved, queued or running. Safe from any thread.
final class SchedulerPlaces: @unchecked Sendable {
    let running: Int
    let maxQueue: Int
    private let condition = NSCondition()
    private var reserved: Set<UInt64> = []
    private var queue: [(TranscriptionJob, Reservation)] = []
    private var runningCount = 0
    private var closed = false
    private var nextID: UInt64 = 0
    private var idleWaiters: [CheckedContinuation<Void, Never>] = []

    init(running: Int, maxQueue: Int) {
        self.running = max(1, running)
        self.maxQueue = max(0, maxQueue)
    }

    func reserve() -> Reservation? {
        condition.withLock {
            guard !closed, reserved.count + runningCount < running + maxQueue else { return nil }
            nextID += 1
            reserved.insert(nextID)
            return Reservation(id: nextID)
        }
    }

    func release(_ reservation: Reservation) {
        condition.withLock {
            reserved.remove(reservation.id)
            signalIfIdle()
            condition.broadcast()
        }
    }

    func submit(_ job: TranscriptionJob, in reservation: Reservation) {
        condition.withLock {
            guard reserved.contains(reservation.id) else { return }
            queue.append((job, reservation))
            condition.broadcast()
        }
    }

    /// Marks the job cancelled; a queued job also leaves the queue (a running one stops at its next check).
    func cancel(_ job: TranscriptionJob) {
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

    var load: SchedulerLoad {
        condition.withLock {
            SchedulerLoad(waiting: reserved.count, queued: queue.count, running: runningCount,
                          capacity: running + maxQueue)
        }
    }

    func close() {
        condition.withLock {
            closed = true
            condition.broadcast()
        }
    }

    func waitUntilIdle() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            condition.withLock {
                if reserved.isEmpty && runningCount == 0 { c.resume() } else { idleWaiters.append(c) }
            }
        }
    }

    /// For the worker's thread: takes up to `limit` queued jobs and counts them running. With `wait`, blocks until
    /// there is one, and returns nil once the scheduler is closed with nothing reserved or queued (the thread
    /// ends then); without, returns at once, possibly with none.
    func admit(upTo limit: Int, wait: Bool) -> [TranscriptionJob]? {
        condition.lock()
        defer { condition.unlock() }
        if wait {
            while queue.isEmpty && !(closed && reserved.isEmpty) { condition.wait() }
            if queue.isEmpty { return nil }
        }
        var admitted: [TranscriptionJob] = []
        while admitted.count < limit, !queue.isEmpty {
            let (job, reservation) = queue.removeFirst()
            reserved.remove(reservation.id)
            admitted.append(job)
        }
        runningCount += admitted.count
        return admitted
    }

    /// For the worker's thread: a job it admitted has completed.
    func finished() {
        condition.withLock {
            runningCount -= 1
            signalIfIdle()
            condition.broadcast()
        }
    }

    /// Call with the lock held.
    private func signalIfIdle() {
        guard reserved.isEmpty, runningCount == 0 else { return }
        let waiters = idleWaiters
        idleWaiters = []
        for w in waiters { w.resume() }
    }
}
