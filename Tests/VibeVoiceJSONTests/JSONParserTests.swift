import Foundation
import VibeVoiceJSON
import XCTest

/// Strict parsing, as for config.json, model.safetensors.index.json and safetensors headers.
final class StrictJSONParserTests: XCTestCase {
    private func parse(_ s: String) throws -> JSONValue { try JSONValue.parse(Data(s.utf8)) }

    private func parseError(_ bytes: [UInt8], options: JSONParseOptions = .strict) -> JSONParseError? {
        do {
            _ = try JSONValue.parse(bytes, options: options)
            return nil
        } catch {
            return error
        }
    }

    func testJSONParserDetails() throws {
        XCTAssertEqual(try parse(#" {"a": [1, -2, 3.5, 1e-06, true, false, null, "x\"\u00e9\ud83d\ude00"]} "#),
                       .object(["a": .array([.int(1), .int(-2), .double(3.5), .double(1e-6), .bool(true), .bool(false),
                                             .null, .string("x\"é😀")])]))
        XCTAssertEqual(try parse("9007199254740993"), .int(9_007_199_254_740_993))
        for bad in ["", "01", "1.", "-", "[1 2]", #""\ud800""#, #""\x""#, "tru", "{\"a\"}", "1e400"] {
            XCTAssertThrowsError(try parse(bad), bad)
        }
    }

    func testIntegersStayExactAtTheLimits() throws {
        XCTAssertEqual(try parse("9223372036854775807"), .int(Int.max))
        XCTAssertEqual(try parse("-9223372036854775808"), .int(Int.min))
        XCTAssertEqual(try parse("-0"), .int(0))
        // One past Int.max is still a number, as a double.
        XCTAssertEqual(try parse("9223372036854775808"), .double(9_223_372_036_854_775_808))
        XCTAssertEqual(try parse("[2.5e3, 1E+2, 0.125]"), .array([.double(2500), .double(100), .double(0.125)]))
        XCTAssertEqual(try parse("64.0").int, 64)
        XCTAssertNil(try parse("64.5").int)
        XCTAssertEqual(try parse("7").double, 7)
        for bad in ["+1", ".5", "1e", "1e+", "--1", "0x10", "Infinity", "NaN"] {
            XCTAssertThrowsError(try parse(bad), bad)
        }
    }

    func testObjectsKeepMemberOrder() throws {
        let v = try parse(#"{"z": 1, "a": {"y": null, "b": [true]}, "m": "x"}"#)
        let o = try XCTUnwrap(v.object)
        XCTAssertEqual(o.keys, ["z", "a", "m"])
        XCTAssertEqual(o.map(\.key), ["z", "a", "m"])
        XCTAssertEqual(o.count, 3)
        XCTAssertEqual(o["m"], .string("x"))
        XCTAssertNil(o["nope"])
        XCTAssertEqual(v["a"]?["b"], .array([.bool(true)]))
        XCTAssertEqual(v["a"]?.object?.keys, ["y", "b"])
        XCTAssertEqual(o.dictionary["z"], .int(1))
        XCTAssertFalse(o.hasDuplicateKeys)
        XCTAssertNil(JSONValue.int(3)["z"])
        XCTAssertEqual(v.kindDescription, "an object")
        XCTAssertEqual(JSONValue.double(1).kindDescription, "a number")
    }

    func testDuplicateKeysAreRejectedOrKept() throws {
        let text = Array(#"{"a": 1, "b": {"c": 2, "c": 3}}"#.utf8)
        let error = try XCTUnwrap(parseError(text))
        XCTAssertEqual(error, JSONParseError(message: "duplicate key \"c\"", offset: 23))
        XCTAssertEqual(error.description, "duplicate key \"c\" at byte 23")
        var lenient = JSONParseOptions.strict
        lenient.rejectDuplicateKeys = false
        let v = try JSONValue.parse(text, options: lenient)
        let inner = try XCTUnwrap(v["b"]?.object)
        XCTAssertTrue(inner.hasDuplicateKeys)
        XCTAssertEqual(inner.count, 2)
        XCTAssertEqual(inner["c"], .int(2))
        XCTAssertEqual(inner.dictionary, ["c": .int(2)])
    }

    func testNestingLimit() throws {
        func nested(_ n: Int) -> [UInt8] { Array((String(repeating: "[", count: n) + String(repeating: "]", count: n)).utf8) }
        XCTAssertNil(parseError(nested(64)))
        XCTAssertEqual(parseError(nested(65)), JSONParseError(message: "nesting deeper than 64 levels", offset: 64))
        XCTAssertNil(parseError(nested(200), options: JSONParseOptions(maxDepth: 512)))
        // Deep hostile input fails cleanly instead of exhausting the stack.
        XCTAssertNotNil(parseError(nested(100_000), options: JSONParseOptions(maxDepth: 512)))
    }

    func testStringsMustBeValidUTF8() throws {
        // The offset is that of the first byte of the bad sequence.
        for (bytes, offset) in [([0x22, 0x61, 0xFF, 0x22], 2), ([0x22, 0xC3, 0x22], 1), ([0x22, 0xC0, 0xAF, 0x22], 1),
                                ([0x22, 0xED, 0xA0, 0x80, 0x22], 1), ([0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], 1),
                                ([0x22, 0x5C, 0x6E, 0xE4, 0xBD, 0x22], 3)] as [([UInt8], Int)] {
            let error = parseError(bytes)
            XCTAssertEqual(error?.offset, offset, "\(bytes)")
            XCTAssertEqual(error?.message, "string is not valid UTF-8", "\(bytes)")
        }
        XCTAssertEqual(try JSONValue.parse([0x22, 0xE4, 0xBD, 0xA0, 0xF0, 0x9F, 0x98, 0x80, 0x5C, 0x74, 0x22]),
                       .string("你😀\t"))
        // A byte that cannot start any value.
        XCTAssertEqual(parseError([0xFF]), JSONParseError(message: "unexpected byte 0xFF", offset: 0))
    }

    func testStrictRejectsWhatTheLenientReaderAccepts() throws {
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF] + Array("[1]".utf8)
        XCTAssertEqual(parseError(bom)?.offset, 0)
        XCTAssertEqual(try JSONValue.parse(bom, options: JSONParseOptions(allowByteOrderMark: true)), .array([.int(1)]))
        XCTAssertEqual(parseError(Array(#""\udc00""#.utf8))?.message, "unpaired surrogate")
        XCTAssertEqual(parseError(Array(#""\ud800\u0041""#.utf8))?.message, "invalid low surrogate")
        XCTAssertEqual(try JSONValue.parse(Array(#""\ud800\u0041""#.utf8),
                                           options: JSONParseOptions(replaceLoneSurrogates: true)),
                       .string("\u{FFFD}A"))
    }

    func testEveryInputFormReadsTheSame() throws {
        let text = #"{"k": [1, "two", 3.0]}"#
        let bytes = Array(text.utf8)
        let expected = try JSONValue.parse(Data(text.utf8))
        XCTAssertEqual(try JSONValue.parse(bytes), expected)
        XCTAssertEqual(try bytes.withUnsafeBytes { raw throws(JSONParseError) in try JSONValue.parse(raw) }, expected)
        XCTAssertEqual(try bytes.withUnsafeBufferPointer { buffer throws(JSONParseError) in try JSONValue.parse(buffer) },
                       expected)
        // A slice of a larger buffer: every read stays inside it.
        let padded = Array("xx".utf8) + bytes + Array("[".utf8)
        let inner = try padded.withUnsafeBytes { raw throws(JSONParseError) in
            try JSONValue.parse(UnsafeRawBufferPointer(rebasing: raw[2..<(2 + bytes.count)]))
        }
        XCTAssertEqual(inner, expected)
        XCTAssertEqual(parseError(Array(text.utf8.dropLast()))?.message, "unexpected end of input in an object")
    }
}

/// Lenient parsing, as for tokenizer.json.
final class TokenizerJSONReaderTests: XCTestCase {
    private let options = JSONParseOptions(maxDepth: 512, rejectDuplicateKeys: false, allowByteOrderMark: true,
                                           replaceLoneSurrogates: true)

    private func parse(_ text: String) throws -> JSONValue {
        try JSONValue.parse(Array(text.utf8), options: options)
    }

    func testValuesAndEscapes() throws {
        let v = try parse(#"""
            {"a": "x\u00e9\ud83d\ude00\n\"\\\/", "b": [1, -2, 3.5, 4e1, true, false, null], "c": {}, "d": [],
             "e": "\ud800 lone", "f": "ünïcödé 你好"}
            """#)
        XCTAssertEqual(v["a"]?.string, "x\u{e9}\u{1F600}\n\"\\/")
        let b = try XCTUnwrap(v["b"]?.array)
        XCTAssertEqual(b.count, 7)
        XCTAssertEqual(b[0].int, 1)
        XCTAssertEqual(b[1].int, -2)
        XCTAssertNil(b[2].int)
        XCTAssertEqual(b[3].int, 40)
        XCTAssertEqual(b[4].bool, true)
        XCTAssertEqual(b[5].bool, false)
        XCTAssertTrue(b[6].isNull)
        XCTAssertEqual(v["c"]?.object?.count, 0)
        XCTAssertEqual(v["d"]?.array?.count, 0)
        XCTAssertEqual(v["e"]?.string, "\u{FFFD} lone")
        XCTAssertEqual(v["f"]?.string, "ünïcödé 你好")
        XCTAssertNil(v["missing"])
        // A byte-order mark before the document is accepted; one inside a string is kept.
        XCTAssertEqual(try parse("\u{FEFF}[\"\u{FEFF}x\"]").array?.first?.string, "\u{FEFF}x")
    }

    func testErrorsGiveOffsets() {
        for (text, offset) in [("{\"a\" 1}", 5), ("[1,", 3), ("[1 2]", 3), ("\"abc", 4), ("[tru]", 1), ("{} x", 3),
                               ("[\"\\q\"]", 4), ("-", 0)] {
            XCTAssertThrowsError(try parse(text), text) { e in
                XCTAssertEqual((e as? JSONParseError)?.offset, offset, text)
            }
        }
    }
}

final class FileContentsTests: XCTestCase {
    /// Fuzzing finding (FuzzShardIndex, leak sanitizer): `Data(contentsOf:)` leaks 4 KB on an empty file;
    /// `FileContents.read` gives empty data without it. Run under `--sanitize=address` for the leak check.
    func testEmptyAndSmallFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("filecontents-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let empty = dir.appendingPathComponent("empty.json")
        try Data().write(to: empty)
        XCTAssertEqual(try FileContents.read(empty), Data())
        XCTAssertEqual(try FileContents.read(empty, mapped: true), Data())
        let small = dir.appendingPathComponent("small.json")
        try Data("{}".utf8).write(to: small)
        XCTAssertEqual(try FileContents.read(small, mapped: true), Data("{}".utf8))
        XCTAssertThrowsError(try FileContents.read(dir.appendingPathComponent("missing.json")))
    }
}
