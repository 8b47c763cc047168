import XCTest
import VibeVoiceCompute
@testable import VibeVoiceModel

/// `CheckpointQuantizer` output and the loader's checks on quantised checkpoints.
final class QuantizedCheckpointTests: XCTestCase {
    private func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vv-quant-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    private func quantize(_ fixture: String, _ format: DType, maxShardBytes: Int = CheckpointQuantizer.defaultMaxShardBytes,
                          tokenizer: URL? = nil) throws -> URL {
        let out = try tempDir().appendingPathComponent("\(fixture)-\(format.userName)")
        _ = try CheckpointQuantizer.quantize(input: ReferenceFixture(fixture).modelDirectory, output: out,
                                             options: .init(format: format, maxShardBytes: maxShardBytes, tokenizer: tokenizer))
        return out
    }

    /// Quantise-on-load releases the stored pages every `releaseStepBytes` while each tensor is converted; the
    /// release (here every 256 bytes: a row or two of the tiny model) must not change a single quantised byte,
    /// and the released pages read back the same stored values.
    func testQuantiseOnLoadWithPageReleasesInStepsGivesTheSameBytes() throws {
        let fixture = try ReferenceFixture(ReferenceFixture.caseNames[0])
        for format in DType.blockFormats {
            let checkpoint = try Checkpoint(directory: fixture.modelDirectory)
            let stepped = QuantizingWeightSource(checkpoint: checkpoint, format: format, releaseStepBytes: 256)
            var compared = 0
            for (tensor, shape) in CheckpointNames.expectedShapes(for: checkpoint.config) where CheckpointNames.isQuantizable(tensor) {
                let plain = try WeightQuantizer.quantize(try Checkpoint(directory: fixture.modelDirectory).tensor(tensor, shape: shape), to: format)
                let q = try stepped.tensor(tensor, shape: shape)
                XCTAssertGreaterThanOrEqual(q.rows, 2 * max(1, 256 / (q.cols * 2)), "\(tensor) takes the stepped path")
                XCTAssertEqual(Data(bytes: q.data, count: q.payloadByteCount), Data(bytes: plain.data, count: plain.payloadByteCount), tensor)
                XCTAssertEqual(Data(bytes: q.scales!, count: q.scaleByteCount), Data(bytes: plain.scales!, count: plain.scaleByteCount), tensor)
                // The source's released pages fault back in from the file with the same values.
                let again = try WeightQuantizer.quantize(try checkpoint.tensor(tensor, shape: shape), to: format)
                XCTAssertEqual(Data(bytes: again.data, count: again.payloadByteCount), Data(bytes: plain.data, count: plain.payloadByteCount), tensor)
                compared += 1
            }
            XCTAssertGreaterThan(compared, 5)
        }
    }

