import Foundation
import XCTest
import VibeVoiceASR
import VibeVoiceHub

/// Collects progress events from the download thread.
final class ProgressLog: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [HubProgress] = []
    func append(_ p: HubProgress) { lock.lock(); items.append(p); lock.unlock() }
    var events: [HubProgress] { lock.lock(); defer { lock.unlock() }; return items }
    var callback: @Sendable (HubProgress) -> Void { { [self] in self.append($0) } }
}

/// Deterministic pseudo-random bytes (SplitMix64).
func randomBytes(_ count: Int, seed: UInt64) -> Data {
    var state = seed
    var out = Data(count: count)
    for i in 0..<count {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        out[i] = UInt8(truncatingIfNeeded: z ^ (z >> 31))
    }
    return out
}

final class HubClientTests: XCTestCase {
    let repoID = "test-org/tiny-model"
    let commit = "0123456789abcdef0123456789abcdef01234567"
    let devCommit = "fedcba9876543210fedcba9876543210fedcba98"
    var cache: URL!
    var server: HubTestServer!
    var fixture: FixtureRepo!

    override func setUpWithError() throws {
        cache = FileManager.default.temporaryDirectory
            .appendingPathComponent("vibevoice-hub-\(UUID().uuidString)", isDirectory: true)
            .appendingPathComponent("hub", isDirectory: true)
        let shard1 = randomBytes(300_000, seed: 1)
        let shard2 = randomBytes(120_001, seed: 2)
        let index = #"{"metadata":{"total_size":420001},"weight_map":{"a.weight":"model-00001-of-00002.safetensors","b.weight":"model-00002-of-00002.safetensors"}}"#
        fixture = FixtureRepo(commit: commit, branches: ["dev": devCommit], files: [
            ("README.md", FixtureFile(content: Data("# tiny\n".utf8), lfs: false)),
            ("config.json", FixtureFile(content: Data(#"{"model_type":"vibevoice_asr"}"#.utf8), lfs: false)),
            ("model-00001-of-00002.safetensors", FixtureFile(content: shard1, lfs: true)),
            ("model-00002-of-00002.safetensors", FixtureFile(content: shard2, lfs: true)),
            ("model.safetensors.index.json", FixtureFile(content: Data(index.utf8), lfs: false)),
            ("pytorch_model.bin", FixtureFile(content: randomBytes(1000, seed: 3), lfs: true)),
            ("sub/dir/extra.safetensors", FixtureFile(content: randomBytes(5000, seed: 4), lfs: true)),
            ("tokenizer.json", FixtureFile(content: Data(#"{"model":{"type":"BPE"}}"#.utf8), lfs: false)),
        ])
        server = try HubTestServer()
        server.add(repo: repoID, fixture)
    }

    override func tearDownWithError() throws {
        server?.stop()
        if let cache { try? FileManager.default.removeItem(at: cache.deletingLastPathComponent()) }
        // XCTest keeps every test case object until the process exits: without this, each of them would hold its
        // 420 KB of shards to the end (LeakSanitizer reported them at exit, 8.5 MB over the class).
        server = nil
        fixture = nil
    }

    func client(token: String? = nil, offline: Bool = false) -> HubClient {
        HubClient(endpoint: server.baseURL, token: token, cacheDirectory: cache, offline: offline)
    }

    var repoDir: URL { cache.appendingPathComponent("models--test-org--tiny-model") }

    func file(_ name: String) -> FixtureFile { fixture.files.first { $0.name == name }!.file }

    let defaultNames = ["config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                        "model.safetensors.index.json", "tokenizer.json"]

    /// Every wanted file is a relative symlink to ../../blobs/<hash> with the right bytes.
    func assertSnapshot(_ dir: URL, names: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let fm = FileManager.default
        for name in names {
            let path = dir.appendingPathComponent(name).path
            let depth = name.split(separator: "/").count + 1
            let destination = try fm.destinationOfSymbolicLink(atPath: path)
            XCTAssertEqual(destination, String(repeating: "../", count: depth) + "blobs/" + self.file(name).blobName,
                           name, file: file, line: line)
            XCTAssertEqual(fm.contents(atPath: path), self.file(name).content, name, file: file, line: line)
        }
    }

    // MARK: Tests

    func testFirstDownloadLayoutThenOfflineAndFallback() throws {
        let progress = ProgressLog()
        let dir = try client().snapshot(repo: repoID, progress: progress.callback)
        XCTAssertEqual(dir.standardizedFileURL.path,
                       repoDir.appendingPathComponent("snapshots/\(commit)").standardizedFileURL.path)
        try assertSnapshot(dir, names: defaultNames)
        let fm = FileManager.default
        XCTAssertEqual(try String(contentsOf: repoDir.appendingPathComponent("refs/main"), encoding: .utf8), commit)
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: dir.path).sorted(), defaultNames)
        let blobs = try fm.contentsOfDirectory(atPath: repoDir.appendingPathComponent("blobs").path)
        XCTAssertEqual(Set(blobs), Set(defaultNames.map { file($0).blobName }))
        XCTAssertTrue(fm.fileExists(atPath: cache.appendingPathComponent(".locks/models--test-org--tiny-model").path))
        // Skipped files were never requested.
        let paths = server.requests.map(\.path)
        XCTAssertFalse(paths.contains { $0.contains("README") || $0.contains(".bin") || $0.contains("extra") }, "\(paths)")
        XCTAssertFalse(server.requests.contains { $0.headers["authorization"] != nil })
        // Progress: a file event per download, a final byte count equal to the size, done last.
        let events = progress.events
        let fileEvents = events.compactMap { e -> (String, Int, Int, Int64?)? in
            if case let .file(name, index, count, size) = e { return (name, index, count, size) } else { return nil }
        }
        XCTAssertEqual(fileEvents.map(\.0), defaultNames)
        XCTAssertEqual(fileEvents.map(\.1), [1, 2, 3, 4, 5])
        XCTAssertTrue(fileEvents.allSatisfy { $0.2 == 5 })
        XCTAssertEqual(fileEvents[1].3, 300_000)
        let shardBytes = events.compactMap { e -> Int64? in
            if case let .bytes(name, done, _, _) = e, name == "model-00001-of-00002.safetensors" { return done } else { return nil }
        }
        XCTAssertEqual(shardBytes.last, 300_000)
        XCTAssertEqual(shardBytes.filter { $0 == 300_000 }.count, 1)
        XCTAssertEqual(shardBytes, shardBytes.sorted())
        guard case let .done(doneURL)? = events.last else { return XCTFail("last event is not .done: \(events)") }
        XCTAssertEqual(doneURL, dir)

        // Second online call: only the API is asked, everything is cached.
        server.clearLog()
        let again = ProgressLog()
        XCTAssertEqual(try client().snapshot(repo: repoID, progress: again.callback), dir)
        XCTAssertEqual(server.requests.map(\.path), ["/api/models/\(repoID)/revision/main"])
        XCTAssertEqual(again.events.filter { if case .cached = $0 { return true } else { return false } }.count, 5)

        // Server gone: offline mode returns the snapshot without touching the network.
        server.stop()
        XCTAssertEqual(try client(offline: true).snapshot(repo: repoID), dir)
        XCTAssertEqual(try client(offline: true).snapshot(repo: repoID, revision: commit), dir)
        // Online but unreachable: falls back to the complete cached snapshot, and says so.
        let fallback = ProgressLog()
        XCTAssertEqual(try client().snapshot(repo: repoID, progress: fallback.callback), dir)
        XCTAssertTrue(fallback.events.contains { if case .usingCache = $0 { return true } else { return false } })
        // ...but not for a revision that was never fetched.
        XCTAssertThrowsError(try client().snapshot(repo: repoID, revision: "dev")) { error in
            guard case let .network(message)? = error as? HubError else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("connection refused"), message)
        }
    }

    func testOfflineWithoutCacheFails() throws {
        XCTAssertThrowsError(try client(offline: true).snapshot(repo: repoID)) { error in
            XCTAssertEqual(error as? HubError, .notCachedOffline(repo: repoID, revision: "main"))
            XCTAssertTrue("\(error)".contains("offline"))
            XCTAssertTrue("\(error)".contains(repoID))
        }
        XCTAssertTrue(server.requests.isEmpty)
        // An incomplete snapshot (a shard of the index missing) does not count as cached.
        _ = try client().snapshot(repo: repoID)
        try FileManager.default.removeItem(
            at: repoDir.appendingPathComponent("snapshots/\(commit)/model-00002-of-00002.safetensors"))
        XCTAssertThrowsError(try client(offline: true).snapshot(repo: repoID))
        // Online, the missing shard is fetched again from the blob already on disk.
        server.clearLog()
        _ = try client().snapshot(repo: repoID)
        XCTAssertFalse(server.requests.contains { $0.path.hasPrefix("/cdn/") })
        XCTAssertNotNil(try client(offline: true).snapshot(repo: repoID))
    }

    func testInterruptedDownloadResumesWithRange() throws {
        let shard = file("model-00001-of-00002.safetensors")
        server.cutNextResponse(path: "/cdn/\(shard.sha256)", afterBytes: 100_000)
        let dir = try client().snapshot(repo: repoID)
        try assertSnapshot(dir, names: defaultNames)
        let shardGets = server.requests.filter { $0.method == "GET" && $0.path == "/cdn/\(shard.sha256)" }
        XCTAssertEqual(shardGets.count, 2, "\(shardGets)")
        XCTAssertNil(shardGets[0].headers["range"])
        let range = try XCTUnwrap(shardGets[1].headers["range"])
        let start = Int(range.dropFirst("bytes=".count).dropLast()) ?? -1
        XCTAssertTrue(range.hasPrefix("bytes=") && range.hasSuffix("-"), range)
        XCTAssertTrue(start > 0 && start <= 100_000, range)
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: repoDir.appendingPathComponent("blobs").path)
            .contains { $0.hasSuffix(".incomplete") })
    }

    func testPartialFileFromEarlierRunIsResumed() throws {
        let shard = file("model-00002-of-00002.safetensors")
        let blobs = repoDir.appendingPathComponent("blobs")
        try FileManager.default.createDirectory(at: blobs, withIntermediateDirectories: true)
        try shard.content.prefix(50_000).write(to: blobs.appendingPathComponent("\(shard.sha256).incomplete"))
        let dir = try client().snapshot(repo: repoID)
        try assertSnapshot(dir, names: defaultNames)
        let gets = server.requests.filter { $0.method == "GET" && $0.path == "/cdn/\(shard.sha256)" }
        XCTAssertEqual(gets.map { $0.headers["range"] }, ["bytes=50000-"])
    }

    func testServerIgnoringRangeRestartsFromZero() throws {
        let shard = file("model-00002-of-00002.safetensors")
        let blobs = repoDir.appendingPathComponent("blobs")
        try FileManager.default.createDirectory(at: blobs, withIntermediateDirectories: true)
        // A stale partial file whose bytes do not even match: the full answer replaces it.
        try randomBytes(50_000, seed: 99).write(to: blobs.appendingPathComponent("\(shard.sha256).incomplete"))
        server.ignoreRange()
        let dir = try client().snapshot(repo: repoID)
        try assertSnapshot(dir, names: defaultNames)
        let gets = server.requests.filter { $0.method == "GET" && $0.path == "/cdn/\(shard.sha256)" }
        XCTAssertEqual(gets.map { $0.headers["range"] }, ["bytes=50000-"])
    }

    func testPartialFileWithWrongBytesFailsTheHashAndIsRemoved() throws {
        let shard = file("model-00002-of-00002.safetensors")
        let blobs = repoDir.appendingPathComponent("blobs")
        try FileManager.default.createDirectory(at: blobs, withIntermediateDirectories: true)
        let partial = blobs.appendingPathComponent("\(shard.sha256).incomplete")
        try randomBytes(50_000, seed: 99).write(to: partial)
        XCTAssertThrowsError(try client().snapshot(repo: repoID)) { error in
            guard case .integrityMismatch(file: "model-00002-of-00002.safetensors", _, _)? = error as? HubError else {
                return XCTFail("\(error)")
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: partial.path))
        // The next run starts clean and succeeds.
        try assertSnapshot(try client().snapshot(repo: repoID), names: defaultNames)
    }

    func testTimeoutIsAnIdleLimitNotATransferLimit() throws {
        // Each shard takes well over the timeout in total, but data keeps coming.
        server.trickle(bytes: 50_000, pause: 0.3)
        var slow = client()
        slow.timeout = 1
        let start = Date()
        let dir = try slow.snapshot(repo: repoID)
        XCTAssertGreaterThan(Date().timeIntervalSince(start), 1.5)  // the first shard alone takes 5 pauses
        try assertSnapshot(dir, names: defaultNames)
        XCTAssertEqual(server.requests.filter { $0.path.hasPrefix("/cdn/") && $0.method == "GET" }.count, 2)
    }

    func testCorruptTransferIsDetectedAndLeavesNoBlob() throws {
        let shard = file("model-00001-of-00002.safetensors")
        server.corrupt(sha: shard.sha256)
        XCTAssertThrowsError(try client().snapshot(repo: repoID)) { error in
            guard case let .integrityMismatch(name, expected, actual)? = error as? HubError else { return XCTFail("\(error)") }
            XCTAssertEqual(name, "model-00001-of-00002.safetensors")
            XCTAssertEqual(expected, "sha256 \(shard.sha256)")
            XCTAssertNotEqual(actual, expected)
        }
        let fm = FileManager.default
        let blobs = try fm.contentsOfDirectory(atPath: repoDir.appendingPathComponent("blobs").path)
        XCTAssertFalse(blobs.contains { $0.hasPrefix(shard.sha256) }, "\(blobs)")
        XCTAssertNil(try? fm.destinationOfSymbolicLink(
            atPath: repoDir.appendingPathComponent("snapshots/\(commit)/model-00001-of-00002.safetensors").path))
    }

    func testUnknownRepoAndRevision() throws {
        XCTAssertThrowsError(try client().snapshot(repo: "test-org/missing")) { error in
            XCTAssertEqual(error as? HubError, .repoNotFound(repo: "test-org/missing"))
            XCTAssertTrue("\(error)".contains("test-org/missing"))
            XCTAssertTrue("\(error)".contains("HF_TOKEN"))
        }
        XCTAssertThrowsError(try client().snapshot(repo: repoID, revision: "no-such-branch")) { error in
            XCTAssertEqual(error as? HubError, .revisionNotFound(repo: repoID, revision: "no-such-branch"))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: cache.appendingPathComponent("models--test-org--missing").path))
    }

    func testTokenIsSentAsBearerButNotToAnotherOrigin() throws {
        let cdn = try HubTestServer()
        defer { cdn.stop() }
        cdn.addBlobs(of: fixture)
        server.setCDN(cdn.baseURL)
        let dir = try client(token: "hf_secret123").snapshot(repo: repoID)
        try assertSnapshot(dir, names: defaultNames)
        let hubRequests = server.requests
        XCTAssertFalse(hubRequests.isEmpty)
        for request in hubRequests {
            XCTAssertEqual(request.headers["authorization"], "Bearer hf_secret123", request.path)
        }
        let cdnRequests = cdn.requests
        XCTAssertEqual(Set(cdnRequests.map(\.path)),
                       ["/cdn/\(file("model-00001-of-00002.safetensors").sha256)",
                        "/cdn/\(file("model-00002-of-00002.safetensors").sha256)"])
        XCTAssertTrue(cdnRequests.allSatisfy { $0.headers["authorization"] == nil })
    }

    func testBranchRevisionWritesRefAndCommitRevisionDoesNot() throws {
        let dir = try client().snapshot(repo: repoID, revision: "dev")
        XCTAssertEqual(dir.lastPathComponent, devCommit)
        XCTAssertEqual(try String(contentsOf: repoDir.appendingPathComponent("refs/dev"), encoding: .utf8), devCommit)
        XCTAssertTrue(server.requests.contains { $0.path.hasPrefix("/\(repoID)/resolve/\(devCommit)/") })
        XCTAssertEqual(try client(offline: true).snapshot(repo: repoID, revision: "dev"), dir)

        let byCommit = try client().snapshot(repo: repoID, revision: commit)
        XCTAssertEqual(byCommit.lastPathComponent, commit)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: repoDir.appendingPathComponent("refs").path), ["dev"])
        // Same content under both commits: the blobs are shared, not downloaded twice.
        XCTAssertEqual(server.requests.filter { $0.path.hasPrefix("/cdn/") && $0.method == "GET" }.count, 2)
    }

    func testNestedFilesGetDeeperRelativeLinks() throws {
        let dir = try client().snapshot(repo: repoID, matching: { $0.hasSuffix(".safetensors") || $0 == "config.json" })
        try assertSnapshot(dir, names: ["config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                                        "sub/dir/extra.safetensors"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("pytorch_model.bin").path))
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: dir.appendingPathComponent("sub/dir/extra.safetensors").path),
                       "../../../../blobs/\(file("sub/dir/extra.safetensors").sha256)")
    }

    func testHostileSiblingNamesAreRejected() throws {
        for hostile in ["../../evil.safetensors", "/etc/evil.safetensors", "a/../../../evil.safetensors", "a//b.safetensors",
                        "./config.json"] {
            var repo = fixture!
            repo.extraSiblings = [hostile]
            server.add(repo: "test-org/hostile", repo)
            XCTAssertThrowsError(try client().snapshot(repo: "test-org/hostile", matching: { _ in true })) { error in
                XCTAssertEqual(error as? HubError, .unsafeFileName(repo: "test-org/hostile", name: hostile))
            }
        }
        let root = cache.deletingLastPathComponent()
        let everything = FileManager.default.enumerator(atPath: root.path)?.allObjects as? [String] ?? []
        XCTAssertFalse(everything.contains { $0.contains("evil") }, "\(everything)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: cache.appendingPathComponent("models--test-org--hostile/snapshots").path))
    }

    func testRepoIDAndRevisionValidation() throws {
        for good in ["microsoft/VibeVoice-ASR", "microsoft/VibeVoice-ASR-HF", "Qwen/Qwen2.5-7B", "a/b", "org_1/name.v2"] {
            XCTAssertTrue(HubClient.isRepoID(good), good)
        }
        for bad in ["", "gpt2", "a/b/c", "../etc", "a/..", "/abs/path", "a/b/", "./model", "org/na me", "org/-x", "org/x.",
                    "org/a--b", "org/a..b", "models/~/x", "C:\\x/y"] {
            XCTAssertFalse(HubClient.isRepoID(bad), bad)
        }
        XCTAssertThrowsError(try client().snapshot(repo: "../etc")) { error in
            XCTAssertEqual(error as? HubError, .invalidRepoID("../etc"))
        }
        XCTAssertThrowsError(try client().snapshot(repo: repoID, revision: "../../x")) { error in
            XCTAssertEqual(error as? HubError, .invalidRevision("../../x"))
        }
        XCTAssertTrue(server.requests.isEmpty)
    }

    func testDefaultFileFilter() {
        for yes in ["config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json",
                    "preprocessor_config.json", "special_tokens_map.json", "model.safetensors",
                    "model-00001-of-00004.safetensors", "model.safetensors.index.json"] {
            XCTAssertTrue(HubClient.defaultModelFiles(yes), yes)
        }
        for no in ["pytorch_model.bin", "model.pt", "model.onnx", "model-q4.gguf", "README.md", "figure.png",
                   ".gitattributes", "sub/model.safetensors", "training_args.bin"] {
            XCTAssertFalse(HubClient.defaultModelFiles(no), no)
        }
    }

    func testEnvironmentResolution() throws {
        let home = ["HOME": "/home/u"]
        XCTAssertEqual(HubClient.defaultCacheDirectory(environment: home).path, "/home/u/.cache/huggingface/hub")
        XCTAssertEqual(HubClient.defaultCacheDirectory(environment: home.merging(["HF_HOME": "/data/hf"]) { $1 }).path,
                       "/data/hf/hub")
        XCTAssertEqual(HubClient.defaultCacheDirectory(environment: home.merging(["XDG_CACHE_HOME": "/xdg"]) { $1 }).path,
                       "/xdg/huggingface/hub")
        XCTAssertEqual(HubClient.defaultCacheDirectory(environment: home.merging(["HF_HOME": "/data/hf", "HF_HUB_CACHE": "~/c"]) { $1 }).path,
                       "/home/u/c")
        XCTAssertEqual(HubClient.defaultEndpoint(environment: [:]).absoluteString, "https://huggingface.co")
        XCTAssertEqual(HubClient.defaultEndpoint(environment: ["HF_ENDPOINT": "https://hf-mirror.com"]).absoluteString,
                       "https://hf-mirror.com")
        for on in ["1", "true", "YES", "On"] { XCTAssertTrue(HubClient.defaultOffline(environment: ["HF_HUB_OFFLINE": on]), on) }
        for off in ["0", "false", "", "no"] { XCTAssertFalse(HubClient.defaultOffline(environment: ["HF_HUB_OFFLINE": off]), off) }
        XCTAssertFalse(HubClient.defaultOffline(environment: [:]))

        let hfHome = cache.deletingLastPathComponent().appendingPathComponent("hfhome")
        try FileManager.default.createDirectory(at: hfHome, withIntermediateDirectories: true)
        let env = ["HOME": "/home/u", "HF_HOME": hfHome.path]
        XCTAssertNil(HubClient.defaultToken(environment: env))
        try "hf_fromfile\n".write(to: hfHome.appendingPathComponent("token"), atomically: true, encoding: .utf8)
        XCTAssertEqual(HubClient.defaultToken(environment: env), "hf_fromfile")
        XCTAssertEqual(HubClient.defaultToken(environment: env.merging(["HF_TOKEN": "hf_env"]) { $1 }), "hf_env")
        // Trailing slashes on the endpoint do not double up in URLs.
        XCTAssertEqual(HubClient(endpoint: URL(string: "http://127.0.0.1:1/")!, token: nil, cacheDirectory: cache, offline: true)
            .endpoint.absoluteString, "http://127.0.0.1:1")
    }
}

/// The digest format the cache uses for blob names and etag checks (hashing itself is swift-crypto's).
final class HubDigestTests: XCTestCase {
    func testKnownAnswers() {
        XCTAssertEqual(HubDigest.sha256Hex(Data()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(HubDigest.sha256Hex(Data("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(HubDigest.sha256Hex(Data(repeating: UInt8(ascii: "a"), count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}
