import Foundation
import VibeVoiceCompute
import XCTest
@testable import VibeVoiceModel

final class CheckpointTests: TemporaryDirectoryTestCase {
    // Small configs of both layouts describing the same model.
    private static let microDecoder = #""hidden_size": 8, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1, "intermediate_size": 12, "vocab_size": 20, "rope_theta": 10000.0"#
    private static let microHF = #"""
    {"model_type": "vibevoice_asr",
     "acoustic_tokenizer_encoder_config": {"hidden_size": 3, "num_filters": 2, "depths": [1, 1, 2], "downsampling_ratios": [2, 3]},
     "semantic_tokenizer_encoder_config": {"hidden_size": 5, "num_filters": 2, "depths": [0, 1, 1], "downsampling_ratios": [2, 3]},
     "text_config": {\#(microDecoder)}}
    """#
    private static let microOriginal = #"""
    {"model_type": "vibevoice", "acoustic_vae_dim": 3, "semantic_vae_dim": 5, "tie_word_embeddings": false,
     "acoustic_tokenizer_config": {"vae_dim": 3, "encoder_n_filters": 2, "encoder_depths": "1-1-2", "encoder_ratios": [3, 2], "fix_std": 0.5, "std_dist_type": "gaussian"},
     "semantic_tokenizer_config": {"vae_dim": 5, "encoder_n_filters": 2, "encoder_depths": "0-1-1", "encoder_ratios": [3, 2], "fix_std": 0, "std_dist_type": "none"},
     "decoder_config": {"model_type": "qwen2", \#(microDecoder)},
     "diffusion_head_config": {"hidden_size": 8, "latent_size": 3}}
    """#

    /// Deterministic values, exact in bf16 and f16: element j of tensor k.
    private static func value(_ k: Int, _ j: Int) -> Float { Float((k * 7 + j) % 13) - 6 }

    private func config(_ json: String) throws -> VibeVoiceConfig {
        try VibeVoiceConfig(jsonData: Data(json.utf8))
    }

    /// One test tensor per expected tensor of `config`, named by `spell`; norms in f32, the rest bf16.
    private func tensors(for config: VibeVoiceConfig,
                         spell: (String) -> String = { $0 }) -> [TestTensor] {
        CheckpointNames.expectedShapes(for: config).enumerated().map { k, entry in
            let values = (0..<entry.shape.reduce(1, *)).map { Self.value(k, $0) }
            let name = spell(entry.name)
            return entry.name.hasSuffix("norm.weight") ? .f32(name, entry.shape, values)
                                                       : .bf16(name, entry.shape, values)
        }
    }

    /// Writes `config.json` and the tensors, split into `shards` files (with an index when more than one).
    private func writeCheckpoint(_ dir: URL, configJSON: String, tensors: [TestTensor], shards: Int = 1,
                                 index: Bool = true) throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data(configJSON.utf8).write(to: dir.appendingPathComponent("config.json"))
        if shards == 1 {
            try SafetensorsTestWriter.file(tensors).write(to: dir.appendingPathComponent("model.safetensors"))
            return
        }
        var weightMap: [String: String] = [:]
        let per = (tensors.count + shards - 1) / shards
        for s in 0..<shards {
            let name = String(format: "model-%05d-of-%05d.safetensors", s + 1, shards)
            let part = Array(tensors[min(s * per, tensors.count)..<min((s + 1) * per, tensors.count)])
            try SafetensorsTestWriter.file(part).write(to: dir.appendingPathComponent(name))
            for t in part { weightMap[t.name] = name }
        }
        if index {
            let json = try JSONSerialization.data(withJSONObject: ["metadata": ["total_size": 1234],
                                                                   "weight_map": weightMap], options: [.sortedKeys])
            try json.write(to: dir.appendingPathComponent(Checkpoint.indexFileName))
        }
    }

    private func checkpointError(_ dir: URL, file: StaticString = #filePath, line: UInt = #line) -> CheckpointError? {
        do {
            _ = try Checkpoint(directory: dir)
            XCTFail("expected an error", file: file, line: line)
        } catch let error as CheckpointError {
            return error
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
        }
        return nil
    }

    // MARK: - Loading

    func testShardedTransformersCheckpointFromTinyFixtureConfig() throws {
        let configJSON = try String(contentsOf: ConfigFixtures.url("hf_tiny_config.json"), encoding: .utf8)
        let cfg = try config(configJSON)
        let written = tensors(for: cfg)
        try writeCheckpoint(tempDir, configJSON: configJSON, tensors: written, shards: 3)
        let ckpt = try Checkpoint(directory: tempDir)
        XCTAssertEqual(ckpt.config, cfg)
        XCTAssertEqual(ckpt.files.count, 3)
        XCTAssertEqual(ckpt.tensorNames, written.map(\.name).sorted())
        XCTAssertEqual(ckpt.tensorNames.count, 239)
        XCTAssertTrue(ckpt.ignoredTensorNames.isEmpty)
        try ckpt.validate()
        // Just written and read back whole: every page of the decoder's tensors is in the page cache.
        for f in try FileManager.default.contentsOfDirectory(at: tempDir, includingPropertiesForKeys: nil) {
            _ = try Data(contentsOf: f)
        }
        XCTAssertEqual(ckpt.cachedFraction(prefix: "language_model."), 1)
        XCTAssertEqual(ckpt.cachedFraction(prefix: "no such prefix."), 1)

        // Every tensor reads back exactly, in its stored dtype, from the shard the index names.
        for (k, (name, shape)) in CheckpointNames.expectedShapes(for: cfg).enumerated() {
            let t = try ckpt.tensor(name, shape: shape)
            XCTAssertEqual(t.dtype, name.hasSuffix("norm.weight") ? .f32 : .bf16, name)
            let n = min(t.count, 50)
            XCTAssertEqual((0..<n).map { t.element($0) }, (0..<n).map { Self.value(k, $0) }, name)
            XCTAssertEqual(t.element(t.count - 1), Self.value(k, t.count - 1), name)
        }
        XCTAssertThrowsError(try ckpt.tensor("language_model.lm_head.weight", shape: [32, 200])) { error in
            let path = tempDir.appendingPathComponent("model-00003-of-00003.safetensors").path
            XCTAssertEqual("\(error)", "weights file \(path): tensor 'language_model.lm_head.weight' has shape "
                               + "[200, 32], expected [32, 200]")
        }
        let loc = try XCTUnwrap(ckpt.location(of: "language_model.lm_head.weight"))
        XCTAssertEqual(loc.file.lastPathComponent, "model-00003-of-00003.safetensors")
        XCTAssertEqual(loc.storedName, "language_model.lm_head.weight")
        XCTAssertEqual(loc.shape, [200, 32])
        XCTAssertEqual(loc.dtype, .bf16)
        // Any spelling finds the tensor.
        XCTAssertTrue(ckpt.has("lm_head.weight"))
        XCTAssertTrue(ckpt.has("model.language_model.layers.1.mlp.up_proj.weight"))
        XCTAssertTrue(ckpt.has("model.acoustic_tokenizer.encoder.stages.1.1.mixer.conv.conv.conv.weight"))
        XCTAssertFalse(ckpt.has("model.acoustic_tokenizer.encoder.stages.2.1.mixer.conv.conv.conv.weight"))
        XCTAssertFalse(ckpt.has("language_model.model.layers.2.mlp.up_proj.weight"))
    }

    func testInMemorySpellingSingleFile() throws {
        let cfg = try config(Self.microHF)
        let written = tensors(for: cfg) { CheckpointNames.storedSpellings(of: $0)[1] }
        XCTAssertTrue(written.contains { $0.name == "lm_head.weight" })
        XCTAssertTrue(written.contains { $0.name == "model.acoustic_tokenizer_encoder.stem.stage.0.gamma" })
        try writeCheckpoint(tempDir, configJSON: Self.microHF, tensors: written)
        let ckpt = try Checkpoint(directory: tempDir)
        try ckpt.validate()
        XCTAssertEqual(ckpt.tensorNames, CheckpointNames.expectedShapes(for: cfg).map(\.name).sorted())
        let head = try ckpt.tensor("language_model.lm_head.weight", shape: [20, 8])
        XCTAssertEqual(ckpt.location(of: "language_model.lm_head.weight")?.storedName, "lm_head.weight")
        let k = CheckpointNames.expectedShapes(for: cfg).firstIndex { $0.name == "language_model.lm_head.weight" }!
        XCTAssertEqual(head.toFloatArray(), (0..<160).map { Self.value(k, $0) })
    }

    func testOriginalLayoutCheckpointIgnoresTheTTSParts() throws {
        let cfg = try config(Self.microOriginal)
        XCTAssertEqual(cfg.format, .original)
        XCTAssertEqual(cfg.acoustic.downsamplingRatios, [2, 3])
        XCTAssertEqual(cfg.acoustic.kernelSize, 7)
        var written = tensors(for: cfg) { CheckpointNames.storedSpellings(of: $0).last! }
        XCTAssertTrue(written.contains { $0.name == "model.acoustic_connector.fc1.weight" })
        XCTAssertTrue(written.contains { $0.name == "model.semantic_tokenizer.encoder.downsample_layers.0.0.conv.conv.weight" })
        XCTAssertTrue(written.contains { $0.name == "model.acoustic_tokenizer.encoder.stages.2.1.mixer.conv.conv.conv.bias" })
        XCTAssertTrue(written.contains { $0.name == "model.language_model.layers.1.self_attn.v_proj.bias" })
        let ignored = ["model.acoustic_tokenizer.decoder.head.conv.conv.weight",
                       "model.acoustic_tokenizer.decoder.stages.0.0.gamma",
                       "model.prediction_head.cond_proj.weight"]
        written += ignored.map { .bf16($0, [2], [1, 2]) }
        // Two shards without an index: every *.safetensors file is read.
        try writeCheckpoint(tempDir, configJSON: Self.microOriginal, tensors: written, shards: 2, index: false)
        let ckpt = try Checkpoint(directory: tempDir)
        XCTAssertEqual(ckpt.files.count, 2)
        try ckpt.validate()
        XCTAssertEqual(ckpt.ignoredTensorNames, ignored.sorted())
        XCTAssertEqual(ckpt.tensorNames.count, CheckpointNames.expectedShapes(for: cfg).count)
        XCTAssertEqual(ckpt.location(of: "acoustic_tokenizer_encoder.head.conv.weight")?.storedName,
                       "model.acoustic_tokenizer.encoder.head.conv.conv.weight")
        XCTAssertEqual(try ckpt.tensor("acoustic_tokenizer_encoder.conv_layers.1.conv.conv.weight").shape, [8, 4, 6])
    }

    func testTensorsOutliveTheCheckpointAndReadConcurrently() throws {
        let cfg = try config(Self.microHF)
        try writeCheckpoint(tempDir, configJSON: Self.microHF, tensors: tensors(for: cfg), shards: 2)
        var ckpt: Checkpoint? = try Checkpoint(directory: tempDir)
        let names = ckpt!.tensorNames
        let results = ConcurrentResults(count: names.count)
        let shared = ckpt!
        DispatchQueue.concurrentPerform(iterations: names.count) { i in
            results.set(i, (try? shared.tensor(names[i]).toFloatArray().reduce(0, +)) ?? .nan)
        }
        XCTAssertFalse(results.values.contains { $0.isNaN })
        let embed = try ckpt!.tensor("language_model.model.embed_tokens.weight")
        ckpt = nil
        let k = CheckpointNames.expectedShapes(for: cfg).firstIndex { $0.name == "language_model.model.embed_tokens.weight" }!
        XCTAssertEqual(embed.toFloatArray(), (0..<160).map { Self.value(k, $0) })
    }

    // MARK: - Errors

    func testShapeMismatchNamesFileTensorAndShapes() throws {
        let cfg = try config(Self.microOriginal)
        try writeCheckpoint(tempDir, configJSON: Self.microOriginal,
                            tensors: tensors(for: cfg) { CheckpointNames.storedSpellings(of: $0).last! })
        let ckpt = try Checkpoint(directory: tempDir)
        let file = tempDir.appendingPathComponent("model.safetensors").path
        XCTAssertThrowsError(try ckpt.tensor("multi_modal_projector.acoustic_linear_1.weight", shape: [8, 4])) { error in
            XCTAssertEqual(error as? CheckpointError, .shapeMismatch(
                file: file, tensor: "multi_modal_projector.acoustic_linear_1.weight", stored: "model.acoustic_connector.fc1.weight",
                expected: [8, 4], actual: [8, 3]))
            XCTAssertEqual("\(error)", "weights file \(file): tensor 'multi_modal_projector.acoustic_linear_1.weight' "
                               + "(stored as 'model.acoustic_connector.fc1.weight') has shape [8, 3], expected [8, 4]")
        }
        // A config that disagrees with the weights fails validation on the first differing tensor.
        let wider = Self.microOriginal.replacingOccurrences(of: "\"vocab_size\": 20", with: "\"vocab_size\": 21")
        try Data(wider.utf8).write(to: tempDir.appendingPathComponent("config.json"))
        let mismatched = try Checkpoint(directory: tempDir)
        XCTAssertThrowsError(try mismatched.validate()) { error in
            XCTAssertEqual(error as? CheckpointError, .shapeMismatch(
                file: file, tensor: "language_model.model.embed_tokens.weight", stored: "model.language_model.embed_tokens.weight",
                expected: [21, 8], actual: [20, 8]))
        }
    }

    func testMissingTensorNamesDirectoryAndSpellings() throws {
        let cfg = try config(Self.microHF)
        let written = tensors(for: cfg).filter { $0.name != "acoustic_tokenizer_encoder.conv_layers.1.stage.0.mixer.conv.bias" }
        try writeCheckpoint(tempDir, configJSON: Self.microHF, tensors: written, shards: 2)
        let ckpt = try Checkpoint(directory: tempDir)
        let expected = CheckpointError.missingTensor(
            directory: tempDir.path, name: "acoustic_tokenizer_encoder.conv_layers.1.stage.0.mixer.conv.bias",
            tried: ["acoustic_tokenizer_encoder.conv_layers.1.stage.0.mixer.conv.bias",
                    "model.acoustic_tokenizer_encoder.conv_layers.1.stage.0.mixer.conv.bias",
                    "model.acoustic_tokenizer.encoder.stages.2.0.mixer.conv.conv.conv.bias"])
        XCTAssertThrowsError(try ckpt.validate()) { XCTAssertEqual($0 as? CheckpointError, expected) }
        // Asking with another spelling reports the canonical name.
        XCTAssertThrowsError(try ckpt.tensor("model.acoustic_tokenizer.encoder.stages.2.0.mixer.conv.conv.conv.bias")) {
            XCTAssertEqual($0 as? CheckpointError, expected)
        }
        XCTAssertTrue(expected.description.contains(tempDir.path))
    }

    func testDuplicateTensorAcrossSpellings() throws {
        let cfg = try config(Self.microHF)
        var written = tensors(for: cfg)
        written.append(.f32("model.language_model.norm.weight", [8], [Float](repeating: 1, count: 8)))
        try writeCheckpoint(tempDir, configJSON: Self.microHF, tensors: written)
        guard case .duplicateTensor(let name, let first, let second)? = checkpointError(tempDir) else {
            return XCTFail("expected duplicateTensor")
        }
        XCTAssertEqual(name, "language_model.model.norm.weight")
        XCTAssertEqual(Set([first, second].map { $0.components(separatedBy: "' in ")[0] }),
                       ["'language_model.model.norm.weight", "'model.language_model.norm.weight"])
    }

    func testIndexReferencingAMissingShard() throws {
        let cfg = try config(Self.microHF)
        try writeCheckpoint(tempDir, configJSON: Self.microHF, tensors: tensors(for: cfg), shards: 3)
        try FileManager.default.removeItem(at: tempDir.appendingPathComponent("model-00002-of-00003.safetensors"))
        XCTAssertEqual(checkpointError(tempDir), .missingShard(
            index: tempDir.appendingPathComponent(Checkpoint.indexFileName).path, shard: "model-00002-of-00003.safetensors"))
    }

    func testIndexPlacingATensorInTheWrongShard() throws {
        let cfg = try config(Self.microHF)
        try writeCheckpoint(tempDir, configJSON: Self.microHF, tensors: tensors(for: cfg), shards: 2)
        let indexURL = tempDir.appendingPathComponent(Checkpoint.indexFileName)
        var index = try JSONSerialization.jsonObject(with: Data(contentsOf: indexURL)) as! [String: Any]
        var map = index["weight_map"] as! [String: String]
        map["language_model.lm_head.weight"] = "model-00001-of-00002.safetensors"
        map["language_model.model.extra"] = "model-00002-of-00002.safetensors"
        index["weight_map"] = map
        try JSONSerialization.data(withJSONObject: index).write(to: indexURL)
        XCTAssertEqual(checkpointError(tempDir), .indexMismatch(
            index: indexURL.path, tensor: "language_model.lm_head.weight", shard: "model-00001-of-00002.safetensors"))
    }

    func testMalformedIndex() throws {
        let cfg = try config(Self.microHF)
        try writeCheckpoint(tempDir, configJSON: Self.microHF, tensors: tensors(for: cfg), shards: 2)
        let indexURL = tempDir.appendingPathComponent(Checkpoint.indexFileName)
        let cases = [
            #"{"weight_map": {"a": "model-00001-of-00002.safetensors",}"#: "invalid JSON",
            // Fuzzing finding (FuzzShardIndex): an empty index leaked Foundation's read buffer.
            "": "invalid JSON",
            #"[]"#: "not an object",
            #"{"metadata": {}}"#: "'weight_map' is missing",
            #"{"weight_map": {}}"#: "'weight_map' is empty",
            #"{"weight_map": {"a": 3}}"#: "not a file name",
            #"{"weight_map": {"a": "../outside.safetensors"}}"#: "not a file name in the checkpoint directory",
            #"{"weight_map": {"a": "/etc/passwd"}}"#: "not a file name in the checkpoint directory",
        ]
        for (text, expected) in cases {
            try Data(text.utf8).write(to: indexURL)
            guard case .malformedIndex(let file, let detail)? = checkpointError(tempDir) else {
                return XCTFail("\(text) must be rejected as a malformed index")
            }
            XCTAssertEqual(file, indexURL.path)
            XCTAssertTrue(detail.contains(expected), "\(text): \(detail)")
        }
    }

    func testCorruptShardIsReportedWithItsPath() throws {
        let cfg = try config(Self.microHF)
        try writeCheckpoint(tempDir, configJSON: Self.microHF, tensors: tensors(for: cfg), shards: 2)
        let shard = tempDir.appendingPathComponent("model-00002-of-00002.safetensors")
        let data = try Data(contentsOf: shard)
        try data.prefix(data.count - 1).write(to: shard)
        guard case .truncated(let file, _)? = checkpointError(tempDir) else { return XCTFail("expected truncated") }
        XCTAssertEqual(file, shard.path)
    }

    func testDirectoryWithoutWeightsOrConfig() throws {
        try Data(Self.microHF.utf8).write(to: tempDir.appendingPathComponent("config.json"))
        XCTAssertEqual(checkpointError(tempDir), .noWeights(directory: tempDir.path))

        let noConfig = tempDir.appendingPathComponent("sub", isDirectory: true)
        try FileManager.default.createDirectory(at: noConfig, withIntermediateDirectories: true)
        XCTAssertThrowsError(try Checkpoint(directory: noConfig)) { error in
            guard case .unreadable(let file, _)? = error as? ConfigError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, noConfig.appendingPathComponent("config.json").path)
        }
        XCTAssertThrowsError(try Checkpoint(directory: tempDir.appendingPathComponent("absent"))) { error in
            XCTAssertTrue(error is ConfigError, "\(error)")
        }
    }
}

/// Collects per-index results from `concurrentPerform`.
private final class ConcurrentResults: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [Float]
    init(count: Int) { storage = [Float](repeating: .nan, count: count) }
    func set(_ i: Int, _ v: Float) { lock.lock(); storage[i] = v; lock.unlock() }
    var values: [Float] { lock.lock(); defer { lock.unlock() }; return storage }
}
