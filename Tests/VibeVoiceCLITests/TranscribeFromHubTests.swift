import Foundation
import XCTest
import VibeVoiceASR
import VibeVoiceHub

/// `transcribe --model ORG/NAME` against a Hub stand-in on loopback serving a reference checkpoint:
/// first run downloads into an empty cache and gives the reference ids; offline with the server
/// gone gives the same; a cut transfer resumes with a Range request; an unknown repo exits 2.
final class TranscribeFromHubTests: XCTestCase {
    let repoID = "test-org/vv-tiny"
    let commit = "89abcdef0123456789abcdef0123456789abcdef"
    let caseDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/engine/hf_bf16_chunked")

    func referenceIDs() throws -> [Int] {
        let data = try Data(contentsOf: caseDir.appendingPathComponent("reference.safetensors"))
        let n = Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + n))) as! [String: Any]
        let off = (header["generated_ids"] as! [String: Any])["data_offsets"] as! [Int]
        return data.subdata(in: (8 + n + off[0])..<(8 + n + off[1])).withUnsafeBytes { $0.bindMemory(to: Int64.self).map { Int($0) } }
    }

    func testDownloadThenOfflineThenUnknownRepo() throws {
        let model = caseDir.appendingPathComponent("model")
        func file(_ name: String, lfs: Bool) throws -> (String, FixtureFile) {
            (name, FixtureFile(content: try Data(contentsOf: model.appendingPathComponent(name)), lfs: lfs))
        }
        let weights = try file("model.safetensors", lfs: true)
        let repo = FixtureRepo(commit: commit, files: [try file("config.json", lfs: false), weights,
                                                        try file("tokenizer.json", lfs: false)])
        let server = try HubTestServer()
        defer { server.stop() }
        server.add(repo: repoID, repo)
        server.cutNextResponse(path: "/cdn/\(weights.1.sha256)", afterBytes: weights.1.content.count / 2)

        let home = try CLIRunner.makeTempDir(self)
        let env = ["HF_ENDPOINT": server.baseURL.absoluteString, "HF_HOME": home.path,
                   "HF_HUB_CACHE": home.appendingPathComponent("hub").path, "HF_HUB_OFFLINE": "0"]
        let audio = caseDir.appendingPathComponent("audio.wav").path
        let args = ["transcribe", audio, "--model", repoID, "--format", "verbose_json", "--max-new-tokens", "24", "-q"]
        let expected = try referenceIDs()

        let first = try CLIRunner.run(args, environment: env)
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertEqual(tokens(first.stdoutData), expected)
        XCTAssertTrue(server.requests.contains { $0.headers["range"]?.hasPrefix("bytes=") == true },
                      "the cut transfer resumed with a Range request")
        let snapshot = home.appendingPathComponent("hub/models--test-org--vv-tiny/snapshots/\(commit)")
        XCTAssertEqual(FileManager.default.contents(atPath: snapshot.appendingPathComponent("model.safetensors").path),
                       weights.1.content)

        server.stop()
        var offline = env
        offline["HF_HUB_OFFLINE"] = "1"
        let second = try CLIRunner.run(args, environment: offline)
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssertEqual(tokens(second.stdoutData), expected)

        let unknown = try CLIRunner.run(["transcribe", audio, "--model", "test-org/no-such-model", "-q"], environment: offline)
        XCTAssertEqual(unknown.status, 2)
        XCTAssertTrue(unknown.stderr.contains("test-org/no-such-model"), unknown.stderr)
    }

    func testUnknownRepoOnlineExitsTwoAndNamesIt() throws {
        let server = try HubTestServer()
        defer { server.stop() }
        let home = try CLIRunner.makeTempDir(self)
        let run = try CLIRunner.run(["transcribe", caseDir.appendingPathComponent("audio.wav").path,
                                     "--model", "test-org/missing", "-q"],
                                    environment: ["HF_ENDPOINT": server.baseURL.absoluteString, "HF_HOME": home.path,
                                                  "HF_HUB_CACHE": home.appendingPathComponent("hub").path])
        XCTAssertEqual(run.status, 2)
        XCTAssertTrue(run.stderr.contains("test-org/missing"), run.stderr)
    }

    private func tokens(_ data: Data) -> [Int] {
        ((try? JSONSerialization.jsonObject(with: data)) as? [String: Any])?["tokens"] as? [Int] ?? []
    }
}
