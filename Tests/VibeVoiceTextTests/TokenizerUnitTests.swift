import Foundation
import XCTest
@testable import VibeVoiceText

/// Small hand-built tokenizers: loading rules, errors, added-token flags, splitting and merging.
final class TokenizerUnitTests: XCTestCase {
    private func tiny(_ merges: [(String, String)] = [("a", "b"), ("ab", "c"), ("Ġ", "a")], mergeStyle: String = "pairs",
                      added: [[String: Any]] = [], normalizer: Any = ["type": "NFC"], ignoreMerges: Bool = false) throws -> Tokenizer {
        try Tokenizer(jsonData: TinyTokenizer.json(merges: merges, mergeStyle: mergeStyle, added: added,
                                                    normalizer: normalizer, ignoreMerges: ignoreMerges))
    }

    func testMergesInStringAndPairFormAgree() throws {
        let pairs = try tiny(mergeStyle: "pairs")
        let strings = try tiny(mergeStyle: "strings")
        // vocab: 256 bytes, then ab=256, abc=257, Ġa=258
        // " ab": a+b (rank 0) wins over Ġ+a (rank 2).
        XCTAssertEqual(pairs.encode("abc ab a"), [257, 32, 256, 258])
        XCTAssertEqual(strings.encode("abc ab a"), [257, 32, 256, 258])
        XCTAssertEqual(pairs.decode([257, 32, 256, 258]), "abc ab a")
    }

    func testMergeRankOrderNotLeftToRight() throws {
        // "bc" ranks before "ab": "abc" -> a + bc, not ab + c.
        let tok = try tiny([("b", "c"), ("a", "b"), ("a", "bc")])
        // ids: bc=256, ab=257, abc=258
        XCTAssertEqual(tok.encode("abc"), [258])
        XCTAssertEqual(tok.encode("abd"), [257, 100])
        XCTAssertEqual(tok.encode("bcab"), [256, 257])
    }

    func testMergeOrderOnRepeats() throws {
        let tok = try tiny([("a", "a"), ("aa", "aa"), ("aaaa", "a")])
        // ids: aa=256, aaaa=257, aaaaa=258; equal-rank pairs merge leftmost first.
        let expected: [Int: [Int]] = [1: [97], 2: [256], 3: [256, 97], 4: [257], 5: [258], 9: [257, 258],
                                      10: [257, 257, 256], 500: [Int](repeating: 257, count: 125)]
        for (n, ids) in expected {
            XCTAssertEqual(tok.encode(String(repeating: "a", count: n)), ids, "n=\(n)")
        }
    }

