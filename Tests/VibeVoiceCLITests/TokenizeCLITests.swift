import Foundation
import XCTest

/// End to end: runs the built `vibevoice-asr` binary for `prompt` and `tokenize`, feeding stdin.
final class TokenizeCLITests: XCTestCase {
    static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()

    /// The Qwen2.5 tokenizer.json fixture, unpacked once into the temporary directory (keyed by the archive's
    /// size and date, moved into place atomically) and reused by later runs.
    static let tokenizerPath: String? = {
        let gz = testsDirectory.appendingPathComponent("Fixtures/tokenizer/qwen2.5-tokenizer.json.gz")
        let fm = FileManager.default
        guard let attributes = try? fm.attributesOfItem(atPath: gz.path),
              let size = attributes[.size] as? Int, let date = attributes[.modificationDate] as? Date else { return nil }
        let dir = fm.temporaryDirectory
            .appendingPathComponent("vibevoice-fixture-qwen2.5-\(size)-\(Int(date.timeIntervalSince1970))")
        let out = dir.appendingPathComponent("tokenizer.json")
        if fm.fileExists(atPath: out.path) { return out.path }
        let partial = dir.appendingPathComponent("tokenizer.json.\(ProcessInfo.processInfo.processIdentifier).partial")
        guard (try? fm.createDirectory(at: dir, withIntermediateDirectories: true)) != nil,
              fm.createFile(atPath: partial.path, contents: nil),
              let handle = try? FileHandle(forWritingTo: partial) else { return nil }
        defer { try? handle.close() }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/gzip")
        p.arguments = ["-dc", gz.path]
        p.standardOutput = handle
        guard (try? p.run()) != nil else { return nil }
        p.waitUntilExit()
        guard p.terminationStatus == 0, rename(partial.path, out.path) == 0 else {
            try? fm.removeItem(at: partial)
            return nil
        }
        return out.path
    }()

    func tokenizer() throws -> String { try XCTUnwrap(Self.tokenizerPath, "cannot unpack the tokenizer fixture") }

