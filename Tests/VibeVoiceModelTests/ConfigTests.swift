import Foundation
import XCTest
@testable import VibeVoiceModel

final class ConfigTests: TemporaryDirectoryTestCase {
    private let releasedDecoder = DecoderConfig(
        hiddenSize: 3584, numLayers: 28, numHeads: 28, numKVHeads: 4, headDim: 128, intermediateSize: 18944,
        vocabSize: 152064, rmsNormEps: 1e-6, ropeTheta: 1_000_000, maxPositionEmbeddings: 131072, hiddenAct: "silu",
        tieWordEmbeddings: false)

    private func assertReleasedEncoder(_ e: SpeechEncoderConfig, hidden: Int, vaeStd: Float,
                                       file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(e.channels, 1, file: file, line: line)
        XCTAssertEqual(e.hiddenSize, hidden, file: file, line: line)
        XCTAssertEqual(e.numFilters, 32, file: file, line: line)
        XCTAssertEqual(e.kernelSize, 7, file: file, line: line)
        XCTAssertEqual(e.depths, [3, 3, 3, 3, 3, 3, 8], file: file, line: line)
        XCTAssertEqual(e.downsamplingRatios, [2, 2, 4, 5, 5, 8], file: file, line: line)
        XCTAssertEqual(e.ffnExpansion, 4, file: file, line: line)
        XCTAssertEqual(e.hiddenAct, "gelu", file: file, line: line)
        XCTAssertEqual(e.rmsNormEps, 1e-5, file: file, line: line)
        XCTAssertEqual(e.vaeStd, vaeStd, file: file, line: line)
        XCTAssertEqual(e.hopLength, 3200, file: file, line: line)
        XCTAssertEqual(e.stageWidth(-1), 32, file: file, line: line)
        XCTAssertEqual(e.stageWidth(5), 2048, file: file, line: line)
    }

    private func parse(_ object: [String: Any], source: String = "test.json") throws -> VibeVoiceConfig {
        try VibeVoiceConfig(jsonData: ConfigFixtures.encode(object), source: source)
    }

    /// Parses `object` and returns the `ConfigError` it must raise.
    private func parseError(_ object: [String: Any], file: StaticString = #filePath,
                            line: UInt = #line) throws -> ConfigError {
        do {
            let config = try VibeVoiceConfig(jsonData: ConfigFixtures.encode(object), source: "test.json")
            XCTFail("expected an error, parsed \(config)", file: file, line: line)
            throw XCTSkip("unreachable")
        } catch let error as ConfigError {
            XCTAssertTrue(error.description.contains("test.json"), "\(error)", file: file, line: line)
            return error
        }
    }

    // MARK: - Fixtures

    func testReleasedTransformersConfig() throws {
        let c = try VibeVoiceConfig.load(from: ConfigFixtures.url("hf_released_config.json"))
        XCTAssertEqual(c.format, .transformers)
        assertReleasedEncoder(c.acoustic, hidden: 64, vaeStd: 0.625)
        assertReleasedEncoder(c.semantic, hidden: 128, vaeStd: 0.625)
        XCTAssertEqual(c.decoder, releasedDecoder)
        XCTAssertEqual(c.audioTokenID, 151648)
        XCTAssertEqual(c.audioBOSTokenID, 151646)
        XCTAssertEqual(c.audioEOSTokenID, 151647)
        XCTAssertEqual(c.acousticChunkSize, 1_440_000)
        XCTAssertEqual(c.acousticChunkSize / c.acoustic.hopLength, 450)
    }

    func testTransformersDefaultConfig() throws {
        // VibeVoiceAsrConfig().to_json_string(): the encoders are the released ones, the text_config is
        // Qwen2Config's own default (rope_parameters with theta 10000).
        let c = try VibeVoiceConfig(jsonData: ConfigFixtures.data("hf_default_config.json"))
        XCTAssertEqual(c.format, .transformers)
        assertReleasedEncoder(c.acoustic, hidden: 64, vaeStd: 0.625)
        assertReleasedEncoder(c.semantic, hidden: 128, vaeStd: 0.625)
        XCTAssertEqual(c.decoder, DecoderConfig(
            hiddenSize: 4096, numLayers: 32, numHeads: 32, numKVHeads: 32, headDim: 128, intermediateSize: 22016,
            vocabSize: 151936, rmsNormEps: 1e-6, ropeTheta: 10_000, maxPositionEmbeddings: 32768, hiddenAct: "silu",
            tieWordEmbeddings: false))
        XCTAssertEqual([c.audioTokenID, c.audioBOSTokenID, c.audioEOSTokenID], [151648, 151646, 151647])
        XCTAssertEqual(c.acousticChunkSize, 1_440_000)
    }

