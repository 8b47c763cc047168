import Foundation
import VibeVoiceASR
import VibeVoiceHub
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Stage progress on standard error: a redrawn line with a bar, rate, elapsed time and ETA when
/// stderr is a terminal; nothing otherwise (unless verbose, which prints one line per stage).
final class ProgressDisplay: @unchecked Sendable {
    let interactive: Bool
    let verbose: Bool
    /// Notes (windows, loop recoveries) go to stderr unless quiet, terminal or not.
    let notes: Bool
    private let lock = NSLock()
    private var stageStart = Date()
    private var lastDraw = Date.distantPast
    private var label = ""
    private var lineShown = false
    /// What the deferred decoder build is called: it quantises with `--weights`, else it makes the in-memory
    /// decode layout of a stored checkpoint (set once, before the first transcription).
    var decoderStageName = "quantise decoder"

    init(quiet: Bool, verbose: Bool) {
        self.interactive = !quiet && isatty(STDERR_FILENO) == 1
        self.verbose = verbose && !quiet
        self.notes = !quiet
    }

    static func write(_ s: String) {
        FileHandle.standardError.write(Data(s.utf8))
    }

    /// Removes the progress line (before other output on stderr).
    func clear() {
        lock.lock(); defer { lock.unlock() }
        clearLine()
    }

    func message(_ text: String) {
        lock.lock(); defer { lock.unlock() }
        clearLine()
        if notes { Self.write(text + "\n") }
    }

    /// A warning is no progress report: it is written under --quiet too.
    func warning(_ text: String) {
        lock.lock(); defer { lock.unlock() }
        clearLine()
        Self.write("warning: " + text + "\n")
    }

    func handle(_ event: TranscriptionEvent) {
        lock.lock(); defer { lock.unlock() }
        switch event {
        case let .stageStarted(stage):
            stageStart = Date()
            label = name(of: stage)
            draw(fraction: nil, detail: "", force: true)
        case let .encoding(done, total):
            draw(fraction: Double(done) / Double(max(1, total)),
                 detail: String(format: "%.1f/%.1f s of audio", Double(done) / 24000, Double(total) / 24000))
        case let .prefill(done, total):
            let rate = Double(done) / max(1e-9, Date().timeIntervalSince(stageStart))
            draw(fraction: Double(done) / Double(max(1, total)),
                 detail: String(format: "%d/%d tokens, %.1f tok/s", done, total, rate))
        case let .token(_, generated, budget):
            let rate = Double(generated) / max(1e-9, Date().timeIntervalSince(stageStart))
            draw(fraction: Double(generated) / Double(max(1, budget)),
                 detail: String(format: "%d tokens (budget %d), %.2f tok/s", generated, budget, rate))
        case .segment:
            break
        case let .loopRecovered(attempt, kept):
            clearLine()
            if notes {
                Self.write("repetition loop detected: resumed after \(kept) complete segment(s) (recovery \(attempt))\n")
            }
        case let .window(index, count, start, end):
            clearLine()
            if notes {
                Self.write(String(format: "window %d/%d: %@ to %@ (speaker ids restart in each window)\n",
                                  index, count, Self.clock(start), Self.clock(end)))
            }
        case let .stageFinished(stage, seconds):
            clearLine()
            if verbose { Self.write(String(format: "%@: %.2f s\n", name(of: stage), seconds)) }
        }
    }

    /// Starts a named stage of some other job (quantising, loading) with its own bar.
    func begin(_ name: String) {
        lock.lock(); defer { lock.unlock() }
        stageStart = Date()
        label = name
        draw(fraction: nil, detail: "", force: true)
    }

    /// Progress of the stage `begin` started.
    func update(fraction: Double, detail: String) {
        lock.lock(); defer { lock.unlock() }
        draw(fraction: fraction, detail: detail)
    }

    /// Model download progress: bytes, rate and ETA per file.
    func download(_ event: HubProgress) {
        lock.lock(); defer { lock.unlock() }
        switch event {
        case let .resolving(repo):
            stageStart = Date()
            label = "download"
            draw(fraction: nil, detail: "resolving \(repo)", force: true)
        case let .file(name, index, count, _):
            stageStart = Date()
            label = "download \(index)/\(count) \(name)"
            draw(fraction: 0, detail: "", force: true)
        case let .bytes(_, done, total, rate):
            let mb = 1_048_576.0
            var detail = String(format: "%.1f", Double(done) / mb)
            if let total { detail += String(format: "/%.1f", Double(total) / mb) }
            detail += String(format: " MB, %.1f MB/s", rate / mb)
            var fraction: Double? = nil
            if let total, total > 0 {
                fraction = Double(done) / Double(total)
                if rate > 0 { detail += ", ETA " + Self.clock(Double(total - done) / rate) }
            }
            draw(fraction: fraction, detail: detail, noETA: true)
        case .cached:
            break
        case let .usingCache(reason):
            clearLine()
            if interactive || verbose { Self.write("note: \(reason); using the cached copy\n") }
        case let .done(url):
            clearLine()
            if verbose { Self.write("model: \(url.path)\n") }
        }
    }

    private func name(of stage: TranscriptionStage) -> String {
        switch stage {
        case .audio: return "audio"
        case .encode: return "encode"
        case .quantize: return decoderStageName
        case .prefill: return "prefill"
        case .decode: return "decode"
        }
    }

    private func clearLine() {
        if interactive && lineShown {
            Self.write("\r\u{1B}[2K")
            lineShown = false
        }
    }

    private func draw(fraction: Double?, detail: String, force: Bool = false, noETA: Bool = false) {
        guard interactive else { return }
        let now = Date()
        guard force || now.timeIntervalSince(lastDraw) >= 0.1 else { return }
        lastDraw = now
        let elapsed = now.timeIntervalSince(stageStart)
        var bar = ""
        var eta = ""
        if let f = fraction {
            let clamped = min(1, max(0, f))
            let width = 24
            let filled = Int(clamped * Double(width))
            bar = "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] "
            if clamped > 0.001 && !noETA {
                eta = String(format: ", ETA %@", Self.clock(elapsed / clamped - elapsed))
            }
        }
        Self.write("\r\u{1B}[2K\(label) \(bar)\(detail) \(Self.clock(elapsed)) elapsed\(eta)")
        lineShown = true
    }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60)
                         : String(format: "%d:%02d", s / 60, s % 60)
    }
}
