import CSndfile
import Foundation
import XCTest

/// `vibevoice-asr transcribe` end to end on the tiny reference checkpoints made with transformers
/// 5.23.0 (scripts/make_engine_fixtures.py): the generated ids must equal the reference's.
final class TranscribeCLITests: XCTestCase {
    static let engine = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/engine")

    struct Reference {
        let dir: URL
        let generated: [Int]
        let promptLength: Int
        let context: String?
        let tokenizerArgs: [String]
        var audio: URL { dir.appendingPathComponent("audio.wav") }
        var model: URL { dir.appendingPathComponent("model") }
    }

    func reference(_ name: String) throws -> Reference {
        let dir = Self.engine.appendingPathComponent(name)
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("meta.json"))) as! [String: Any]
        let ref = try Data(contentsOf: dir.appendingPathComponent("reference.safetensors"))
        let headerLength = Int(ref.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let header = try JSONSerialization.jsonObject(with: ref.subdata(in: 8..<(8 + headerLength))) as! [String: Any]
        func ids(_ key: String) -> [Int] {
            let info = header[key] as! [String: Any]
            let off = info["data_offsets"] as! [Int]
            return ref.subdata(in: (8 + headerLength + off[0])..<(8 + headerLength + off[1]))
                .withUnsafeBytes { $0.bindMemory(to: Int64.self).map { Int($0) } }
        }
        let separateTokenizer = FileManager.default.fileExists(atPath: dir.appendingPathComponent("tokenizer.json").path)
        return Reference(dir: dir, generated: ids("generated_ids"), promptLength: ids("input_ids").count,
                         context: meta["context"] as? String,
                         tokenizerArgs: separateTokenizer ? ["--tokenizer", dir.path] : [])
    }

    func transcribeIDs(_ r: Reference, audio: URL? = nil, extra: [String] = []) throws -> (tokens: [Int], prompt: Int) {
        var args = ["transcribe", (audio ?? r.audio).path, "--model", r.model.path, "--format", "verbose_json",
                    "--max-new-tokens", "\(r.generated.count)", "--quiet"] + r.tokenizerArgs + extra
        if let c = r.context { args += ["--context", c] }
        let run = try CLIRunner.run(args)
        XCTAssertEqual(run.status, 0, run.stderr)
        let json = try JSONSerialization.jsonObject(with: run.stdoutData) as? [String: Any] ?? [:]
        return ((json["tokens"] as? [Int]) ?? [], (json["prompt_tokens"] as? Int) ?? -1)
    }

    func testEveryReferenceCaseGivesTheReferenceGreedyIDs() throws {
        for name in ["hf_bf16_chunked", "original_sharded_context", "hf_inmemory_f32_long"] {
            let r = try reference(name)
            let (tokens, prompt) = try transcribeIDs(r)
            XCTAssertEqual(tokens, r.generated, name)
            XCTAssertEqual(prompt, r.promptLength, name)
        }
    }

    /// A FLAC holding the same 24 kHz samples (16-bit, so written from the WAV's int16 rendering
    /// to both) gives the same ids as the WAV.
    func testFLACAndWAVOfTheSameSamplesGiveIdenticalIDs() throws {
        let r = try reference("hf_bf16_chunked")
        let dir = try CLIRunner.makeTempDir(self)
        let samples = try readFloats(r.audio)
        let quantised = samples.map { (max(-1, min(1, $0)) * 32767).rounded() / 32768 }
        let wav = dir.appendingPathComponent("a.wav"), flac = dir.appendingPathComponent("a.flac")
        try write(quantised, to: wav, format: Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16))
        try write(quantised, to: flac, format: Int32(SF_FORMAT_FLAC | SF_FORMAT_PCM_16))
        let a = try transcribeIDs(r, audio: wav)
        let b = try transcribeIDs(r, audio: flac)
        XCTAssertEqual(a.tokens, b.tokens)
        XCTAssertEqual(a.tokens.count, r.generated.count)
    }

    func testSaveAudioWritesTheSignalTheEncodersSee() throws {
        let r = try reference("hf_bf16_chunked")
        let dir = try CLIRunner.makeTempDir(self)
        let saved = dir.appendingPathComponent("heard.wav")
        _ = try transcribeIDs(r, extra: ["--save-audio", saved.path])
        XCTAssertEqual(try readFloats(saved), try readFloats(r.audio), "24 kHz mono input passes through unchanged")
    }

    func testTwoInputsGiveOneFilePerInputAndFormat() throws {
        let r = try reference("hf_bf16_chunked")
        let dir = try CLIRunner.makeTempDir(self)
        let second = dir.appendingPathComponent("second.wav")
        try FileManager.default.copyItem(at: r.audio, to: second)
        let out = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let run = try CLIRunner.run(["transcribe", r.audio.path, second.path, "--model", r.model.path,
                                     "--output-dir", out.path, "--format", "json", "--format", "srt",
                                     "--format", "verbose_json", "--max-new-tokens", "8", "-q"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let names = try FileManager.default.contentsOfDirectory(atPath: out.path).sorted()
        XCTAssertEqual(names, ["audio.json", "audio.srt", "audio.verbose.json", "second.json", "second.srt", "second.verbose.json"])
    }

    func testCorruptAudioExitsOneAndWritesNothing() throws {
        let r = try reference("hf_bf16_chunked")
        let dir = try CLIRunner.makeTempDir(self)
        let bad = dir.appendingPathComponent("noise.mp3")
        try Data((0..<4096).map { _ in UInt8.random(in: 0...255) }).write(to: bad)
        let out = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let run = try CLIRunner.run(["transcribe", bad.path, "--model", r.model.path, "--output-dir", out.path, "-q"])
        XCTAssertEqual(run.status, 1)
        XCTAssertTrue(run.stderr.contains("noise.mp3"), run.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.path), [])
    }

    /// Bad audio is found before the model is resolved: no download is attempted for the
    /// default Hub model (the endpoint here is a closed port, which would give exit code 2).
    func testCorruptAudioFailsBeforeAnyModelDownload() throws {
        let dir = try CLIRunner.makeTempDir(self)
        let bad = dir.appendingPathComponent("notes.wav")
        try Data("this is text, not audio\n".utf8).write(to: bad)
        let run = try CLIRunner.run(["transcribe", bad.path, "-q"],
                                    environment: ["HF_ENDPOINT": "http://127.0.0.1:9", "HF_HOME": dir.path,
                                                  "HF_HUB_CACHE": dir.appendingPathComponent("hub").path])
        XCTAssertEqual(run.status, 1, run.stderr)
        XCTAssertTrue(run.stderr.contains("notes.wav"), run.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("hub").path))
    }

    func testMissingTokenizerAndMissingModelExitTwo() throws {
        let r = try reference("original_sharded_context")
        var run = try CLIRunner.run(["transcribe", r.audio.path, "--model", r.model.path, "-q"])
        XCTAssertEqual(run.status, 2)
        XCTAssertTrue(run.stderr.contains("--tokenizer"), run.stderr)
        run = try CLIRunner.run(["transcribe", r.audio.path, "--model", "/nonexistent/model-dir", "-q"])
        XCTAssertEqual(run.status, 2)
        XCTAssertTrue(run.stderr.contains("/nonexistent/model-dir"), run.stderr)
    }

    func testUsageErrorsExitOne() throws {
        let r = try reference("hf_bf16_chunked")
        for args in [["transcribe", r.audio.path, "--model", r.model.path, "--format", "docx"],
                     ["transcribe", r.audio.path, r.audio.path, "--model", r.model.path],
                     ["transcribe", "/nonexistent.wav", "--model", r.model.path],
                     ["transcribe", r.audio.path, "--model", r.model.path, "--max-new-tokens", "0"]] {
            let run = try CLIRunner.run(args + ["-q"])
            XCTAssertEqual(run.status, 1, "\(args): \(run.stderr)")
            XCTAssertFalse(run.stderr.isEmpty)
        }
    }

    // MARK: libsndfile helpers

    func readFloats(_ url: URL) throws -> [Float] {
        var info = SF_INFO()
        guard let f = sf_open(url.path, Int32(SFM_READ), &info) else { throw CocoaError(.fileReadCorruptFile) }
        defer { sf_close(f) }
        var out = [Float](repeating: 0, count: Int(info.frames) * Int(info.channels))
        _ = sf_readf_float(f, &out, info.frames)
        return out
    }

    func write(_ samples: [Float], to url: URL, format: Int32) throws {
        var info = SF_INFO(frames: 0, samplerate: 24000, channels: 1, format: format, sections: 0, seekable: 0)
        guard let f = sf_open(url.path, Int32(SFM_WRITE), &info) else { throw CocoaError(.fileWriteUnknown) }
        _ = sf_writef_float(f, samples, sf_count_t(samples.count))
        sf_close(f)
    }
}
