import Foundation
import VibeVoiceAudio
import VibeVoiceModel

/// One engine fixture made by scripts/make_engine_fixtures.py with transformers 5.23.0:
/// a tiny checkpoint under `model/` and the reference's outputs in `reference.safetensors`.
struct ReferenceFixture {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/engine")

    static let caseNames = ["hf_bf16_chunked", "original_sharded_context", "hf_inmemory_f32_long"]

    let name: String
    let directory: URL
    let meta: [String: Any]
    private let floats: [String: (shape: [Int], values: [Float])]
    private let ints: [String: [Int]]

    var modelDirectory: URL { directory.appendingPathComponent("model") }

    init(_ name: String) throws {
        self.name = name
        directory = Self.root.appendingPathComponent(name)
        let metaData = try Data(contentsOf: directory.appendingPathComponent("meta.json"))
        meta = try JSONSerialization.jsonObject(with: metaData) as? [String: Any] ?? [:]
        (floats, ints) = try Self.readTensors(directory.appendingPathComponent("reference.safetensors"))
    }

    func floats(_ key: String) -> [Float] { floats[key]?.values ?? [] }

    /// The clip after loudness normalisation (what the encoders receive, before padding).
    var normalizedAudio: [Float] {
        var samples = floats("audio_raw")
        LoudnessNormalizer.normalize(&samples)
        return samples
    }

    /// The tiny tokenizer's `<|box_start|>` id (the audio slot), recorded in meta.json.
    var audioTokenID: Int? { (meta["model"] as? [String: Any])?["audio_token_id"] as? Int }

    /// The fixture's model loaded from its files, and its encoded audio.
    func loadModelAndAudio() throws -> (VibeVoiceASRModel, AudioFeatures) {
        let model = try VibeVoiceASRModel(directory: modelDirectory)
        return (model, try model.encodeAudio(normalizedAudio))
    }
    func shape(_ key: String) -> [Int] { floats[key]?.shape ?? [] }
    func ints(_ key: String) -> [Int] { ints[key] ?? [] }

    /// A minimal safetensors reader for F32 and I64 reference tensors (test side only).
    static func readTensors(_ url: URL) throws -> ([String: ([Int], [Float])], [String: [Int]]) {
        let data = try Data(contentsOf: url)
        let headerLength = data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + Int(headerLength)))) as! [String: Any]
        let base = 8 + Int(headerLength)
        var floats: [String: ([Int], [Float])] = [:]
        var ints: [String: [Int]] = [:]
        for (name, value) in header where name != "__metadata__" {
            let info = value as! [String: Any]
            let shape = info["shape"] as! [Int]
            let offsets = info["data_offsets"] as! [Int]
            let bytes = data.subdata(in: (base + offsets[0])..<(base + offsets[1]))
            switch info["dtype"] as! String {
            case "F32":
                floats[name] = (shape, bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) })
            case "I64":
                ints[name] = bytes.withUnsafeBytes { $0.bindMemory(to: Int64.self).map { Int($0) } }
            default:
                continue
            }
        }
        return (floats, ints)
    }
}

/// Largest absolute difference, and the largest magnitude of the reference (for relative figures).
func maxAbsDiff(_ a: [Float], _ b: [Float]) -> (diff: Float, scale: Float) {
    precondition(a.count == b.count, "length mismatch \(a.count) vs \(b.count)")
    var d: Float = 0
    var s: Float = 0
    for i in 0..<a.count {
        d = max(d, abs(a[i] - b[i]))
        s = max(s, abs(b[i]))
    }
    return (d, s)
}