    func testOriginalConfig() throws {
        let c = try VibeVoiceConfig.load(from: ConfigFixtures.url("original_config.json"))
        XCTAssertEqual(c.format, .original)
        // encoder_ratios [8,5,5,4,2,2] reversed, depths from "3-3-3-3-3-3-8", vae_std = fix_std / 0.8.
        assertReleasedEncoder(c.acoustic, hidden: 64, vaeStd: 0.625)
        assertReleasedEncoder(c.semantic, hidden: 128, vaeStd: 0)
        var decoder = releasedDecoder
        decoder.maxPositionEmbeddings = 65536
        XCTAssertEqual(c.decoder, decoder)
        XCTAssertEqual([c.audioTokenID, c.audioBOSTokenID, c.audioEOSTokenID], [151648, 151646, 151647])
        XCTAssertEqual(c.acousticChunkSize, 1_440_000)
        // Both layouts describe the same encoders and LM.
        let hf = try VibeVoiceConfig.load(from: ConfigFixtures.url("hf_released_config.json"))
        XCTAssertEqual(c.acoustic, hf.acoustic)
        XCTAssertEqual(c.semantic.downsamplingRatios, hf.semantic.downsamplingRatios)
    }

    func testTinyConfig() throws {
        let c = try VibeVoiceConfig.load(from: ConfigFixtures.url("hf_tiny_config.json"))
        XCTAssertEqual(c.acoustic.hiddenSize, 8)
        XCTAssertEqual(c.acoustic.numFilters, 4)
        XCTAssertEqual(c.acoustic.depths, [1, 2, 1, 1, 1, 1, 2])
        XCTAssertEqual(c.semantic.hiddenSize, 16)
        XCTAssertEqual(c.semantic.depths, [2, 1, 1, 1, 1, 1, 1])
        XCTAssertEqual(c.decoder.hiddenSize, 32)
        XCTAssertEqual(c.decoder.numKVHeads, 2)
        XCTAssertEqual(c.decoder.headDim, 8)
        XCTAssertEqual(c.decoder.vocabSize, 200)
    }

    func testLoadFromDirectory() throws {
        try FileManager.default.copyItem(at: ConfigFixtures.url("original_config.json"),
                                         to: tempDir.appendingPathComponent("config.json"))
        XCTAssertEqual(try VibeVoiceConfig.load(from: tempDir).format, .original)
        let empty = tempDir.appendingPathComponent("empty", isDirectory: true)
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        XCTAssertThrowsError(try VibeVoiceConfig.load(from: empty)) { error in
            XCTAssertEqual(error as? ConfigError, .unreadable(file: empty.appendingPathComponent("config.json").path,
                                                              reason: "the checkpoint directory has no config.json"))
        }
        let missing = tempDir.appendingPathComponent("nope.json")
        XCTAssertThrowsError(try VibeVoiceConfig.load(from: missing)) { error in
            XCTAssertEqual(error as? ConfigError, .unreadable(file: missing.path, reason: "no such file or directory"))
        }
    }

    // MARK: - Defaults and alternatives

    private let minimalQwen: [String: Any] = [
        "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128,
        "vocab_size": 1000,
    ]

    func testMinimalTransformersConfigTakesReferenceDefaults() throws {
        let c = try parse(["model_type": "vibevoice_asr", "text_config": minimalQwen])
        assertReleasedEncoder(c.acoustic, hidden: 64, vaeStd: 0.625)
        assertReleasedEncoder(c.semantic, hidden: 128, vaeStd: 0.625)
        XCTAssertEqual(c.decoder, DecoderConfig(
            hiddenSize: 64, numLayers: 2, numHeads: 4, numKVHeads: 4, headDim: 16, intermediateSize: 128,
            vocabSize: 1000, rmsNormEps: 1e-6, ropeTheta: 10_000, maxPositionEmbeddings: 32768, hiddenAct: "silu",
            tieWordEmbeddings: false))
        XCTAssertEqual([c.audioTokenID, c.audioBOSTokenID, c.audioEOSTokenID], [151648, 151646, 151647])
        XCTAssertEqual(c.acousticChunkSize, 1_440_000)
    }

