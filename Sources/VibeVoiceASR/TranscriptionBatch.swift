import Foundation
import VibeVoiceModel

/// A request being transcribed step by step alongside others (batched decoding). Creating one encodes and
/// prefills its first window; `Transcriber.step` then advances several together, each decode step streaming
/// every weight once for all of them. Each request's result is identical to its own `transcribe` run: the
/// rows of a shared step get the bits one-row steps would give them.
public final class TranscriptionSequence: @unchecked Sendable {
    // @unchecked: a sequence is created, stepped and read by the one thread that drives it.
    let job: InputJob
    /// Set once the request is done.
    public private(set) var result: TranscriptionResult?
    /// Set when the request failed (or was cancelled) after it started.
    public private(set) var error: Error?

    /// Starts a request: encodes and prefills its first window (this blocks; other sequences wait).
    public init(transcriber: Transcriber, samples: [Float], options: TranscriptionOptions = .init(),
                onEvent: @escaping @Sendable (TranscriptionEvent) -> Void = { _ in }) throws {
        job = try InputJob(transcriber: transcriber, samples: samples, options: options, onEvent: onEvent)
        result = job.result
    }

    public var isFinished: Bool { result != nil || error != nil }

    func advance() {
        guard !isFinished else { return }
        do {
            try job.advance()
            result = job.result
        } catch {
            self.error = error
        }
    }
}

/// One input of `Transcriber.transcribeBatch`: its samples are loaded when its turn comes (so memory holds only
/// the inputs being decoded), with its own options and events.
public struct BatchInput: Sendable {
    public var load: @Sendable () throws -> [Float]
    public var options: TranscriptionOptions
    public var onEvent: @Sendable (TranscriptionEvent) -> Void

    public init(options: TranscriptionOptions = .init(), onEvent: @escaping @Sendable (TranscriptionEvent) -> Void = { _ in },
                load: @escaping @Sendable () throws -> [Float]) {
        self.load = load
        self.options = options
        self.onEvent = onEvent
    }
}

extension Transcriber {
    /// One decode step for every unfinished sequence together, then each one's bookkeeping (a finished window
    /// starts the next one; a repetition loop resumes; a finished request gets its result).
    public func step(_ sequences: [TranscriptionSequence]) {
        let live = sequences.filter { !$0.isFinished }
        BatchDecoder(decoder: model.decoder).step(live.compactMap { $0.job.stream })
        for s in live { s.advance() }
    }

    /// Transcribes `inputs`, decoding up to `slots` of them together (continuous batching: when one finishes,
    /// the next input takes its slot; encoding and prefill run per input). `completion(i, result)` is called
    /// once per input, in the order they finish. Every input's result is identical to its own `transcribe`.
    public func transcribeBatch(_ inputs: [BatchInput], slots: Int,
                                completion: (Int, Result<TranscriptionResult, Error>) -> Void) {
        var active: [(index: Int, sequence: TranscriptionSequence)] = []
        var next = 0
        while true {
            while active.count < max(1, slots) && next < inputs.count {
                let i = next
                next += 1
                do {
                    let s = try TranscriptionSequence(transcriber: self, samples: try inputs[i].load(),
                                                      options: inputs[i].options, onEvent: inputs[i].onEvent)
                    if let r = s.result { completion(i, .success(r)) } else { active.append((i, s)) }
                } catch {
                    completion(i, .failure(error))
                }
            }
            if active.isEmpty { return }
            step(active.map(\.sequence))
            active = active.filter { entry in
                if let r = entry.sequence.result { completion(entry.index, .success(r)); return false }
                if let e = entry.sequence.error { completion(entry.index, .failure(e)); return false }
                return true
            }
        }
    }
}