    func testPromptPrintsSpecIDs() throws {
        let r = try CLIRunner.run(["prompt", "--tokenizer", tokenizer(), "--samples", "140640"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let expected = "[151644,8948,198,2610,525,264,10950,17847,429,1356,55136,7699,1946,1119,1467,2550,304,4718,3561,"
            + "13,151645,198,151644,872,198,151646," + String(repeating: "151648,", count: 44)
            + "151647,198,1986,374,264,220,20,13,23,21,6486,7699,11,4486,1356,3114,432,448,1493,6894,25,5145,882,11,"
            + "3972,882,11,29073,3034,11,8883,151645,198]\n"
        XCTAssertEqual(r.stdout, expected)
    }

    func testPromptWithContext() throws {
        let plain = try CLIRunner.run(["prompt", "--tokenizer", tokenizer(), "--samples", "140640"])
        let blank = try CLIRunner.run(["prompt", "--tokenizer", tokenizer(), "--samples", "140640",
                                       "--context", "  \n "])
        XCTAssertEqual(blank.stdout, plain.stdout)
        let withContext = try CLIRunner.run(["prompt", "--tokenizer", tokenizer(), "--samples", "140640",
                                             "--context", " Quilter "])
        XCTAssertEqual(withContext.status, 0, withContext.stderr)
        XCTAssertNotEqual(withContext.stdout, plain.stdout)
        let ids = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(withContext.stdout.utf8)) as? [Int])
        // Decode it back through the CLI: the context is in the text, trimmed.
        let text = try CLIRunner.run(["tokenize", "--tokenizer", tokenizer(), "--decode"],
                                     stdin: Data(withContext.stdout.utf8))
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("This is a 5.86 seconds audio, with extra info: Quilter\n\nPlease transcribe"),
                      text.stdout)
        XCTAssertEqual(ids.filter { $0 == 151648 }.count, 44)
    }

    func testEncodeAndDecode() throws {
        let enc = try CLIRunner.run(["tokenize", "--tokenizer", tokenizer()], stdin: Data("Hello world<|im_end|>".utf8))
        XCTAssertEqual(enc.status, 0, enc.stderr)
        XCTAssertEqual(enc.stdout, "[9707,1879,151645]\n")
        let cjk = try CLIRunner.run(["tokenize", "--tokenizer", tokenizer()], stdin: Data("你好\n".utf8))
        XCTAssertEqual(cjk.stdout, "[108386,198]\n")
        // A leading byte-order mark is text like any other (U+FEFF is token 3225 here).
        let bom = try CLIRunner.run(["tokenize", "--tokenizer", tokenizer()], stdin: Data("\u{FEFF}bom at start".utf8))
        XCTAssertEqual(bom.stdout, "[3225,65,316,518,1191]\n")
        let empty = try CLIRunner.run(["tokenize", "--tokenizer", tokenizer()])
        XCTAssertEqual(empty.stdout, "[]\n")

        let dec = try CLIRunner.run(["tokenize", "--tokenizer", tokenizer(), "--decode"],
                                    stdin: Data(" [151644, 77091, 198, 9707,1879 ,151645]\n".utf8))
        XCTAssertEqual(dec.status, 0, dec.stderr)
        XCTAssertEqual(dec.stdout, "<|im_start|>assistant\nHello world<|im_end|>\n")
        let skip = try CLIRunner.run(["tokenize", "--tokenizer", tokenizer(), "--decode", "--skip-special-tokens"],
                                     stdin: Data("[151644,77091,198,9707,1879,151645,160,999999]".utf8))
        XCTAssertEqual(skip.status, 0, skip.stderr)
        XCTAssertEqual(skip.stdout, "assistant\nHello world\u{FFFD}\n")
    }

    func testBadInputIsAUsageError() throws {
        for bad in ["hello", "[1,2", "[1.5]", "[\"a\"]", "{}", "[1,]", "[1] x", ""] {
            let r = try CLIRunner.run(["tokenize", "--tokenizer", tokenizer(), "--decode"], stdin: Data(bad.utf8))
            XCTAssertEqual(r.status, 1, "input \(bad)")
            XCTAssertTrue(r.stderr.contains("JSON array of integer token ids"), r.stderr)
            XCTAssertEqual(r.stdout, "")
        }
        let notUTF8 = try CLIRunner.run(["tokenize", "--tokenizer", tokenizer()], stdin: Data([0x61, 0xFF, 0xFE]))
        XCTAssertEqual(notUTF8.status, 1)
        XCTAssertTrue(notUTF8.stderr.contains("UTF-8"), notUTF8.stderr)
        let misplaced = try CLIRunner.run(["tokenize", "--tokenizer", tokenizer(), "--skip-special-tokens"],
                                          stdin: Data("a".utf8))
        XCTAssertEqual(misplaced.status, 1)
        XCTAssertTrue(misplaced.stderr.contains("--decode"), misplaced.stderr)
    }

    func testPromptRejectsBadSampleCounts() throws {
        for n in ["--samples=-1", "--samples=99999999999"] {
            let r = try CLIRunner.run(["prompt", "--tokenizer", tokenizer(), n])
            XCTAssertEqual(r.status, 1, n)
            XCTAssertTrue(r.stderr.contains("--samples must be between"), r.stderr)
        }
    }

    func testMissingTokenizerSaysWhatIsNeeded() throws {
        for args in [["tokenize", "--tokenizer", "/nonexistent/model"],
                     ["prompt", "--tokenizer", "/nonexistent/model", "--samples", "1"]] {
            let r = try CLIRunner.run(args, stdin: Data("x".utf8))
            XCTAssertNotEqual(r.status, 0)
            XCTAssertTrue(r.stderr.contains("tokenizer.json"), r.stderr)
            XCTAssertTrue(r.stderr.contains("--tokenizer"), r.stderr)
            XCTAssertEqual(r.stdout, "")
        }
    }
}
