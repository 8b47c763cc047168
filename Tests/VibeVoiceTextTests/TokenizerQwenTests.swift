import Foundation
import XCTest
@testable import VibeVoiceText

/// The rebuilt Qwen2.5 tokenizer against ids and texts recorded from Hugging Face tokenizers
/// (scripts/make_tokenizer_fixtures.py).
final class TokenizerQwenTests: XCTestCase {
    private func cases(_ key: String) throws -> [[String: Any]] {
        let root = try XCTUnwrap(TokenizerFixtures.json("cases.json") as? [String: Any])
        return try XCTUnwrap(root[key] as? [[String: Any]])
    }

    private static func ints(_ v: Any?) -> [Int] { (v as? [Any] ?? []).map { ($0 as! NSNumber).intValue } }

    func testEncodeMatchesHuggingFace() throws {
        let tok = try TokenizerFixtures.qwen()
        let all = try cases("encode")
        XCTAssertGreaterThan(all.count, 80)
        var failures = 0
        for c in all {
            let text = try XCTUnwrap(c["text"] as? String)
            let expected = Self.ints(c["ids"])
            let got = tok.encode(text)
            if got != expected {
                failures += 1
                XCTFail("encode \(text.debugDescription.prefix(120)): got \(got.prefix(40)), expected \(expected.prefix(40))")
            }
        }
        XCTAssertEqual(failures, 0)
    }

    func testDecodeOfEncodedCasesMatchesHuggingFace() throws {
        let tok = try TokenizerFixtures.qwen()
        for c in try cases("encode") {
            let ids = Self.ints(c["ids"])
            XCTAssertEqual(tok.decode(ids), c["decoded"] as? String, "ids \(ids.prefix(20))")
            XCTAssertEqual(tok.decode(ids, skipSpecialTokens: true), c["decoded_skip_special"] as? String,
                           "ids \(ids.prefix(20)) skipping special tokens")
        }
    }

    func testDecodeCasesMatchHuggingFace() throws {
        let tok = try TokenizerFixtures.qwen()
        let all = try cases("decode")
        XCTAssertGreaterThan(all.count, 15)
        for c in all {
            let ids = Self.ints(c["ids"])
            XCTAssertEqual(tok.decode(ids), c["decoded"] as? String, "ids \(ids.prefix(20))")
            XCTAssertEqual(tok.decode(ids, skipSpecialTokens: true), c["decoded_skip_special"] as? String,
                           "ids \(ids.prefix(20)) skipping special tokens")
        }
    }

    /// Decoding id by id gives, once finished, exactly what decoding all ids at once gives.
    func testStreamingDecodeMatchesWholeDecode() throws {
        let tok = try TokenizerFixtures.qwen()
        var lists = try cases("encode").map { Self.ints($0["ids"]) }
        lists += try cases("decode").map { Self.ints($0["ids"]) }
        for skip in [false, true] {
            for ids in lists {
                var stream = TokenStreamDecoder(tokenizer: tok, skipSpecialTokens: skip)
                var text = ""
                for id in ids { text += stream.append(id) }
                text += stream.finish()
                XCTAssertEqual(text, tok.decode(ids, skipSpecialTokens: skip), "ids \(ids.prefix(20)) skip \(skip)")
            }
        }
        // Text comes out as soon as a character is complete.
        var stream = TokenStreamDecoder(tokenizer: tok)
        XCTAssertEqual(stream.append(160), "")      // E4
        XCTAssertEqual(stream.append(121), "")      // BD
        XCTAssertEqual(stream.append(254), "你")    // A0
        XCTAssertEqual(stream.append(9707), "Hello")
        XCTAssertEqual(stream.append(160), "")
        XCTAssertEqual(stream.append(151645), "\u{FFFD}<|im_end|>")
        XCTAssertEqual(stream.finish(), "")
    }

    func testSpecGenerationDecodes() throws {
        let tok = try TokenizerFixtures.qwen()
        let generated = [151644, 77091, 198, 58, 4913, 3479, 788, 15, 1335, 3727, 788, 20, 13, 23, 21, 1335, 82036,
                         788, 15, 1335, 2762, 3252, 12275, 13, 3406, 2044, 374, 279, 38471, 273, 315, 279, 6149, 6846,
                         11, 323, 582, 525, 15713, 311, 10565, 806, 41482, 1189, 25439, 151645, 198, 151643]
        XCTAssertEqual(tok.decode(generated, skipSpecialTokens: true),
                       "assistant\n[{\"Start\":0,\"End\":5.86,\"Speaker\":0,\"Content\":\"Mr. Quilter is the apostle of "
                       + "the middle classes, and we are glad to welcome his gospel.\"}]\n")
        XCTAssertTrue(tok.decode(generated).hasPrefix("<|im_start|>assistant\n[{"))
        XCTAssertTrue(tok.decode(generated).hasSuffix("<|im_end|>\n<|endoftext|>"))
    }