    func testHeapMergeAgreesWithQuadraticMerge() throws {
        let tok = try tiny([("a", "b"), ("b", "a"), ("ab", "a"), ("a", "a"), ("ba", "b"), ("aa", "b"), ("b", "b"),
                            ("bb", "a"), ("aba", "b"), ("ab", "ab")])
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            let n = Int.random(in: 2...200, using: &rng)
            let symbols = (0..<n).map { _ in Int32(Bool.random(using: &rng) ? 97 : 98) }
            XCTAssertEqual(tok.bpe.mergeLarge(symbols), tok.bpe.mergeSmall(symbols), "\(symbols)")
        }
    }

    func testIgnoreMergesTakesWholePieceFromVocabulary() throws {
        // "abc" is in the vocabulary only through merges ab + c; with ignore_merges it is looked up directly.
        let merges = [("b", "c"), ("a", "b"), ("ab", "c")]  // bc=256, ab=257, abc=258
        XCTAssertEqual(try tiny(merges, ignoreMerges: false).encode("abc"), [97, 256])
        XCTAssertEqual(try tiny(merges, ignoreMerges: true).encode("abc"), [258])
    }

    func testAddedTokensLongestMatchAndFlags() throws {
        let tok = try tiny(added: [
            TinyTokenizer.addedToken(300, "<x>"),
            TinyTokenizer.addedToken(301, "<x><y>"),
            TinyTokenizer.addedToken(302, "<l>", lstrip: true),
            TinyTokenizer.addedToken(303, "<r>", special: false, rstrip: true),
            TinyTokenizer.addedToken(304, "Ω", special: false, normalized: true),
            TinyTokenizer.addedToken(305, "<w>", singleWord: true),
        ])
        XCTAssertEqual(tok.encode("a<x><y>b<x>"), [97, 301, 98, 300])
        XCTAssertEqual(tok.encode("a  <l> b"), [97, 302, 32, 98])   // lstrip eats "  ", not the space after
        XCTAssertEqual(tok.encode("a <r>  b"), [97, 32, 303, 98])   // rstrip eats "  "
        // Normalised added tokens match after NFC: U+2126 OHM SIGN normalises to U+03A9.
        XCTAssertEqual(tok.encode("\u{2126}"), [304])
        XCTAssertEqual(tok.encode("x<w>y"), [120, 60, 119, 62, 121])   // single_word: inside a word it is text
        XCTAssertEqual(tok.encode("x <w> y"), [120, 32, 305, 32, 121])
        XCTAssertTrue(tok.isSpecial(300))
        XCTAssertFalse(tok.isSpecial(303))
        XCTAssertEqual(tok.decode([300, 303, 97], skipSpecialTokens: true), "<r>a")
        XCTAssertEqual(tok.decode([300, 303, 97]), "<x><r>a")
        XCTAssertEqual(tok.vocabularySize, 306)
    }

    func testNormalizerVariants() throws {
        let nfd = "e\u{301}"
        XCTAssertEqual(try tiny(normalizer: ["type": "NFC"]).encode(nfd), [0xC3, 0xA9])  // bytes of U+00E9
        XCTAssertEqual(try tiny(normalizer: NSNull()).encode(nfd), [0x65, 0xCC, 0x81])  // e + bytes of U+0301
        XCTAssertEqual(try tiny(normalizer: ["type": "Sequence", "normalizers": [["type": "NFC"]]]).encode(nfd).count, 2)
        XCTAssertThrowsError(try tiny(normalizer: ["type": "Precompiled"])) { e in
            guard case TokenizerError.unsupported(_, let field, _) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(field, "normalizer")
        }
    }

    func testSplitterFollowsQwen2Regex() {
        let splitter = PieceSplitter(pattern: .qwen2(maxDigits: 1))
        func pieces(_ s: String) -> [String] {
            let scalars = Array(s.unicodeScalars)
            var ranges: [Range<Int>] = []
            splitter.split(scalars, into: &ranges)
            return ranges.map { String(String.UnicodeScalarView(scalars[$0])) }
        }
        XCTAssertEqual(pieces("Hello world"), ["Hello", " world"])
        XCTAssertEqual(pieces("I'LL don't"), ["I", "'LL", " don", "'t"])
        XCTAssertEqual(pieces("2024"), ["2", "0", "2", "4"])
        XCTAssertEqual(pieces("a  b"), ["a", " ", " b"])
        XCTAssertEqual(pieces("a \n\n b"), ["a", " \n\n", " b"])
        XCTAssertEqual(pieces("x  "), ["x", "  "])
        XCTAssertEqual(pieces("x !!!\n\ny"), ["x", " !!!\n\n", "y"])
        XCTAssertEqual(pieces("\tword"), ["\tword"])
        XCTAssertEqual(pieces("\u{a0}\u{a0}x"), ["\u{a0}", "\u{a0}x"])
        XCTAssertEqual(pieces("a\u{200b}b"), ["a", "\u{200b}b"])   // ZWSP is not \s: it prefixes the word
        let gpt2 = PieceSplitter(pattern: .gpt2)
        let scalars = Array("I'LL 2024  ok!".unicodeScalars)
        var ranges: [Range<Int>] = []
        gpt2.split(scalars, into: &ranges)
        XCTAssertEqual(ranges.map { String(String.UnicodeScalarView(scalars[$0])) }, ["I", "'", "LL", " 2024", " ", " ok", "!"])
    }

    func testDecodeNeverCrashesOnBadIDs() throws {
        let tok = try tiny()
        XCTAssertEqual(tok.decode([-1, Int.min, Int.max, 258, 999]), " a")
        XCTAssertEqual(tok.decodeBytes([Int.max, -5], skipSpecialTokens: false), [])
        XCTAssertEqual(tok.decode([]), "")
    }

    func testMissingFileErrorExplainsWhatIsNeeded() {
        let missing = URL(fileURLWithPath: "/nonexistent/ckpt")
        XCTAssertThrowsError(try Tokenizer(url: missing)) { e in
            XCTAssertEqual(e as? TokenizerError, .fileNotFound(path: "/nonexistent/ckpt"))
            let m = "\(e)"
            XCTAssertTrue(m.contains("tokenizer.json"), m)
            XCTAssertTrue(m.contains("microsoft/VibeVoice-ASR"), m)
            XCTAssertTrue(m.contains("--tokenizer"), m)
        }
        let emptyDir = FileManager.default.temporaryDirectory.appendingPathComponent("vv-empty-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: emptyDir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: emptyDir) }
        XCTAssertThrowsError(try Tokenizer(url: emptyDir)) { e in
            XCTAssertEqual(e as? TokenizerError, .fileNotFound(path: emptyDir.appendingPathComponent("tokenizer.json").path))
        }
    }

    func testMalformedAndUnsupportedFiles() throws {
        func error(_ data: Data) -> TokenizerError? {
            do { _ = try Tokenizer(jsonData: data, path: "t.json"); return nil } catch { return error as? TokenizerError }
        }
        guard case .malformedJSON(let p, _)? = error(Data("{\"model\": ".utf8)) else { return XCTFail() }
        XCTAssertEqual(p, "t.json")
        guard case .malformedJSON? = error(Data("[1,2]".utf8)) else { return XCTFail() }
        guard case .invalidField(_, "model", _)? = error(Data("{}".utf8)) else { return XCTFail() }
        guard case .unsupported(_, "model type", let v)? = error(TinyTokenizer.json(merges: [], modelType: "WordPiece"))
        else { return XCTFail() }
        XCTAssertTrue(v.contains("WordPiece"))
        let badPattern: [String: Any] = ["type": "Split", "pattern": ["Regex": "\\w+"], "behavior": "Isolated"]
        guard case .unsupported(_, "pre_tokenizer.pattern", _)? = error(TinyTokenizer.json(merges: [], preTokenizer: badPattern))
        else { return XCTFail() }
        guard case .unsupported(_, "decoder", _)? = error(TinyTokenizer.json(merges: [], decoder: ["type": "WordPiece"]))
        else { return XCTFail() }
        // A merge whose result is not in the vocabulary.
        var doc = try XCTUnwrap(JSONSerialization.jsonObject(with: TinyTokenizer.json(merges: [])) as? [String: Any])
        var model = try XCTUnwrap(doc["model"] as? [String: Any])
        model["merges"] = ["a b"]
        doc["model"] = model
        guard case .invalidField(_, "model.merges[0]", _)? = error(try JSONSerialization.data(withJSONObject: doc))
        else { return XCTFail() }
        model["merges"] = ["a b c"]
        doc["model"] = model
        guard case .invalidField(_, "model.merges[0]", _)? = error(try JSONSerialization.data(withJSONObject: doc))
        else { return XCTFail() }
        model["vocab"] = ["a": "one"]
        doc["model"] = model
        guard case .invalidField(_, "model.vocab[a]", _)? = error(try JSONSerialization.data(withJSONObject: doc))
        else { return XCTFail() }
        // Every message names the file.
        XCTAssertTrue("\(error(Data("nope".utf8))!)".contains("t.json"))
    }

    /// Found by fuzzing the loader: one id of 11 000 000 in a small vocabulary sized the id tables to match (0.6 GB,
    /// seconds). Ids far beyond the vocabulary's size are refused; a vocabulary with a few gaps still loads.
    func testAVocabularyIdFarBeyondItsSizeIsRefused() throws {
        var doc = try XCTUnwrap(JSONSerialization.jsonObject(with: TinyTokenizer.json(merges: [])) as? [String: Any])
        var model = try XCTUnwrap(doc["model"] as? [String: Any])
        var vocab = try XCTUnwrap(model["vocab"] as? [String: Int])
        let count = vocab.count
        vocab["zz"] = 11_000_000
        model["vocab"] = vocab
        doc["model"] = model
        XCTAssertThrowsError(try Tokenizer(jsonData: JSONSerialization.data(withJSONObject: doc), path: "t.json")) { e in
            guard case .invalidField(_, "model.vocab[zz]", let expected)? = e as? TokenizerError else {
                return XCTFail("\(e)")
            }
            XCTAssertTrue(expected.contains("11000000"), expected)
        }
        vocab["zz"] = count + 500          // a gap of 500 ids
        model["vocab"] = vocab
        doc["model"] = model
        let tok = try Tokenizer(jsonData: JSONSerialization.data(withJSONObject: doc), path: "t.json")
        XCTAssertEqual(tok.vocabularySize, count + 501)
    }
}

