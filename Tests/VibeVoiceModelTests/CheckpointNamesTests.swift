import Foundation
import XCTest
@testable import VibeVoiceModel

final class CheckpointNamesTests: XCTestCase {
    private func shapeDictionary(_ list: [(name: String, shape: [Int])]) -> [String: [Int]] {
        Dictionary(list.map { ($0.name, $0.shape) }, uniquingKeysWith: { a, _ in a })
    }

    /// Names and shapes written by transformers 5.23.0 for a tiny model: the Hub-file name (save_pretrained),
    /// the in-memory name, and the shape of every parameter.
    func testTinyModelFileAndMemoryNamesFromTransformers() throws {
        let rows = try JSONSerialization.jsonObject(with: ConfigFixtures.data("hf_tiny_tensors.json")) as! [[String: Any]]
        let config = try VibeVoiceConfig.load(from: ConfigFixtures.url("hf_tiny_config.json"))
        let expected = CheckpointNames.expectedShapes(for: config)
        XCTAssertEqual(expected.count, rows.count)
        XCTAssertEqual(Set(expected.map(\.name)).count, expected.count, "expected names must be unique")
        let expectedShapes = shapeDictionary(expected)
        var seen = Set<String>()
        for row in rows {
            let fileName = row["file"] as! String
            let memoryName = row["memory"] as! String
            let shape = (row["shape"] as! [Any]).map { ($0 as! NSNumber).intValue }
            XCTAssertEqual(CheckpointNames.canonical(fileName), fileName, "Hub-file spelling is canonical")
            XCTAssertEqual(CheckpointNames.canonical(memoryName), fileName, memoryName)
            XCTAssertEqual(expectedShapes[fileName], shape, fileName)
            let spellings = CheckpointNames.storedSpellings(of: fileName)
            XCTAssertEqual(spellings.first, fileName)
            XCTAssertTrue(spellings.contains(memoryName), "\(memoryName) not among \(spellings)")
            seen.insert(fileName)
        }
        XCTAssertEqual(seen, Set(expectedShapes.keys))
    }

    /// The released model (transformers in-memory names, meta device): 901 tensors, 8.33 B parameters.
    func testReleasedModelTensorList() throws {
        let stored = try JSONSerialization.jsonObject(with: ConfigFixtures.data("hf_released_tensors.json"))
            as! [String: [Int]]
        let config = try VibeVoiceConfig.load(from: ConfigFixtures.url("hf_released_config.json"))
        let expected = CheckpointNames.expectedShapes(for: config)
        XCTAssertEqual(expected.count, 901)
        XCTAssertEqual(expected.reduce(0) { $0 + $1.shape.reduce(1, *) }, 8_330_325_888)
        var mapped: [String: [Int]] = [:]
        for (name, shape) in stored {
            let canonical = try XCTUnwrap(CheckpointNames.canonical(name), name)
            XCTAssertNil(mapped.updateValue(shape, forKey: canonical), "two names map to \(canonical)")
        }
        XCTAssertEqual(mapped, shapeDictionary(expected))
        XCTAssertEqual(shapeDictionary(expected)["language_model.model.layers.27.self_attn.k_proj.weight"], [512, 3584])
        XCTAssertEqual(shapeDictionary(expected)["acoustic_tokenizer_encoder.conv_layers.5.conv.conv.weight"],
                       [2048, 1024, 16])
        XCTAssertEqual(shapeDictionary(expected)["semantic_tokenizer_encoder.head.conv.weight"], [128, 2048, 7])
    }

    func testOriginalSpellings() {
        let pairs: [(String, String)] = [
            ("model.language_model.embed_tokens.weight", "language_model.model.embed_tokens.weight"),
            ("model.language_model.layers.3.self_attn.q_proj.weight",
             "language_model.model.layers.3.self_attn.q_proj.weight"),
            ("model.language_model.norm.weight", "language_model.model.norm.weight"),
            ("lm_head.weight", "language_model.lm_head.weight"),
            ("model.acoustic_connector.fc1.weight", "multi_modal_projector.acoustic_linear_1.weight"),
            ("model.acoustic_connector.fc1.bias", "multi_modal_projector.acoustic_linear_1.bias"),
            ("model.acoustic_connector.norm.weight", "multi_modal_projector.acoustic_norm.weight"),
            ("model.semantic_connector.fc2.weight", "multi_modal_projector.semantic_linear_2.weight"),
            ("model.semantic_connector.fc2.bias", "multi_modal_projector.semantic_linear_2.bias"),
            ("model.acoustic_tokenizer.encoder.downsample_layers.0.0.conv.conv.weight",
             "acoustic_tokenizer_encoder.stem.conv.conv.weight"),
            ("model.semantic_tokenizer.encoder.downsample_layers.0.0.conv.conv.bias",
             "semantic_tokenizer_encoder.stem.conv.conv.bias"),
            ("model.acoustic_tokenizer.encoder.stages.0.2.gamma", "acoustic_tokenizer_encoder.stem.stage.2.gamma"),
            ("model.acoustic_tokenizer.encoder.stages.0.1.mixer.conv.conv.conv.weight",
             "acoustic_tokenizer_encoder.stem.stage.1.mixer.conv.weight"),
            ("model.acoustic_tokenizer.encoder.downsample_layers.1.0.conv.conv.weight",
             "acoustic_tokenizer_encoder.conv_layers.0.conv.conv.weight"),
            ("model.semantic_tokenizer.encoder.downsample_layers.6.0.conv.conv.bias",
             "semantic_tokenizer_encoder.conv_layers.5.conv.conv.bias"),
            ("model.acoustic_tokenizer.encoder.stages.3.1.mixer.conv.conv.conv.bias",
             "acoustic_tokenizer_encoder.conv_layers.2.stage.1.mixer.conv.bias"),
            ("model.semantic_tokenizer.encoder.stages.6.7.ffn.linear2.weight",
             "semantic_tokenizer_encoder.conv_layers.5.stage.7.ffn.linear2.weight"),
            ("model.semantic_tokenizer.encoder.stages.1.0.ffn_norm.weight",
             "semantic_tokenizer_encoder.conv_layers.0.stage.0.ffn_norm.weight"),
            ("model.acoustic_tokenizer.encoder.stages.2.0.norm.weight",
             "acoustic_tokenizer_encoder.conv_layers.1.stage.0.norm.weight"),
            ("model.acoustic_tokenizer.encoder.stages.4.2.ffn_gamma",
             "acoustic_tokenizer_encoder.conv_layers.3.stage.2.ffn_gamma"),
            ("model.acoustic_tokenizer.encoder.stages.5.0.ffn.linear1.bias",
             "acoustic_tokenizer_encoder.conv_layers.4.stage.0.ffn.linear1.bias"),
            ("model.semantic_tokenizer.encoder.head.conv.conv.weight", "semantic_tokenizer_encoder.head.conv.weight"),
            ("model.acoustic_tokenizer.encoder.head.conv.conv.bias", "acoustic_tokenizer_encoder.head.conv.bias"),
        ]
        for (original, canonical) in pairs {
            XCTAssertEqual(CheckpointNames.canonical(original), canonical, original)
            XCTAssertTrue(CheckpointNames.storedSpellings(of: canonical).contains(original),
                          "\(original) not among \(CheckpointNames.storedSpellings(of: canonical))")
        }
    }