    func testLookupsAndSpecialFlags() throws {
        let tok = try TokenizerFixtures.qwen()
        XCTAssertEqual(tok.vocabularySize, 151665)
        let specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
                        "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
                        "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]
        let added = ["<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
                     "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"]
        for (k, t) in (specials + added).enumerated() {
            XCTAssertEqual(tok.id(forToken: t), 151643 + k, t)
            XCTAssertEqual(tok.token(forID: 151643 + k), t)
            XCTAssertEqual(tok.isSpecial(151643 + k), k < specials.count, t)
            XCTAssertTrue(tok.isAddedToken(151643 + k))
        }
        XCTAssertEqual(tok.id(forToken: "\n"), nil)      // vocabulary strings are byte-level
        XCTAssertEqual(tok.id(forToken: "Ċ"), 198)
        XCTAssertEqual(tok.id(forToken: "ĊĊ"), 271)
        XCTAssertEqual(tok.token(forID: 9707), "Hello")
        XCTAssertNil(tok.token(forID: 151665))
        XCTAssertNil(tok.token(forID: -3))
        XCTAssertFalse(tok.isSpecial(198))
        XCTAssertFalse(tok.isSpecial(999_999))
        XCTAssertFalse(tok.isAddedToken(198))
    }

    func testDecodeBytesConcatenatesRawBytes() throws {
        let tok = try TokenizerFixtures.qwen()
        let ids = tok.encode("你好")
        XCTAssertEqual(tok.decodeBytes(ids, skipSpecialTokens: false), Array("你好".utf8))
        // A split character stays split in bytes (streaming decides where characters end).
        XCTAssertEqual(tok.decodeBytes([160, 121], skipSpecialTokens: false), [0xE4, 0xBD])
        XCTAssertEqual(tok.decodeBytes([151644, 9707, 151665, -1], skipSpecialTokens: false),
                       Array("<|im_start|>Hello".utf8))
        XCTAssertEqual(tok.decodeBytes([151644, 9707, 151657], skipSpecialTokens: true), Array("Hello<tool_call>".utf8))
    }

    func testRoundTripOfMixedText() throws {
        let tok = try TokenizerFixtures.qwen()
        let text = "Zürich 東京 Москва القاهرة मुंबई 🇯🇵👩🏽‍💻 e\u{301}\t\r\n  x  "
        let nfc = text.precomposedStringWithCanonicalMapping
        XCTAssertEqual(tok.decode(tok.encode(text)), nfc)
        XCTAssertEqual(Array(nfc.unicodeScalars), Array(tok.decode(tok.encode(text)).unicodeScalars))
    }

    /// One tokenizer shared by many threads (its piece cache is shared) gives the same ids as one thread.
    func testConcurrentEncodingAgrees() throws {
        let tok = try TokenizerFixtures.qwen()
        let texts = try cases("encode").compactMap { $0["text"] as? String }
        let expected = texts.map { tok.encode($0) }
        let results = UnsafeSendableBox([[Int]](repeating: [], count: texts.count * 4))
        DispatchQueue.concurrentPerform(iterations: texts.count * 4) { k in
            let ids = tok.encode(texts[k % texts.count])
            results.lock.lock()
            results.value[k] = ids
            results.lock.unlock()
        }
        for k in 0..<(texts.count * 4) {
            XCTAssertEqual(results.value[k], expected[k % texts.count], texts[k % texts.count].debugDescription)
        }
    }

    func testLoadsFromDirectory() throws {
        let file = try TokenizerFixtures.qwenJSONURL()
        let tok = try Tokenizer(url: file.deletingLastPathComponent())
        XCTAssertEqual(tok.encode("Hello world"), [9707, 1879])
        XCTAssertEqual(tok.path, file.path)
    }

    /// Prints timings (not asserted: speed is measured, not tested). Figures are meaningful in release builds.
    func testReportSpeed() throws {
        let url = try TokenizerFixtures.qwenJSONURL()
        let t0 = Date()
        let tok = try Tokenizer(url: url)
        let load = Date().timeIntervalSince(t0)
        let unit = "The quick brown fox, 1234 jumps. Съешь ещё этих булок. 你好，世界！こんにちは。مرحبا 👍🏽 def f(x): return x\n"
        var text = ""
        while text.utf8.count < 1_000_000 { text += unit }
        let t1 = Date()
        let ids = tok.encode(text)
        let encode = Date().timeIntervalSince(t1)
        XCTAssertEqual(tok.decode(ids), text)
        print(String(format: "tokenizer speed: load %.3f s, encode %d bytes -> %d ids in %.3f s",
                     load, text.utf8.count, ids.count, encode))
    }
}

/// Mutable state shared with concurrentPerform's closure, guarded by its lock.
final class UnsafeSendableBox<T>: @unchecked Sendable {
    let lock = NSLock()
    var value: T
    init(_ value: T) { self.value = value }
}