final class TokenStreamDecoderTests: XCTestCase {
    func testIncompleteSuffixLength() {
        let cases: [([UInt8], Int)] = [
            ([], 0), ([0x41], 0), ([0xE4], 1), ([0xE4, 0xBD], 2), ([0xE4, 0xBD, 0xA0], 0), ([0x41, 0xF0, 0x9F, 0x98], 3),
            ([0xF0, 0x9F, 0x98, 0x80], 0), ([0xBD], 0), ([0xFF], 0), ([0xC0], 0), ([0xE0, 0x80], 0), ([0xE0, 0xA0], 2),
            ([0xED, 0xA0], 0), ([0xED, 0x9F], 2), ([0xF4, 0x90], 0), ([0xF4, 0x8F], 2), ([0xF5], 0), ([0xC3], 1),
        ]
        for (bytes, expected) in cases {
            XCTAssertEqual(TokenStreamDecoder.incompleteSuffixLength(bytes), expected, "\(bytes)")
        }
    }

    /// Random byte tokens: streaming equals whole decoding.
    func testRandomBytesStreamLikeWholeDecode() throws {
        let tok = try Tokenizer(jsonData: TinyTokenizer.json(merges: [], added: [TinyTokenizer.addedToken(300, "<s>"),
                                                                                  TinyTokenizer.addedToken(301, "<t>", special: false)]))
        var rng = SystemRandomNumberGenerator()
        let interesting: [Int] = [0x41, 0x80, 0x9F, 0xA0, 0xBF, 0xC2, 0xC3, 0xDF, 0xE0, 0xE4, 0xED, 0xEF, 0xF0, 0xF4, 0xF5,
                                  0xFF, 300, 301, 999]
        for _ in 0..<500 {
            let ids = (0..<Int.random(in: 1...12, using: &rng)).map { _ in interesting.randomElement(using: &rng)! }
            for skip in [false, true] {
                var stream = TokenStreamDecoder(tokenizer: tok, skipSpecialTokens: skip)
                let text = stream.append(contentsOf: ids) + stream.finish()
                XCTAssertEqual(text, tok.decode(ids, skipSpecialTokens: skip), "\(ids)")
            }
        }
    }
}