    func testInMemorySpellings() {
        XCTAssertEqual(CheckpointNames.canonical("model.multi_modal_projector.semantic_norm.weight"),
                       "multi_modal_projector.semantic_norm.weight")
        XCTAssertEqual(CheckpointNames.canonical("model.acoustic_tokenizer_encoder.conv_layers.2.stage.1.mixer.conv.weight"),
                       "acoustic_tokenizer_encoder.conv_layers.2.stage.1.mixer.conv.weight")
        XCTAssertEqual(CheckpointNames.canonical("model.semantic_tokenizer_encoder.head.conv.weight"),
                       "semantic_tokenizer_encoder.head.conv.weight")
        XCTAssertEqual(CheckpointNames.canonical("lm_head.weight"), "language_model.lm_head.weight")
        XCTAssertEqual(CheckpointNames.canonical("model.language_model.layers.0.mlp.down_proj.weight"),
                       "language_model.model.layers.0.mlp.down_proj.weight")
    }

    func testIgnoredNames() {
        for name in [
            "model.acoustic_tokenizer.decoder.upsample_layers.0.0.conv.conv.weight",
            "model.acoustic_tokenizer.decoder.stages.0.0.gamma",
            "model.acoustic_tokenizer.decoder.head.conv.conv.weight",
            "model.prediction_head.t_embedder.mlp.0.weight",
            "model.prediction_head.layers.0.ffn.gate_proj.weight",
            "model.noise_scheduler.betas",
            "model.acoustic_tokenizer.encoder.norm.weight",            // absent final norm
            "model.acoustic_tokenizer.encoder.stages.x.0.gamma",       // malformed index
            "model.acoustic_tokenizer.encoder.stages.1.0.unknown",     // unknown block part
            "model.acoustic_tokenizer.encoder.downsample_layers.1.1.conv.conv.weight",
            "model.acoustic_tokenizer.encoder.downsample_layers.1.0.conv.conv.scale",
            "model.acoustic_tokenizer.encoder.stages.1.+1.gamma",
            "model.acoustic_connector.fc3.weight",
            "model.semantic_connector.fc1.",
            "speech_scaling_factor", "", "weight",
        ] {
            XCTAssertNil(CheckpointNames.canonical(name), name)
        }
    }

    /// Every spelling of every tensor the model reads maps back to the canonical name: three spellings for the
    /// audio parts, two for the LM.
    func testSpellingsRoundTrip() throws {
        let config = try VibeVoiceConfig.load(from: ConfigFixtures.url("hf_released_config.json"))
        for (name, _) in CheckpointNames.expectedShapes(for: config) {
            let spellings = CheckpointNames.storedSpellings(of: name)
            XCTAssertEqual(Set(spellings).count, spellings.count, name)
            XCTAssertEqual(spellings.count, name.hasPrefix("language_model.") ? 2 : 3, "\(name): \(spellings)")
            for s in spellings { XCTAssertEqual(CheckpointNames.canonical(s), name, s) }
        }
    }

    func testTiedEmbeddingsDropTheHead() throws {
        var config = try VibeVoiceConfig.load(from: ConfigFixtures.url("hf_tiny_config.json"))
        let untied = CheckpointNames.expectedShapes(for: config).map(\.name)
        config.decoder.tieWordEmbeddings = true
        let tied = CheckpointNames.expectedShapes(for: config).map(\.name)
        XCTAssertEqual(Set(untied).subtracting(tied), ["language_model.lm_head.weight"])
        XCTAssertEqual(untied.count, tied.count + 1)
    }
}
