import Foundation
import XCTest

/// `quantize`, `--weights` and `fidelity` through the binary on the tiny reference checkpoints.
final class QuantizeCLITests: XCTestCase {
    static let engine = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/engine")
    let model = QuantizeCLITests.engine.appendingPathComponent("hf_bf16_chunked/model")
    let audio = QuantizeCLITests.engine.appendingPathComponent("hf_bf16_chunked/audio.wav")

    private func transcribe(_ model: URL, _ extra: [String] = ["--quiet"]) throws -> CLIRunner.Result {
        try CLIRunner.run(["transcribe", audio.path, "--model", model.path, "--format", "verbose_json",
                           "--max-new-tokens", "24"] + extra)
    }

    func testAQuantisedCopyTranscribesLikeQuantiseOnLoad() throws {
        let dir = try CLIRunner.makeTempDir(self)
        for format in ["q8_0", "q4_0"] {
            let out = dir.appendingPathComponent(format)
            let q = try CLIRunner.run(["quantize", "--model", model.path, "--to", format, "--output", out.path])
            XCTAssertEqual(q.status, 0, q.stderr)
            XCTAssertTrue(q.stderr.contains("wrote \(out.path)"), q.stderr)

            let fromCopy = try transcribe(out)
            XCTAssertEqual(fromCopy.status, 0, fromCopy.stderr)
            let json = try JSONSerialization.jsonObject(with: fromCopy.stdoutData) as! [String: Any]
            XCTAssertEqual((json["tokens"] as? [Int])?.count, 24)
            XCTAssertNotNil(json["segments"] as? [Any], "a parsed transcript")
            let onLoad = try transcribe(model, ["--weights", format, "--verbose"])
            XCTAssertEqual(onLoad.status, 0, onLoad.stderr)
            // The decoder is quantised after the encoding (so it is not resident while the encoders run), and says so.
            XCTAssertTrue(onLoad.stderr.contains("decoder to be quantised to \(format) after the first encoding"), onLoad.stderr)
            let encode = try XCTUnwrap(onLoad.stderr.range(of: "\nencode: "), onLoad.stderr)
            let quantise = try XCTUnwrap(onLoad.stderr.range(of: "\nquantise decoder: "), onLoad.stderr)
            let prefill = try XCTUnwrap(onLoad.stderr.range(of: "\nprefill: "), onLoad.stderr)
            XCTAssertTrue(encode.lowerBound < quantise.lowerBound && quantise.lowerBound < prefill.lowerBound, onLoad.stderr)
            XCTAssertEqual(try JSONSerialization.jsonObject(with: onLoad.stdoutData) as? NSDictionary, json as NSDictionary)
        }
        // The output is never replaced, and bad flags are usage errors.
        let again = try CLIRunner.run(["quantize", "--model", model.path, "--to", "q8_0", "--output", dir.appendingPathComponent("q8_0").path])
        XCTAssertEqual(again.status, 1)
        XCTAssertTrue(again.stderr.contains("already exists"), again.stderr)
        let bad = try CLIRunner.run(["quantize", "--model", model.path, "--to", "q3_k", "--output", dir.appendingPathComponent("x").path])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("q8_0, q4_0"), bad.stderr)
        XCTAssertEqual(try transcribe(model, ["--weights", "int4"]).status, 1)
    }

    func testACorruptedQuantisedCheckpointExitsWithCode2() throws {
        let dir = try CLIRunner.makeTempDir(self)
        let out = dir.appendingPathComponent("q")
        XCTAssertEqual(try CLIRunner.run(["quantize", "-m", model.path, "--to", "q8_0", "-o", out.path, "-q"]).status, 0)
        // Scales of one tensor declared with another shape in config.json.
        let config = out.appendingPathComponent("config.json")
        let text = try String(contentsOf: config, encoding: .utf8)
        let broken = text.replacingOccurrences(of: "\"language_model.model.layers.0.mlp.up_proj.weight\":{\"format\":\"q8_0\",\"shape\":[128,64]}",
                                               with: "\"language_model.model.layers.0.mlp.up_proj.weight\":{\"format\":\"q8_0\",\"shape\":[128,96]}")
        XCTAssertNotEqual(broken, text)
        try broken.write(to: config, atomically: true, encoding: .utf8)
        let run = try transcribe(out)
        XCTAssertEqual(run.status, 2, run.stderr)
        XCTAssertTrue(run.stderr.contains("language_model.model.layers.0.mlp.up_proj.weight"), run.stderr)
        XCTAssertTrue(run.stderr.contains("model-00001-of-00001.safetensors"), run.stderr)
        XCTAssertEqual(run.stdout, "", "no transcript")
    }

    func testFidelityReportsEveryFormat() throws {
        let run = try CLIRunner.run(["fidelity", "--model", model.path, "--audio", audio.path, "--tokens", "8", "--json"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let json = try JSONSerialization.jsonObject(with: run.stdoutData) as! [String: Any]
        let results = json["results"] as! [[String: Any]]
        XCTAssertEqual(results.map { $0["weights"] as? String }, ["q8_0", "q4_0"])
        let kl = results.map { $0["mean_kl"] as! Double }
        // Measured on this fixture: q8_0 2.7e-4, q4_0 5.8e-2 (a 64-wide random model is far more sensitive than the
        // 7B one). The bounds allow ~4x; q8_0 must stay far more faithful than q4_0.
        XCTAssertLessThan(kl[0], 1e-3)
        XCTAssertLessThan(kl[1], 0.25)
        XCTAssertLessThan(kl[0] * 20, kl[1])
        XCTAssertGreaterThan(results[0]["top1_agreement"] as! Double, 0.9)
    }
}