final class TokenizerPrefixSpaceTests: XCTestCase {
    func testAddPrefixSpace() throws {
        // GPT-2 style: ByteLevel splits itself; one space before each text segment.
        let gpt2: [String: Any] = ["type": "ByteLevel", "add_prefix_space": true, "use_regex": true]
        let a = try Tokenizer(jsonData: TinyTokenizer.json(merges: [], added: [TinyTokenizer.addedToken(300, "<s>")],
                                                           preTokenizer: gpt2))
        XCTAssertEqual(a.encode("hi yo"), [32, 104, 105, 32, 121, 111])
        XCTAssertEqual(a.encode(" hi"), [32, 104, 105])
        XCTAssertEqual(a.encode("x<s>y"), [32, 120, 300, 32, 121])
        // After a Split, ByteLevel sees each piece.
        let split: [String: Any] = [
            "type": "Sequence",
            "pretokenizers": [
                ["type": "Split", "pattern": ["Regex": PieceSplitter.qwen2Regex], "behavior": "Isolated", "invert": false],
                ["type": "ByteLevel", "add_prefix_space": true, "use_regex": false],
            ],
        ]
        let b = try Tokenizer(jsonData: TinyTokenizer.json(merges: [], preTokenizer: split))
        XCTAssertEqual(b.encode("hi 12"), [32, 104, 105, 32, 32, 49, 32, 50])   // "hi", " ", "1", "2"
    }
}