    func testMinimalOriginalConfigTakesReferenceDefaults() throws {
        let c = try parse(["model_type": "vibevoice", "decoder_config": minimalQwen])
        assertReleasedEncoder(c.acoustic, hidden: 64, vaeStd: 0.625)
        // microsoft/VibeVoice's VibeVoiceSemanticTokenizerConfig defaults: vae_dim 64, no noise.
        assertReleasedEncoder(c.semantic, hidden: 64, vaeStd: 0)
        XCTAssertEqual(c.decoder.numKVHeads, 4)
        // The top-level *_vae_dim fields alone also set the widths.
        let d = try parse(["model_type": "vibevoice", "decoder_config": minimalQwen, "semantic_vae_dim": 128])
        XCTAssertEqual(d.semantic.hiddenSize, 128)
    }

    func testRopeThetaSpellingsAndHeadDim() throws {
        var q = minimalQwen
        q["rope_theta"] = 500_000.0
        XCTAssertEqual(try parse(["model_type": "vibevoice_asr", "text_config": q]).decoder.ropeTheta, 500_000)
        q["rope_parameters"] = ["rope_type": "default", "rope_theta": 500_000.0]
        XCTAssertEqual(try parse(["model_type": "vibevoice_asr", "text_config": q]).decoder.ropeTheta, 500_000)
        q["rope_theta"] = nil
        q["rope_parameters"] = ["rope_theta": 2_500.5]
        XCTAssertEqual(try parse(["model_type": "vibevoice_asr", "text_config": q]).decoder.ropeTheta, 2_500.5)
        q["rope_scaling"] = NSNull()
        q["head_dim"] = 32  // explicit head_dim wins over hidden / heads
        q["tie_word_embeddings"] = true
        let d = try parse(["model_type": "vibevoice_asr", "text_config": q]).decoder
        XCTAssertEqual(d.headDim, 32)
        XCTAssertTrue(d.tieWordEmbeddings)
        // A null head_dim (transformers writes it so) falls back to hidden / heads.
        q["head_dim"] = NSNull()
        XCTAssertEqual(try parse(["model_type": "vibevoice_asr", "text_config": q]).decoder.headDim, 16)
    }

    func testOriginalTopLevelTieWordEmbeddings() throws {
        let c = try parse(["model_type": "vibevoice", "decoder_config": minimalQwen, "tie_word_embeddings": true])
        XCTAssertTrue(c.decoder.tieWordEmbeddings)
    }

    func testOriginalDepthsAsArrayAndNonDefaultRatios() throws {
        let c = try parse(["model_type": "vibevoice", "decoder_config": minimalQwen,
                           "acoustic_tokenizer_config": ["encoder_depths": [1, 2, 3], "encoder_ratios": [4, 2],
                                                         "encoder_n_filters": 8, "vae_dim": 16, "fix_std": 0.8],
                           "semantic_tokenizer_config": ["encoder_depths": "0-1-2", "encoder_ratios": [4, 2],
                                                         "layernorm_eps": 1e-6]])
        XCTAssertEqual(c.acoustic.depths, [1, 2, 3])
        XCTAssertEqual(c.acoustic.downsamplingRatios, [2, 4])
        XCTAssertEqual(c.acoustic.numFilters, 8)
        XCTAssertEqual(c.acoustic.hiddenSize, 16)
        XCTAssertEqual(c.acoustic.vaeStd, 1.0, accuracy: 1e-7)
        XCTAssertEqual(c.semantic.depths, [0, 1, 2])
        XCTAssertEqual(c.semantic.rmsNormEps, 1e-6)
        XCTAssertEqual(c.acoustic.hopLength, 8)
    }

    // MARK: - Errors

