import XCTest
@testable import VibeVoiceASR

/// The pipeline's own logic: long-audio windows, the assistant header, segment offsets.
final class TranscriberTests: XCTestCase {
    func testWindowsCutAtTheQuietestFrameNearTheLimit() {
        // 10 s of tone with a silent 100 ms gap at 3.6 s; windows of at most 4 s.
        var samples = (0..<240_000).map { Float(sin(Double($0) * 0.05)) * 0.5 }
        for i in 86_400..<88_800 { samples[i] = 0 }
        let w = Transcriber.windowBounds(samples: samples, maxWindow: 96_000)
        XCTAssertEqual(w.first?.lowerBound, 0)
        XCTAssertEqual(w.last?.upperBound, samples.count)
        for (a, b) in zip(w, w.dropFirst()) { XCTAssertEqual(a.upperBound, b.lowerBound) }
        XCTAssertTrue(w.allSatisfy { $0.count <= 96_000 && !$0.isEmpty })
        XCTAssertEqual(w[0].upperBound, 87_600, "first cut in the middle of the silent frame")
        XCTAssertEqual(Transcriber.windowBounds(samples: [Float](repeating: 0, count: 1000), maxWindow: 96_000),
                       [0..<1000])
    }

    func testAssistantHeaderIsStripped() {
        XCTAssertEqual(Transcriber.stripAssistantHeader("assistant\n[{\"a\":1},"), "[{\"a\":1},")
        XCTAssertEqual(Transcriber.stripAssistantHeader("[{\"a\":1}"), "[{\"a\":1}")
        XCTAssertEqual(Transcriber.stripAssistantHeader(""), "")
    }

    /// Audio longer than the single-pass limit goes through the model window by window.
    func testLongAudioIsTranscribedInWindows() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/engine/hf_inmemory_f32_long")
        let transcriber = try Transcriber(modelDirectory: dir.appendingPathComponent("model"))
        let signal = try AudioLoader.load(contentsOf: dir.appendingPathComponent("audio.wav"))
        var options = TranscriptionOptions(maxNewTokens: 6)
        options.maxSinglePassSeconds = 2
        let windows = EventLog()
        let result = try transcriber.transcribe(samples: signal.samples, options: options) { event in
            if case let .window(index, count, _, _) = event { windows.append("\(index)/\(count)") }
        }
        let expected = Transcriber.windowBounds(samples: signal.samples, maxWindow: 48_000)
        XCTAssertEqual(result.windows, expected.count)
        XCTAssertGreaterThan(expected.count, 1)
        XCTAssertEqual(windows.items, (1...expected.count).map { "\($0)/\(expected.count)" })
        XCTAssertEqual(result.transcript.tokens?.count, 6 * expected.count)
        XCTAssertEqual(result.transcript.duration ?? 0, Double(signal.samples.count) / 24000, accuracy: 1e-9)
    }
}

final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var items: [String] = []
    func append(_ s: String) { lock.lock(); items.append(s); lock.unlock() }
}