    func testQuantisedCheckpointLoadsAndMatchesQuantiseOnLoadBitForBit() throws {
        for name in ReferenceFixture.caseNames {
            let fixture = try ReferenceFixture(name)
            let stored = try VibeVoiceASRModel(directory: fixture.modelDirectory).encodeAudio(fixture.normalizedAudio)
            for format in DType.blockFormats {
                let dir = try quantize(name, format)
                let checkpoint = try Checkpoint(directory: dir)
                try checkpoint.validate()
                XCTAssertEqual(checkpoint.config.quantization?.format, format)
                // Exactly the decoder's matrices, LM head and embedding are quantised; the rest keeps its dtype.
                let original = try Checkpoint(directory: fixture.modelDirectory)
                for (tensor, _) in CheckpointNames.expectedShapes(for: original.config) {
                    let quantised = CheckpointNames.isQuantizable(tensor)
                    XCTAssertEqual(checkpoint.isQuantized(tensor), quantised, tensor)
                    XCTAssertEqual(checkpoint.location(of: tensor)?.dtype, quantised ? format : original.location(of: tensor)?.dtype,
                                   tensor)
                }
                // The written checkpoint and quantise-on-load give the same logits, bit for bit.
                let fromDisk = try VibeVoiceASRModel(directory: dir)
                let onLoad = try VibeVoiceASRModel(directory: fixture.modelDirectory, weights: format)
                let ids = fixture.ints("input_ids")
                let a = try fromDisk.promptLogits(promptIDs: ids, audio: stored, audioTokenID: fixture.audioTokenID)
                let b = try onLoad.promptLogits(promptIDs: ids, audio: stored, audioTokenID: fixture.audioTokenID)
                XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), "\(name) \(format)")
                // The encoders and projector are untouched: the same embeddings as the stored model's.
                if format == .q4_0 {
                    XCTAssertEqual(try fromDisk.encodeAudio(fixture.normalizedAudio).embeddings, stored.embeddings, name)
                }
            }
        }
    }

    /// `deferDecoder`: the decoder is checked at load but quantised on first use, with the same bytes as an
    /// eager quantise-on-load (so the same logits, bit for bit); the format is known before it is built.
    func testADeferredDecoderIsBuiltOnFirstUseWithTheSameLogits() throws {
        let fixture = try ReferenceFixture("hf_bf16_chunked")
        let audio = try VibeVoiceASRModel(directory: fixture.modelDirectory).encodeAudio(fixture.normalizedAudio)
        let ids = fixture.ints("input_ids")
        for format in DType.blockFormats {
            let eager = try VibeVoiceASRModel(directory: fixture.modelDirectory, weights: format)
            XCTAssertTrue(eager.decoderIsLoaded)
            let deferred = try VibeVoiceASRModel(directory: fixture.modelDirectory, weights: format, deferDecoder: true)
            XCTAssertFalse(deferred.decoderIsLoaded, "\(format)")
            XCTAssertEqual(deferred.decoderWeightFormat, format)
            // The encoders do not need the decoder.
            XCTAssertEqual(try deferred.encodeAudio(fixture.normalizedAudio).embeddings, audio.embeddings)
            XCTAssertFalse(deferred.decoderIsLoaded)
            let built = try deferred.loadDecoder()
            XCTAssertTrue(deferred.decoderIsLoaded)
            XCTAssertTrue(built === deferred.decoder, "built once")
            XCTAssertEqual(deferred.decoderWeightFormat, format)
            let a = try eager.promptLogits(promptIDs: ids, audio: audio, audioTokenID: fixture.audioTokenID)
            let b = try deferred.promptLogits(promptIDs: ids, audio: audio, audioTokenID: fixture.audioTokenID)
            XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), "\(format)")
        }
        // Without --weights a stored checkpoint's decoder is deferred too (a q4_0 one makes its in-memory decode
        // layout when built), with its stored format known at once and the same logits as an eager load.
        let q4 = try quantize("hf_bf16_chunked", .q4_0)
        for (dir, format) in [(fixture.modelDirectory, DType.bf16), (q4, .q4_0)] {
            let deferred = try VibeVoiceASRModel(directory: dir, deferDecoder: true)
            XCTAssertFalse(deferred.decoderIsLoaded, "\(format)")
            XCTAssertEqual(deferred.decoderWeightFormat, format)
            try deferred.loadDecoder()
            XCTAssertEqual(deferred.decoderWeightFormat, format)
            let eager = try VibeVoiceASRModel(directory: dir)
            XCTAssertTrue(eager.decoderIsLoaded)
            let a = try eager.promptLogits(promptIDs: ids, audio: audio, audioTokenID: fixture.audioTokenID)
            let b = try deferred.promptLogits(promptIDs: ids, audio: audio, audioTokenID: fixture.audioTokenID)
            XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), "\(format)")
        }
    }

    /// What can be checked without reading the data fails at load even when the decoder is deferred (a stored
    /// q4_0 checkpoint asked for q8_0); what needs the data (a NaN weight) fails in `loadDecoder()` with the
    /// typed error naming the tensor, and again on a second call rather than quantising twice.
    func testADeferredDecoderFailsAtLoadWhereItCanAndInLoadDecoderWhereItMust() throws {
        let q4 = try quantize("hf_bf16_chunked", .q4_0)
        XCTAssertThrowsError(try VibeVoiceASRModel(directory: q4, weights: .q8_0, deferDecoder: true)) { error in
            guard case .cannotQuantize? = error as? CheckpointError else { return XCTFail("\(error)") }
        }

        let fixture = try ReferenceFixture("hf_bf16_chunked")
        let dir = try tempDir().appendingPathComponent("nan")
        try FileManager.default.copyItem(at: fixture.modelDirectory, to: dir)
        let file = dir.appendingPathComponent("model.safetensors")
        let target = "language_model.model.layers.0.mlp.down_proj.weight"
        let stored = try SafetensorsFile(url: file)
        let info = try XCTUnwrap(stored.tensors.values.first { CheckpointNames.canonical($0.name) == target })
        XCTAssertEqual(info.dtype, .bf16)
        let handle = try FileHandle(forWritingTo: file)
        try handle.seek(toOffset: UInt64(info.fileOffset + 2 * 3))   // element 3 of row 0
        try handle.write(contentsOf: [0xC0, 0x7F])                    // bf16 NaN, little-endian
        try handle.close()

        let model = try VibeVoiceASRModel(directory: dir, weights: .q8_0, deferDecoder: true)
        XCTAssertFalse(model.decoderIsLoaded)
        for attempt in 0..<2 {
            XCTAssertThrowsError(try model.loadDecoder(), "attempt \(attempt)") { error in
                guard case let .cannotQuantize(_, tensor, detail)? = error as? CheckpointError else { return XCTFail("\(error)") }
                XCTAssertEqual(tensor, target)
                XCTAssertTrue(detail.contains("NaN"), detail)
            }
        }
        XCTAssertFalse(model.decoderIsLoaded)
        // The eager load reports the same error at once.
        XCTAssertThrowsError(try VibeVoiceASRModel(directory: dir, weights: .q8_0))
    }

    func testShardsStayUnderTheLimitAndTheIndexAndCompanionFilesAreWritten() throws {
        let dir = try quantize("hf_bf16_chunked", .q8_0, maxShardBytes: 300_000)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        let shards = names.filter { $0.hasSuffix(".safetensors") }
        XCTAssertGreaterThan(shards.count, 2)
        for s in shards {
            let size = try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent(s).path)[.size] as! Int
            XCTAssertLessThanOrEqual(size, 300_000, s)
        }
        XCTAssertTrue(names.contains("tokenizer.json"))
        XCTAssertTrue(names.contains(Checkpoint.indexFileName))
        XCTAssertFalse(names.contains { $0.hasPrefix(".") }, "no marker or temporary file is left: \(names)")
        let index = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent(Checkpoint.indexFileName)))
            as! [String: Any]
        let map = index["weight_map"] as! [String: String]
        XCTAssertEqual(Set(map.values), Set(shards))
        XCTAssertTrue(map.keys.contains("language_model.lm_head.weight_scale"))
        // Every shard satisfies the format's rules: contiguous offsets from 0 and each element on its alignment.
        for s in shards {
            let file = try SafetensorsFile(url: dir.appendingPathComponent(s))
            let infos = file.tensors.values.sorted { $0.fileOffset < $1.fileOffset }
            var end = infos.first!.fileOffset
            XCTAssertEqual(end % 8, 0)
            for i in infos {
                XCTAssertEqual(i.fileOffset, end, "\(s): \(i.name) leaves a gap")
                XCTAssertTrue(i.isAligned, i.name)
                end += i.byteCount
            }
            XCTAssertEqual(end, file.fileSize, s)
        }
        // config.json keeps the original bytes and gains the entry.
        let original = try String(contentsOf: ReferenceFixture("hf_bf16_chunked").modelDirectory.appendingPathComponent("config.json"),
                                  encoding: .utf8)
        let written = try String(contentsOf: dir.appendingPathComponent("config.json"), encoding: .utf8)
        let kept = original.trimmingCharacters(in: .whitespacesAndNewlines).dropLast()
        XCTAssertTrue(written.hasPrefix(kept.trimmingCharacters(in: .whitespacesAndNewlines)))
        XCTAssertTrue(written.contains("\"quantization_config\""))
    }

    func testTheOriginalLayoutIsWrittenInHubNamesWithTheGivenTokenizer() throws {
        let fixture = try ReferenceFixture("original_sharded_context")
        let dir = try quantize("original_sharded_context", .q4_0, tokenizer: fixture.directory.appendingPathComponent("tokenizer.json"))
        let checkpoint = try Checkpoint(directory: dir)
        XCTAssertEqual(checkpoint.config.format, .original)
        XCTAssertTrue(checkpoint.ignoredTensorNames.isEmpty, "the unused acoustic decoder is not copied")
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("tokenizer.json").path))
        for file in checkpoint.files {
            XCTAssertTrue(file.tensorNames.allSatisfy { CheckpointNames.canonical($0) == $0 }, "Hub spelling only")
        }
    }

    func testRefusals() throws {
        let fixture = try ReferenceFixture("hf_bf16_chunked")
        let dir = try tempDir()
        // An existing output is never replaced.
        XCTAssertThrowsError(try CheckpointQuantizer.quantize(input: fixture.modelDirectory, output: dir, options: .init(format: .q8_0))) {
            XCTAssertEqual($0 as? QuantizeError, .outputExists(dir.standardizedFileURL.path))
        }
        // A quantised checkpoint is not quantised again.
        let q = try quantize("hf_bf16_chunked", .q8_0)
        XCTAssertThrowsError(try CheckpointQuantizer.quantize(input: q, output: dir.appendingPathComponent("again"),
                                                              options: .init(format: .q4_0))) {
            guard case .alreadyQuantized? = $0 as? QuantizeError else { return XCTFail("\($0)") }
        }
        // Nor on load.
        XCTAssertThrowsError(try VibeVoiceASRModel(directory: q, weights: .q4_0)) {
            guard case .cannotQuantize? = $0 as? CheckpointError else { return XCTFail("\($0)") }
        }
        XCTAssertNoThrow(try VibeVoiceASRModel(directory: q, weights: .q8_0), "the stored format itself is accepted")
    }

    func testAFailedRunLeavesNothingAndAStalePartialDirectoryIsCleared() throws {
        // A checkpoint whose lm_head holds a NaN: quantising fails part-way through.
        let source = try ReferenceFixture("hf_inmemory_f32_long").modelDirectory
        let broken = try tempDir().appendingPathComponent("broken")
        try FileManager.default.copyItem(at: source, to: broken)
        let weights = broken.appendingPathComponent("model.safetensors")
        let file = try SafetensorsFile(url: weights)
        let info = file.tensors["lm_head.weight"]!
        var data = try Data(contentsOf: weights)
        withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { data.replaceSubrange((info.fileOffset + 40)..<(info.fileOffset + 44), with: $0) }
        try data.write(to: weights)

        let parent = try tempDir()
        let out = parent.appendingPathComponent("q")
        XCTAssertThrowsError(try CheckpointQuantizer.quantize(input: broken, output: out, options: .init(format: .q8_0))) {
            guard case let .cannotQuantize(_, tensor, detail)? = $0 as? CheckpointError else { return XCTFail("\($0)") }
            XCTAssertEqual(tensor, "language_model.lm_head.weight")
            XCTAssertTrue(detail.contains("NaN"), detail)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: parent.path), [], "nothing is left behind")

        // A killed run leaves `.q.partial` with our marker: the next run clears it and succeeds.
        let partial = parent.appendingPathComponent(".q.partial")
        try FileManager.default.createDirectory(at: partial, withIntermediateDirectories: false)
        try Data().write(to: partial.appendingPathComponent(CheckpointQuantizer.partialMarker))
        try Data("half".utf8).write(to: partial.appendingPathComponent("model-00001-of-00002.safetensors"))
        _ = try CheckpointQuantizer.quantize(input: source, output: out, options: .init(format: .q8_0))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: parent.path), ["q"])
        // A directory of that name that is not ours is never removed.
        let foreign = parent.appendingPathComponent(".r.partial")
        try FileManager.default.createDirectory(at: foreign, withIntermediateDirectories: false)
        XCTAssertThrowsError(try CheckpointQuantizer.quantize(input: source, output: parent.appendingPathComponent("r"),
                                                              options: .init(format: .q8_0)))
        XCTAssertTrue(FileManager.default.fileExists(atPath: foreign.path))
    }
}