    func testMalformedJSON() throws {
        for text in ["{\"model_type\": \"vibevoice_asr\",", "", "[1]"] {
            XCTAssertThrowsError(try VibeVoiceConfig(jsonData: Data(text.utf8), source: "/x/config.json")) { error in
                guard let e = error as? ConfigError else { return XCTFail("\(error)") }
                XCTAssertTrue(e.description.contains("/x/config.json"), e.description)
                switch e {
                case .malformedJSON, .wrongType: break
                default: XCTFail("\(e)")
                }
            }
        }
    }

    func testModelTypes() throws {
        XCTAssertEqual(try parseError(["text_config": minimalQwen]), .missingField(file: "test.json", field: "model_type"))
        XCTAssertEqual(try parseError(["model_type": "whisper"]),
                       .unsupported(file: "test.json", field: "model_type", value: "\"whisper\"",
                                    supported: "\"vibevoice_asr\", \"vibevoice\""))
        var q = minimalQwen
        q["model_type"] = "llama"
        XCTAssertEqual(try parseError(["model_type": "vibevoice_asr", "text_config": q]),
                       .unsupported(file: "test.json", field: "text_config.model_type", value: "\"llama\"",
                                    supported: "\"qwen2\""))
        XCTAssertEqual(try parseError(["model_type": "vibevoice", "decoder_config": q]),
                       .unsupported(file: "test.json", field: "decoder_config.model_type", value: "\"llama\"",
                                    supported: "\"qwen2\""))
        XCTAssertEqual(try parseError(["model_type": "vibevoice_asr"]),
                       .missingField(file: "test.json", field: "text_config"))
        XCTAssertEqual(try parseError(["model_type": "vibevoice"]),
                       .missingField(file: "test.json", field: "decoder_config"))
    }

    func testDecoderErrorsNameTheField() throws {
        let hf = try ConfigFixtures.object("hf_released_config.json")
        func err(_ path: String, _ value: Any?) throws -> ConfigError {
            try parseError(ConfigFixtures.setting(hf, path, value))
        }
        XCTAssertEqual(try err("text_config.use_sliding_window", true),
                       .unsupported(file: "test.json", field: "text_config.use_sliding_window", value: "true",
                                    supported: "false (full attention in every layer)"))
        XCTAssertEqual(try err("text_config.hidden_act", "gelu"),
                       .unsupported(file: "test.json", field: "text_config.hidden_act", value: "\"gelu\"",
                                    supported: "\"silu\""))
        XCTAssertEqual(try err("text_config.hidden_size", nil),
                       .missingField(file: "test.json", field: "text_config.hidden_size"))
        XCTAssertEqual(try err("text_config.vocab_size", nil),
                       .missingField(file: "test.json", field: "text_config.vocab_size"))
        XCTAssertEqual(try err("text_config.hidden_size", "big"),
                       .wrongType(file: "test.json", field: "text_config.hidden_size", expected: "an integer",
                                  found: "a string"))
        XCTAssertEqual(try err("text_config.num_hidden_layers", 0),
                       .invalidValue(file: "test.json", field: "text_config.num_hidden_layers", value: "0",
                                     expected: "a positive integer"))
        XCTAssertEqual(try err("text_config.intermediate_size", -5),
                       .invalidValue(file: "test.json", field: "text_config.intermediate_size", value: "-5",
                                     expected: "a positive integer"))
        XCTAssertEqual(try err("text_config.num_key_value_heads", 3),
                       .invalidValue(file: "test.json", field: "text_config.num_key_value_heads", value: "3",
                                     expected: "a divisor of num_attention_heads (28)"))
        XCTAssertEqual(try err("text_config.num_attention_heads", 24),
                       .invalidValue(file: "test.json", field: "text_config.num_attention_heads", value: "24",
                                     expected: "a divisor of hidden_size (3584) when head_dim is not given"))
        XCTAssertEqual(try err("text_config.head_dim", 127),
                       .invalidValue(file: "test.json", field: "text_config.head_dim", value: "127",
                                     expected: "an even number (rotary embedding halves)"))
        XCTAssertEqual(try err("text_config.rms_norm_eps", 0),
                       .invalidValue(file: "test.json", field: "text_config.rms_norm_eps", value: "0.0",
                                     expected: "a positive number"))
        XCTAssertEqual(try err("text_config.rope_parameters", ["rope_type": "yarn", "rope_theta": 1e6, "factor": 4.0]),
                       .unsupported(file: "test.json", field: "text_config.rope_parameters.rope_type",
                                    value: "\"yarn\"", supported: "\"default\""))
        XCTAssertEqual(try err("text_config.rope_parameters", ["rope_theta": -1.0]),
                       .invalidValue(file: "test.json", field: "text_config.rope_parameters.rope_theta", value: "-1.0",
                                     expected: "a positive number"))
        XCTAssertEqual(try err("text_config.layer_types", ["full_attention", "sliding_attention"]),
                       .unsupported(file: "test.json", field: "text_config.layer_types[1]",
                                    value: "\"sliding_attention\"", supported: "\"full_attention\""))
        XCTAssertEqual(try err("text_config.tie_word_embeddings", "no"),
                       .wrongType(file: "test.json", field: "text_config.tie_word_embeddings", expected: "a boolean",
                                  found: "a string"))
        XCTAssertEqual(try err("text_config", [1, 2]),
                       .wrongType(file: "test.json", field: "text_config", expected: "an object", found: "an array"))
        // Conflicting theta spellings.
        let conflict = ConfigFixtures.setting(hf, "text_config.rope_theta", 10_000.0)
        guard case .invalidValue(_, "text_config.rope_theta", _, _) = try parseError(conflict) else {
            return XCTFail("conflicting rope_theta must be rejected")
        }
    }

