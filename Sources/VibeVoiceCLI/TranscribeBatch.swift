import ArgumentParser
import Foundation
import VibeVoiceASR

/// `transcribe --batch N` with several inputs: up to N decoded together through `Transcriber.transcribeBatch`.
extension TranscribeCommand {
    func runBatch(transcriber: Transcriber, options: TranscriptionOptions, formats: [OutputFormat],
                  display: ProgressDisplay, first: AudioSignal?, firstError: Error?) throws {
        let warnings = AudioWarnings()
        let progress = BatchProgress(display: display, inputs: inputs.count)
        var items: [BatchInput] = []
        for (i, input) in inputs.enumerated() {
            let streamer = SegmentStreamer(enabled: stream, label: input)
            let firstSignal = i == 0 ? first : nil
            let firstFailure = i == 0 ? firstError : nil
            let decode: @Sendable () throws -> [Float] = { [self] in
                if let firstFailure { throw firstFailure }
                let signal = try firstSignal ?? decodeAudio(input, display: display)
                warnings.set(i, signal.warnings)
                return signal.samples
            }
            items.append(BatchInput(options: options, onEvent: { event in
                progress.handle(event)
                if case let .segment(s) = event { streamer.emit(s) }
            }, load: decode))
        }
        var failures: [Error] = []
        transcriber.transcribeBatch(items, slots: batch) { i, outcome in
            progress.finished()
            do {
                try write(try outcome.get(), input: inputs[i], audioWarnings: warnings.get(i), formats: formats, display: display)
            } catch {
                let (_, message) = CLIErrorReport.describe(error)
                display.clear()
                let label = StandardInputAudio.label(inputs[i])
                let named = message.contains(label) ? message : "\(label): \(message)"
                FileHandle.standardError.write(Data("error: \(named)\n".utf8))
                failures.append(error)
            }
        }
        if let firstFailure = failures.first {
            throw ExitCode(CLIErrorReport.describe(firstFailure).0)
        }
    }
}

/// Audio warnings of each input, set when its audio is decoded (on the batch's thread).
final class AudioWarnings: @unchecked Sendable {
    private let lock = NSLock()
    private var byInput: [Int: [String]] = [:]
    func set(_ i: Int, _ w: [String]) { lock.withLock { byInput[i] = w } }
    func get(_ i: Int) -> [String] { lock.withLock { byInput[i] ?? [] } }
}

/// Progress of a batch: encode and prefill per input as usual; decoding as one line for the whole batch.
final class BatchProgress: @unchecked Sendable {
    private let display: ProgressDisplay
    private let inputs: Int
    private let lock = NSLock()
    private var tokens = 0
    private var done = 0
    private var start: Date?

    init(display: ProgressDisplay, inputs: Int) {
        self.display = display
        self.inputs = inputs
    }

    func handle(_ event: TranscriptionEvent) {
        switch event {
        case .token:
            let (n, d, t0): (Int, Int, Date) = lock.withLock {
                tokens += 1
                if start == nil { start = Date() }
                return (tokens, done, start!)
            }
            let rate = Double(n) / max(1e-9, Date().timeIntervalSince(t0))
            display.update(fraction: Double(d) / Double(max(1, inputs)),
                           detail: String(format: "decode (batch): %d/%d inputs done, %d tokens, %.2f tok/s", d, inputs, n, rate))
        case .stageStarted(.decode), .stageFinished(.decode, _):
            break
        default:
            display.handle(event)
        }
    }

    func finished() { lock.withLock { done += 1 } }
}
