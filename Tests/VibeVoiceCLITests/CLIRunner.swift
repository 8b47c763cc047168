import Foundation
import XCTest

/// Runs the built `vibevoice-asr` binary (it sits next to the test bundle) and captures its output.
enum CLIRunner {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        var stdoutData: Data
    }

    /// On macOS the bundle is `debug/X.xctest`; on Linux Foundation reports the folder holding
    /// the test executable itself (`debug/`).
    static let binary: URL = {
        let bundle = Bundle(for: Marker.self).bundleURL
        let candidates = [bundle.deletingLastPathComponent().appendingPathComponent("vibevoice-asr"),
                          bundle.appendingPathComponent("vibevoice-asr")]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }()

    private final class Marker {}

    /// Runs with `arguments`, feeding `stdin`; stdout and stderr go through temporary files so a
    /// chatty process can never block on a full pipe.
    /// `environment` adds to (or replaces in) this process's environment; `unsetting` names variables to leave out.
    static func run(_ arguments: [String], stdin: Data = Data(), environment: [String: String]? = nil,
                    unsetting: [String] = []) throws -> Result {
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            XCTFail("vibevoice-asr is not built next to the test bundle at \(binary.path)")
            throw CocoaError(.fileNoSuchFile)
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cli-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let outURL = dir.appendingPathComponent("out"), errURL = dir.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        if environment != nil || !unsetting.isEmpty {
            var env = ProcessInfo.processInfo.environment.merging(environment ?? [:]) { $1 }
            for name in unsetting { env[name] = nil }
            process.environment = env
        }
        let outHandle = try FileHandle(forWritingTo: outURL)
        let errHandle = try FileHandle(forWritingTo: errURL)
        process.standardOutput = outHandle
        process.standardError = errHandle
        let input = Pipe()
        process.standardInput = input
        try process.run()
        input.fileHandleForWriting.write(stdin)
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        try outHandle.close()
        try errHandle.close()
        // Through a file handle: Foundation's Data(contentsOf:) leaks 4 KB on an empty file (LeakSanitizer).
        let o = try readAll(outURL)
        let e = try readAll(errURL)
        return Result(status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                      stderr: String(decoding: e, as: UTF8.self), stdoutData: o)
    }

    private static func readAll(_ url: URL) throws -> Data {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        return try handle.readToEnd() ?? Data()
    }

    static func makeTempDir(_ test: XCTestCase) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vv-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }
}