    func testEncoderErrorsNameTheField() throws {
        let hf = try ConfigFixtures.object("hf_released_config.json")
        func err(_ path: String, _ value: Any?) throws -> ConfigError {
            try parseError(ConfigFixtures.setting(hf, path, value))
        }
        XCTAssertEqual(try err("acoustic_tokenizer_encoder_config.hidden_act", "relu"),
                       .unsupported(file: "test.json", field: "acoustic_tokenizer_encoder_config.hidden_act",
                                    value: "\"relu\"", supported: "\"gelu\""))
        XCTAssertEqual(try err("semantic_tokenizer_encoder_config.hidden_size", 0),
                       .invalidValue(file: "test.json", field: "semantic_tokenizer_encoder_config.hidden_size",
                                     value: "0", expected: "a positive integer"))
        XCTAssertEqual(try err("acoustic_tokenizer_encoder_config.depths", [3, 3, 3]),
                       .invalidValue(file: "test.json", field: "acoustic_tokenizer_encoder_config.depths",
                                     value: "[3, 3, 3]",
                                     expected: "7 non-negative block counts (the stem, then one per downsampling ratio)"))
        XCTAssertEqual(try err("acoustic_tokenizer_encoder_config.downsampling_ratios", [2, 0, 4, 5, 5, 8]),
                       .invalidValue(file: "test.json", field: "acoustic_tokenizer_encoder_config.downsampling_ratios",
                                     value: "[2, 0, 4, 5, 5, 8]", expected: "a non-empty list of positive integers"))
        XCTAssertEqual(try err("acoustic_tokenizer_encoder_config.depths", [3, 3, "x"]),
                       .wrongType(file: "test.json", field: "acoustic_tokenizer_encoder_config.depths[2]",
                                  expected: "an integer", found: "a string"))
        XCTAssertEqual(try err("acoustic_tokenizer_encoder_config.vae_std", -1),
                       .invalidValue(file: "test.json", field: "acoustic_tokenizer_encoder_config.vae_std",
                                     value: "-1.0", expected: "a non-negative number"))
        XCTAssertEqual(try err("acoustic_tokenizer_encoder_config.model_type", "dac"),
                       .unsupported(file: "test.json", field: "acoustic_tokenizer_encoder_config.model_type",
                                    value: "\"dac\"", supported: "\"vibevoice_acoustic_tokenizer_encoder\""))
        XCTAssertEqual(try err("semantic_tokenizer_encoder_config.downsampling_ratios", [2, 2, 4, 5, 5, 4]),
                       .invalidValue(file: "test.json", field: "semantic_tokenizer_encoder_config.downsampling_ratios",
                                     value: "hop 1600", expected: "the acoustic encoder's hop length (3200)"))
        XCTAssertEqual(try err("acoustic_tokenizer_chunk_size", 1000),
                       .invalidValue(file: "test.json", field: "acoustic_tokenizer_chunk_size", value: "1000",
                                     expected: "a positive multiple of the hop length (3200)"))
        XCTAssertEqual(try err("audio_token_id", -3),
                       .invalidValue(file: "test.json", field: "audio_token_id", value: "-3",
                                     expected: "a non-negative token id"))
        XCTAssertEqual(try err("acoustic_tokenizer_encoder_config.num_filters", 1 << 40),
                       .invalidValue(file: "test.json", field: "acoustic_tokenizer_encoder_config.downsampling_ratios",
                                     value: "[2, 2, 4, 5, 5, 8]",
                                     expected: "at most 16 stages with a hop length below 2^24 samples"))
    }

