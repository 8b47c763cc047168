import Foundation
import XCTest
@testable import VibeVoiceText

/// Locates Tests/Fixtures/tokenizer and unpacks the gzip-compressed Qwen2.5 tokenizer.json once per process.
enum TokenizerFixtures {
    static let directory: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()   // VibeVoiceTextTests
        .deletingLastPathComponent()   // Tests
        .appendingPathComponent("Fixtures/tokenizer")

    /// The unpacked tokenizer.json, or an error message. It is unpacked once into the temporary directory
    /// (keyed by the archive's size and date, moved into place atomically) and reused by later runs.
    static let tokenizerJSON: Result<URL, FixtureError> = {
        let gz = directory.appendingPathComponent("qwen2.5-tokenizer.json.gz")
        let fm = FileManager.default
        guard let attributes = try? fm.attributesOfItem(atPath: gz.path),
              let size = attributes[.size] as? Int, let date = attributes[.modificationDate] as? Date
        else { return .failure(FixtureError("missing fixture \(gz.path)")) }
        let dir = fm.temporaryDirectory
            .appendingPathComponent("vibevoice-fixture-qwen2.5-\(size)-\(Int(date.timeIntervalSince1970))")
        let out = dir.appendingPathComponent("tokenizer.json")
        if fm.fileExists(atPath: out.path) { return .success(out) }
        let partial = dir.appendingPathComponent("tokenizer.json.\(ProcessInfo.processInfo.processIdentifier).partial")
        do {
            try fm.createDirectory(at: dir, withIntermediateDirectories: true)
            guard fm.createFile(atPath: partial.path, contents: nil) else {
                return .failure(FixtureError("cannot create \(partial.path)"))
            }
            let handle = try FileHandle(forWritingTo: partial)
            defer { try? handle.close() }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/gzip")
            p.arguments = ["-dc", gz.path]
            p.standardOutput = handle
            try p.run()
            p.waitUntilExit()
            guard p.terminationStatus == 0 else {
                try? fm.removeItem(at: partial)
                return .failure(FixtureError("gzip -dc \(gz.path) exited with \(p.terminationStatus)"))
            }
            guard rename(partial.path, out.path) == 0 else {
                return .failure(FixtureError("cannot move \(partial.path) into place"))
            }
            return .success(out)
        } catch {
            return .failure(FixtureError("cannot unpack \(gz.path): \(error)"))
        }
    }()

    static let tokenizer: Result<Tokenizer, FixtureError> = tokenizerJSON.flatMap { url in
        do { return .success(try Tokenizer(url: url)) } catch { return .failure(FixtureError("\(error)")) }
    }

    static func qwen() throws -> Tokenizer { try tokenizer.get() }
    static func qwenJSONURL() throws -> URL { try tokenizerJSON.get() }

    static func json(_ name: String) throws -> Any {
        let data = try Data(contentsOf: directory.appendingPathComponent(name))
        return try JSONSerialization.jsonObject(with: data)
    }

    struct FixtureError: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }
}

/// Builds small byte-level tokenizer.json documents for unit tests.
enum TinyTokenizer {
    /// All 256 byte tokens (ids 0...255 in byte order) plus `extra` tokens and merges.
    static func json(merges: [(String, String)], mergeStyle: String = "pairs", added: [[String: Any]] = [],
                     normalizer: Any = ["type": "NFC"], preTokenizer: Any? = nil, decoder: Any? = nil,
                     modelType: String = "BPE", ignoreMerges: Bool = false) -> Data {
        var vocab: [String: Int] = [:]
        for b in 0..<256 { vocab[String(ByteLevel.byteToScalar[b])] = b }
        for (a, b) in merges where vocab[a + b] == nil { vocab[a + b] = vocab.count }
        let mergeList: [Any] = merges.map { mergeStyle == "pairs" ? [$0.0, $0.1] as Any : "\($0.0) \($0.1)" as Any }
        let pre = preTokenizer ?? [
            "type": "Sequence",
            "pretokenizers": [
                ["type": "Split", "pattern": ["Regex": PieceSplitter.qwen2Regex], "behavior": "Isolated", "invert": false],
                ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false],
            ],
        ] as [String: Any]
        let doc: [String: Any] = [
            "version": "1.0",
            "added_tokens": added,
            "normalizer": normalizer,
            "pre_tokenizer": pre,
            "decoder": decoder ?? ["type": "ByteLevel"],
            "model": ["type": modelType, "vocab": vocab, "merges": mergeList, "ignore_merges": ignoreMerges,
                      "unk_token": NSNull()] as [String: Any],
        ]
        return try! JSONSerialization.data(withJSONObject: doc)
    }

    static func addedToken(_ id: Int, _ content: String, special: Bool = true, lstrip: Bool = false,
                           rstrip: Bool = false, normalized: Bool = false, singleWord: Bool = false) -> [String: Any] {
        ["id": id, "content": content, "special": special, "lstrip": lstrip, "rstrip": rstrip,
         "normalized": normalized, "single_word": singleWord]
    }
}
