import Foundation
import XCTest

/// `transcribe --batch N` and `--no-speculative` through the binary: the files written equal the unbatched run's.
final class BatchCLITests: XCTestCase {
    func testBatchedAndPlainRunsWriteTheSameTranscripts() throws {
        let engine = TranscribeCLITests.engine
        let model = engine.appendingPathComponent("hf_bf16_chunked/model").path
        // Three clips under distinct names (the fixtures all call theirs audio.wav).
        let inputs = try CLIRunner.makeTempDir(self)
        var audio: [String] = []
        for name in ["hf_bf16_chunked", "original_sharded_context", "hf_inmemory_f32_long"] {
            let dst = inputs.appendingPathComponent("\(name).wav")
            try FileManager.default.copyItem(at: engine.appendingPathComponent("\(name)/audio.wav"), to: dst)
            audio.append(dst.path)
        }
        var outputs: [[String: Data]] = []
        for extra in [["--batch", "1"], ["--batch", "3"], ["--batch", "2", "--no-speculative"]] {
            let dir = try CLIRunner.makeTempDir(self)
            let run = try CLIRunner.run(["transcribe"] + audio + ["--model", model, "--output-dir", dir.path, "-f", "verbose_json",
                                                                  "--max-new-tokens", "30", "--quiet"] + extra)
            XCTAssertEqual(run.status, 0, run.stderr)
            var files: [String: Data] = [:]
            for name in try FileManager.default.contentsOfDirectory(atPath: dir.path) {
                files[name] = try Data(contentsOf: dir.appendingPathComponent(name))
            }
            XCTAssertEqual(files.count, 3, "\(extra)")
            outputs.append(files)
        }
        XCTAssertEqual(outputs[1], outputs[0], "--batch 3")
        XCTAssertEqual(outputs[2], outputs[0], "--batch 2 --no-speculative")
        let bad = try CLIRunner.run(["transcribe", audio[0], "--model", model, "--batch", "0"])
        XCTAssertEqual(bad.status, 1)
    }
}