    func testOriginalFormatErrorsNameTheField() throws {
        let orig = try ConfigFixtures.object("original_config.json")
        func err(_ path: String, _ value: Any?) throws -> ConfigError {
            try parseError(ConfigFixtures.setting(orig, path, value))
        }
        XCTAssertEqual(try err("acoustic_tokenizer_config.encoder_depths", "3-3-x"),
                       .invalidValue(file: "test.json", field: "acoustic_tokenizer_config.encoder_depths",
                                     value: "\"3-3-x\"",
                                     expected: "non-negative integers joined by '-', like \"3-3-3-3-3-3-8\""))
        XCTAssertEqual(try err("acoustic_tokenizer_config.encoder_depths", "3-3-3"),
                       .invalidValue(file: "test.json", field: "acoustic_tokenizer_config.encoder_depths",
                                     value: "[3, 3, 3]",
                                     expected: "7 non-negative block counts (the stem, then one per downsampling ratio)"))
        XCTAssertEqual(try err("acoustic_tokenizer_config.std_dist_type", "laplace"),
                       .unsupported(file: "test.json", field: "acoustic_tokenizer_config.std_dist_type",
                                    value: "\"laplace\"", supported: "\"gaussian\", \"none\""))
        XCTAssertEqual(try err("semantic_tokenizer_config.pad_mode", "reflect"),
                       .unsupported(file: "test.json", field: "semantic_tokenizer_config.pad_mode",
                                    value: "\"reflect\"", supported: "\"constant\""))
        XCTAssertEqual(try err("acoustic_tokenizer_config.causal", false),
                       .unsupported(file: "test.json", field: "acoustic_tokenizer_config.causal", value: "false",
                                    supported: "true"))
        XCTAssertEqual(try err("acoustic_tokenizer_config.layernorm", "LN"),
                       .unsupported(file: "test.json", field: "acoustic_tokenizer_config.layernorm", value: "\"LN\"",
                                    supported: "\"RMSNorm\""))
        XCTAssertEqual(try err("acoustic_tokenizer_config.disable_last_norm", false),
                       .unsupported(file: "test.json", field: "acoustic_tokenizer_config.disable_last_norm",
                                    value: "false", supported: "true"))
        XCTAssertEqual(try err("semantic_vae_dim", 64),
                       .invalidValue(file: "test.json", field: "semantic_vae_dim", value: "64",
                                     expected: "semantic_tokenizer_config.vae_dim (128)"))
        XCTAssertEqual(try err("acoustic_tokenizer_config.fix_std", -0.5),
                       .invalidValue(file: "test.json", field: "acoustic_tokenizer_config.fix_std", value: "-0.5",
                                     expected: "a non-negative number"))
        XCTAssertEqual(try err("decoder_config.rope_scaling", ["type": "dynamic", "factor": 2.0]),
                       .unsupported(file: "test.json", field: "decoder_config.rope_scaling.rope_type",
                                    value: "\"dynamic\"", supported: "\"default\" (no RoPE scaling)"))
        XCTAssertEqual(try err("decoder_config.use_sliding_window", true),
                       .unsupported(file: "test.json", field: "decoder_config.use_sliding_window", value: "true",
                                    supported: "false (full attention in every layer)"))
    }

    func testErrorDescriptionsAreOneLineAndSpecific() {
        let e = ConfigError.invalidValue(file: "/m/config.json", field: "text_config.num_key_value_heads", value: "3",
                                         expected: "a divisor of num_attention_heads (28)")
        XCTAssertEqual(e.description, "config /m/config.json: field 'text_config.num_key_value_heads' = 3 is invalid; "
                           + "expected a divisor of num_attention_heads (28)")
        XCTAssertFalse(e.description.contains("\n"))
    }
}
