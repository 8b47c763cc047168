import Crypto
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Progress of one `HubClient.snapshot` call, in order.
public enum HubProgress: Sendable {
    /// Asking the Hub which commit the revision names and which files it holds.
    case resolving(repo: String)
    /// A file is about to be downloaded; `index` counts from 1 up to `count` (the files wanted).
    case file(name: String, index: Int, count: Int, size: Int64?)
    /// Bytes of the current file on disk so far (a resumed file starts at its partial size).
    /// Emitted at most about ten times a second per file, and once at the end.
    case bytes(name: String, done: Int64, total: Int64?, bytesPerSecond: Double)
    /// The file is already in the cache; nothing was downloaded for it.
    case cached(name: String)
    /// The Hub could not be reached; a complete cached snapshot is used instead.
    case usingCache(reason: String)
    /// The snapshot directory, complete.
    case done(URL)
}

public enum HubError: Error, CustomStringConvertible, Sendable, Equatable {
    case invalidRepoID(String)
    case invalidRevision(String)
    /// The Hub listed a file name that is not a safe relative path inside the repository.
    case unsafeFileName(repo: String, name: String)
    case repoNotFound(repo: String)
    case revisionNotFound(repo: String, revision: String)
    case noMatchingFiles(repo: String, revision: String)
    case fileDownloadFailed(file: String, status: Int)
    case integrityMismatch(file: String, expected: String, actual: String)
    case notCachedOffline(repo: String, revision: String)
    case network(String)
    case invalidResponse(String)
    case cacheWriteFailed(path: String, message: String)

    public var description: String {
        switch self {
        case let .invalidRepoID(id):
            return "'\(id)' is not a Hugging Face repository id: expected ORG/NAME (letters, digits, '-', '_', '.'; no '..' or '--')"
        case let .invalidRevision(revision):
            return "'\(revision)' is not a valid revision: expected a branch, tag or 40-hex commit without '..' or empty path parts"
        case let .unsafeFileName(repo, name):
            return "the Hub listed a file '\(name)' in \(repo) that would land outside the snapshot directory; refusing to download"
        case let .repoNotFound(repo):
            return "repository \(repo) not found on the Hugging Face Hub: check the id, or set HF_TOKEN " +
                "(or log in with `hf auth login`) if it is gated or private"
        case let .revisionNotFound(repo, revision):
            return "revision '\(revision)' not found in \(repo): check the branch, tag or commit name"
        case let .noMatchingFiles(repo, revision):
            return "\(repo) at \(revision) holds no model files (config.json, tokenizer files, *.safetensors)"
        case let .fileDownloadFailed(file, status):
            if status == 401 || status == 403 {
                return "download of \(file) refused (HTTP \(status)): set HF_TOKEN to a token with access to the repository"
            }
            return "download of \(file) failed with HTTP status \(status)"
        case let .integrityMismatch(file, expected, actual):
            return "downloaded \(file) is corrupt: expected \(expected), got \(actual); the partial file was removed, run again"
        case let .notCachedOffline(repo, revision):
            return "\(repo) at revision '\(revision)' is not in the local Hugging Face cache and offline mode is on " +
                "(HF_HUB_OFFLINE): unset HF_HUB_OFFLINE to download it, or pass a local model directory"
        case let .network(message):
            return "cannot reach the Hugging Face Hub: \(message)"
        case let .invalidResponse(message):
            return "unexpected answer from the Hugging Face Hub: \(message)"
        case let .cacheWriteFailed(path, message):
            return "cannot write to the Hugging Face cache at \(path): \(message)"
        }
    }
}

/// Downloads model repositories from the Hugging Face Hub into the standard cache shared with the
/// Python `huggingface_hub` library (`models--ORG--NAME/{blobs,refs,snapshots}`), so either tool
/// reuses what the other fetched.
public struct HubClient: Sendable {
    public var endpoint: URL
    public var token: String?
    public var cacheDirectory: URL
    public var offline: Bool
    /// Seconds without any data before a request fails (an idle limit, not a limit on a whole transfer;
    /// at least 1).
    public var timeout: TimeInterval = 60

    public init(endpoint: URL = HubClient.defaultEndpoint(),
                token: String? = HubClient.defaultToken(),
                cacheDirectory: URL = HubClient.defaultCacheDirectory(),
                offline: Bool = HubClient.defaultOffline()) {
        var base = endpoint.absoluteString
        while base.hasSuffix("/") { base.removeLast() }
        self.endpoint = URL(string: base) ?? endpoint
        self.token = token
        self.cacheDirectory = cacheDirectory
        self.offline = offline
    }

    // MARK: Environment (the same variables as huggingface_hub)

    public static func defaultEndpoint(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let value = environment["HF_ENDPOINT"]?.trimmingCharacters(in: .whitespaces), !value.isEmpty,
           let url = URL(string: value), url.scheme != nil {
            return url
        }
        return URL(string: "https://huggingface.co")!
    }

    /// `$HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`.
    public static func defaultHome(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let value = nonEmpty(environment["HF_HOME"]) { return URL(fileURLWithPath: expandTilde(value, environment)) }
        if let xdg = nonEmpty(environment["XDG_CACHE_HOME"]) {
            return URL(fileURLWithPath: expandTilde(xdg, environment)).appendingPathComponent("huggingface")
        }
        return URL(fileURLWithPath: homeDirectory(environment)).appendingPathComponent(".cache/huggingface")
    }

    /// `$HF_HUB_CACHE`, else `$HUGGINGFACE_HUB_CACHE`, else `<HF home>/hub`.
    public static func defaultCacheDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let value = nonEmpty(environment["HF_HUB_CACHE"]) ?? nonEmpty(environment["HUGGINGFACE_HUB_CACHE"]) {
            return URL(fileURLWithPath: expandTilde(value, environment))
        }
        return defaultHome(environment: environment).appendingPathComponent("hub")
    }

    /// `$HF_TOKEN`, else `$HUGGING_FACE_HUB_TOKEN`, else the file `$HF_TOKEN_PATH` or `<HF home>/token`
    /// (written by `hf auth login`).
    public static func defaultToken(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let value = nonEmpty(environment["HF_TOKEN"]?.trimmingCharacters(in: .whitespacesAndNewlines)) { return value }
        if let value = nonEmpty(environment["HUGGING_FACE_HUB_TOKEN"]?.trimmingCharacters(in: .whitespacesAndNewlines)) {
            return value
        }
        let path = nonEmpty(environment["HF_TOKEN_PATH"]).map { expandTilde($0, environment) }
            ?? defaultHome(environment: environment).appendingPathComponent("token").path
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return nonEmpty(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// True when `HF_HUB_OFFLINE` is 1, true, yes or on (any case).
    public static func defaultOffline(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        guard let value = environment["HF_HUB_OFFLINE"] else { return false }
        return ["1", "true", "yes", "on"].contains(value.trimmingCharacters(in: .whitespaces).lowercased())
    }

    private static func nonEmpty(_ s: String?) -> String? {
        guard let s, !s.isEmpty else { return nil }
        return s
    }

    private static func homeDirectory(_ environment: [String: String]) -> String {
        nonEmpty(environment["HOME"]) ?? FileManager.default.homeDirectoryForCurrentUser.path
    }

    private static func expandTilde(_ path: String, _ environment: [String: String]) -> String {
        if path == "~" { return homeDirectory(environment) }
        if path.hasPrefix("~/") { return homeDirectory(environment) + String(path.dropFirst(1)) }
        return path
    }

    // MARK: Names

    /// True for `ORG/NAME` where both parts use letters, digits, '-', '_' and '.', do not start or end
    /// with '-' or '.', contain no '--' or '..', and are at most 96 characters.
    public static func isRepoID(_ s: String) -> Bool {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return false }
        for part in parts {
            guard !part.isEmpty, part.count <= 96,
                  part.unicodeScalars.allSatisfy({ ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)))
                      || $0 == "-" || $0 == "_" || $0 == "." }),
                  !part.contains("--"), !part.contains(".."),
                  let first = part.first, let last = part.last,
                  first != "-", first != ".", last != "-", last != "."
            else { return false }
        }
        return true
    }

    /// The default `matching` filter: the files a transformers-style model needs, safetensors weights
    /// only (no .bin/.pt/.onnx/.gguf), nothing from sub-folders, no READMEs or images.
    public static func defaultModelFiles(_ name: String) -> Bool {
        guard !name.contains("/") else { return false }
        let exact: Set<String> = ["config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json",
                                  "preprocessor_config.json", "special_tokens_map.json", "model.safetensors.index.json"]
        return exact.contains(name) || name.hasSuffix(".safetensors") || name.hasSuffix(".safetensors.index.json")
    }

    /// The cache folder of a repository: `<cache>/models--ORG--NAME`.
    public func repoDirectory(repo: String) -> URL {
        cacheDirectory.appendingPathComponent("models--" + repo.replacingOccurrences(of: "/", with: "--"), isDirectory: true)
    }

    static func isCommitHash(_ s: String) -> Bool {
        s.utf8.count == 40 && s.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }

    static func isSHA256Hex(_ s: String) -> Bool {
        s.utf8.count == 64 && s.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) || ($0 >= 65 && $0 <= 70) }
    }

    /// A relative path of safe parts: no empty, '.' or '..' parts, no backslash, NUL or control characters.
    static func isSafeRelativePath(_ s: String) -> Bool {
        guard !s.isEmpty, !s.hasPrefix("/"), s.utf8.count <= 1024 else { return false }
        if s.unicodeScalars.contains(where: { $0 == "\\" || $0.value < 0x20 || $0.value == 0x7f }) { return false }
        return s.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { $0 != "" && $0 != "." && $0 != ".." }
    }

    // MARK: Snapshot

    /// Makes sure the files of `repo` at `revision` selected by `matching` are in the cache and returns
    /// the snapshot directory `<cache>/models--ORG--NAME/snapshots/<commit>/`.
    ///
    /// Online, the Hub names the commit and the files; missing files are downloaded (resuming partial
    /// ones) and checked against their size and, for LFS files, their sha256. Offline (or when the Hub
    /// cannot be reached) a complete cached snapshot of the revision is returned.
    public func snapshot(repo: String, revision: String = "main",
                         matching: (String) -> Bool = HubClient.defaultModelFiles,
                         progress: (@Sendable (HubProgress) -> Void)? = nil) throws -> URL {
        guard Self.isRepoID(repo) else { throw HubError.invalidRepoID(repo) }
        guard Self.isSafeRelativePath(revision), revision.utf8.count <= 256 else { throw HubError.invalidRevision(revision) }
        let repoDir = repoDirectory(repo: repo)

        if offline {
            guard let cached = cachedSnapshot(repo: repo, revision: revision, matching: matching) else {
                throw HubError.notCachedOffline(repo: repo, revision: revision)
            }
            progress?(.done(cached))
            return cached
        }

        progress?(.resolving(repo: repo))
        let info: RepoInfo
        do {
            info = try repoInfo(repo: repo, revision: revision)
        } catch let HubError.network(message) {
            if let cached = cachedSnapshot(repo: repo, revision: revision, matching: matching) {
                progress?(.usingCache(reason: "cannot reach \(endpoint.absoluteString) (\(message)); using the cached snapshot"))
                progress?(.done(cached))
                return cached
            }
            throw HubError.network(message)
        }
        for name in info.files where !Self.isSafeRelativePath(name) {
            throw HubError.unsafeFileName(repo: repo, name: name)
        }
        let wanted = info.files.filter(matching)
        guard !wanted.isEmpty else { throw HubError.noMatchingFiles(repo: repo, revision: revision) }

        if revision != info.commit {
            try writeRef(repoDir: repoDir, revision: revision, commit: info.commit)
        }
        let snapshotDir = repoDir.appendingPathComponent("snapshots", isDirectory: true)
            .appendingPathComponent(info.commit, isDirectory: true)
        try makeDirectory(snapshotDir)

        for (i, name) in wanted.enumerated() {
            let target = snapshotDir.appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: target.path) {
                progress?(.cached(name: name))
                continue
            }
            try fetchFile(repo: repo, commit: info.commit, name: name, repoDir: repoDir, snapshotDir: snapshotDir,
                          index: i + 1, count: wanted.count, progress: progress)
        }
        progress?(.done(snapshotDir))
        return snapshotDir
    }

    /// A cached snapshot of `revision` that holds config.json (when `matching` wants it) and every shard
    /// its safetensors index names; nil when there is none. Never touches the network.
    public func cachedSnapshot(repo: String, revision: String = "main",
                               matching: (String) -> Bool = HubClient.defaultModelFiles) -> URL? {
        guard Self.isRepoID(repo), Self.isSafeRelativePath(revision) else { return nil }
        let repoDir = repoDirectory(repo: repo)
        let commit: String
        if Self.isCommitHash(revision) {
            commit = revision
        } else {
            let refFile = repoDir.appendingPathComponent("refs").appendingPathComponent(revision)
            guard let text = try? String(contentsOf: refFile, encoding: .utf8) else { return nil }
            commit = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard Self.isCommitHash(commit) else { return nil }
        }
        let dir = repoDir.appendingPathComponent("snapshots", isDirectory: true).appendingPathComponent(commit, isDirectory: true)
        let fm = FileManager.default
        guard let entries = try? fm.contentsOfDirectory(atPath: dir.path), !entries.isEmpty else { return nil }
        if matching("config.json"), !fm.fileExists(atPath: dir.appendingPathComponent("config.json").path) { return nil }
        for index in entries where index.hasSuffix(".safetensors.index.json") && matching(index) {
            guard let data = fm.contents(atPath: dir.appendingPathComponent(index).path),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let map = object["weight_map"] as? [String: Any] else { return nil }
            for shard in Set(map.values.compactMap { $0 as? String }) {
                guard Self.isSafeRelativePath(shard), fm.fileExists(atPath: dir.appendingPathComponent(shard).path) else { return nil }
            }
        }
        return dir
    }

    // MARK: Hub API

    struct RepoInfo {
        var commit: String
        var files: [String]
    }

    private func request(_ url: URL, method: String = "GET") -> URLRequest {
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.timeoutInterval = max(1, timeout)  // FoundationNetworking treats sub-second limits as zero
        request.setValue("vibevoice-asr", forHTTPHeaderField: "User-Agent")
        request.setValue("identity", forHTTPHeaderField: "Accept-Encoding")
        if let token, url.hubOrigin == endpoint.hubOrigin {
            request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        }
        return request
    }

    private func url(_ path: String) throws -> URL {
        guard let url = URL(string: endpoint.absoluteString + path) else {
            throw HubError.invalidResponse("cannot form a URL from \(endpoint.absoluteString)\(path)")
        }
        return url
    }

    private static func encodePath(_ s: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "?#;%")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }

    /// `GET /api/models/{repo}/revision/{revision}`: the commit and the file list.
    func repoInfo(repo: String, revision: String) throws -> RepoInfo {
        var segment = CharacterSet.urlPathAllowed
        segment.remove(charactersIn: "/?#;%")
        let rev = revision.addingPercentEncoding(withAllowedCharacters: segment) ?? revision
        let apiURL = try url("/api/models/\(repo)/revision/\(rev)")
        var body = Data()
        let response = try HubHTTPExchange.run(request(apiURL), onData: { chunk in
            guard body.count + chunk.count <= 64 << 20 else {
                throw HubError.invalidResponse("\(apiURL.absoluteString): answer larger than 64 MB")
            }
            body.append(chunk)
        })
        let status = response.statusCode
        if status == 401 || status == 403 || status == 404 {
            if response.header("X-Error-Code") == "RevisionNotFound" {
                throw HubError.revisionNotFound(repo: repo, revision: revision)
            }
            if status == 404, response.header("X-Error-Code") == "EntryNotFound" {
                throw HubError.revisionNotFound(repo: repo, revision: revision)
            }
            throw HubError.repoNotFound(repo: repo)
        }
        guard (200..<300).contains(status) else {
            throw HubError.invalidResponse("\(apiURL.absoluteString) answered HTTP \(status)")
        }
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            throw HubError.invalidResponse("\(apiURL.absoluteString): body is not a JSON object")
        }
        guard let sha = object["sha"] as? String, Self.isCommitHash(sha) else {
            throw HubError.invalidResponse("\(apiURL.absoluteString): field 'sha' is not a 40-hex commit hash")
        }
        guard let siblings = object["siblings"] as? [Any] else {
            throw HubError.invalidResponse("\(apiURL.absoluteString): field 'siblings' is missing")
        }
        var files: [String] = []
        for sibling in siblings {
            guard let entry = sibling as? [String: Any], let name = entry["rfilename"] as? String else {
                throw HubError.invalidResponse("\(apiURL.absoluteString): a 'siblings' entry has no 'rfilename'")
            }
            files.append(name)
        }
        return RepoInfo(commit: sha, files: files)
    }

    // MARK: Files

    struct FileMetadata {
        /// Safe to use as a blob name (letters, digits, '-', '_'), without quotes or W/.
        var etag: String?
        var size: Int64?
        /// The Hub URL to GET (after same-origin redirects). Each attempt starts here, so a presigned CDN
        /// URL that expired during a long transfer is replaced by a fresh one on retry.
        var downloadURL: URL
    }

    static func normalizeETag(_ raw: String?) -> String? {
        guard var value = raw?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if value.hasPrefix("W/") { value.removeFirst(2) }
        value = value.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        guard !value.isEmpty, value.utf8.count <= 128,
              value.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == "_") })
        else { return nil }
        return value
    }

    /// HEAD on the resolve URL, following only same-origin redirects that carry no linked etag (renamed
    /// repositories); the response that names the file (X-Linked-Etag / ETag) gives its hash and size.
    func fileMetadata(repo: String, commit: String, name: String) throws -> FileMetadata {
        var current = try url("/\(repo)/resolve/\(commit)/\(Self.encodePath(name))")
        for _ in 0..<10 {
            let response = try HubHTTPExchange.run(request(current, method: "HEAD"))
            let status = response.statusCode
            let linkedETag = Self.normalizeETag(response.header("X-Linked-Etag"))
            let etag = linkedETag ?? Self.normalizeETag(response.header("ETag"))
            let size = (response.header("X-Linked-Size") ?? (status < 300 ? response.header("Content-Length") : nil))
                .flatMap { Int64($0.trimmingCharacters(in: .whitespaces)) }
            switch status {
            case 200..<300:
                return FileMetadata(etag: etag, size: size, downloadURL: current)
            case 301, 302, 303, 307, 308:
                guard let location = response.header("Location"),
                      let next = URL(string: location, relativeTo: current)?.absoluteURL else {
                    throw HubError.fileDownloadFailed(file: name, status: status)
                }
                if linkedETag != nil || next.hubOrigin != current.hubOrigin {
                    return FileMetadata(etag: etag, size: size, downloadURL: current)
                }
                current = next
            default:
                throw HubError.fileDownloadFailed(file: name, status: status)
            }
        }
        throw HubError.invalidResponse("too many redirects for \(name)")
    }

    private func fetchFile(repo: String, commit: String, name: String, repoDir: URL, snapshotDir: URL,
                           index: Int, count: Int, progress: (@Sendable (HubProgress) -> Void)?) throws {
        let fm = FileManager.default
        let meta = try fileMetadata(repo: repo, commit: commit, name: name)
        let blobsDir = repoDir.appendingPathComponent("blobs", isDirectory: true)
        try makeDirectory(blobsDir)
        let target = snapshotDir.appendingPathComponent(name)

        if let etag = meta.etag, fm.fileExists(atPath: blobsDir.appendingPathComponent(etag).path) {
            // Same content already fetched for another commit.
            try link(target: target, blob: etag, snapshotDir: snapshotDir)
            progress?(.cached(name: name))
            return
        }
        progress?(.file(name: name, index: index, count: count, size: meta.size))

        // Without a usable etag the partial file is keyed by the commit and path, and the blob is named
        // by the sha256 of its content.
        let key = meta.etag ?? ("nohash-" + HubDigest.sha256Hex(Data("\(commit)/\(name)".utf8)))
        let lockDir = cacheDirectory.appendingPathComponent(".locks", isDirectory: true)
            .appendingPathComponent(repoDir.lastPathComponent, isDirectory: true)
        try makeDirectory(lockDir)
        let lock = try HubFileLock(path: lockDir.appendingPathComponent("\(key).lock").path)
        defer { lock.unlock() }
        if let etag = meta.etag, fm.fileExists(atPath: blobsDir.appendingPathComponent(etag).path) {
            try link(target: target, blob: etag, snapshotDir: snapshotDir)
            progress?(.cached(name: name))
            return
        }

        let incomplete = blobsDir.appendingPathComponent("\(key).incomplete")
        let digest: String, size: Int64
        do {
            (digest, size) = try download(name: name, from: meta.downloadURL, to: incomplete, expectedSize: meta.size,
                                          progress: progress)
        } catch let error as HubError {
            if case .integrityMismatch = error { try? fm.removeItem(at: incomplete) }
            throw error
        }
        if let expected = meta.size, expected != size {
            try? fm.removeItem(at: incomplete)
            throw HubError.integrityMismatch(file: name, expected: "\(expected) bytes", actual: "\(size) bytes")
        }
        if let etag = meta.etag, Self.isSHA256Hex(etag), etag.lowercased() != digest {
            try? fm.removeItem(at: incomplete)
            throw HubError.integrityMismatch(file: name, expected: "sha256 \(etag.lowercased())", actual: "sha256 \(digest)")
        }
        let blobName = meta.etag ?? digest
        let blob = blobsDir.appendingPathComponent(blobName)
        if fm.fileExists(atPath: blob.path) {
            try? fm.removeItem(at: incomplete)
        } else {
            do { try fm.moveItem(at: incomplete, to: blob) } catch {
                throw HubError.cacheWriteFailed(path: blob.path, message: "\(error.localizedDescription)")
            }
        }
        try link(target: target, blob: blobName, snapshotDir: snapshotDir)
    }

    /// Streams `url` into `incomplete`, resuming from its current size; up to three attempts on network
    /// errors and server errors. Returns the sha256 hex of the whole file and its size.
    private func download(name: String, from url: URL, to incomplete: URL, expectedSize: Int64?,
                          progress: (@Sendable (HubProgress) -> Void)?) throws -> (String, Int64) {
        let fm = FileManager.default
        let attempts = 3
        for attempt in 1...attempts {
            if !fm.fileExists(atPath: incomplete.path) {
                guard fm.createFile(atPath: incomplete.path, contents: nil) else {
                    throw HubError.cacheWriteFailed(path: incomplete.path, message: "cannot create the file")
                }
            }
            let state = try DownloadState(file: incomplete, name: name, total: expectedSize, progress: progress)
            defer { state.close() }
            if let expectedSize, state.written > expectedSize { try state.restart() }
            if let expectedSize, state.written == expectedSize {
                return (HubDigest.hex(state.hasher.finalize()), state.written)
            }
            do {
                try get(name: name, url: url, state: state)
                state.report(force: true)
                return (HubDigest.hex(state.hasher.finalize()), state.written)
            } catch let error as HubError {
                let retryable: Bool
                switch error {
                case .network: retryable = true
                case let .fileDownloadFailed(_, status): retryable = status >= 500
                default: retryable = false
                }
                guard retryable, attempt < attempts else { throw error }
                Thread.sleep(forTimeInterval: 0.5 * Double(attempt))
            }
        }
        throw HubError.network("download of \(name) failed")
    }

    /// One GET (following redirects by hand; the Authorization header only goes to the endpoint's origin)
    /// appending to `state` from its current size.
    private func get(name: String, url: URL, state: DownloadState) throws {
        var current = url
        for _ in 0..<10 {
            var req = request(current)
            let start = state.written
            if start > 0 { req.setValue("bytes=\(start)-", forHTTPHeaderField: "Range") }
            var writing = false
            let response = try HubHTTPExchange.run(req, onResponse: { response in
                switch response.statusCode {
                case 206:
                    let range = response.header("Content-Range") ?? ""
                    guard start > 0, range.hasPrefix("bytes \(start)-") else {
                        try state.restart()
                        throw HubError.network("\(name): server answered range '\(range)' to a request from byte \(start)")
                    }
                    writing = true
                case 200..<300:
                    if start > 0 { try state.restart() }  // the server ignored Range: start over
                    writing = true
                default:
                    writing = false
                }
            }, onData: { chunk in
                if writing { try state.append(chunk) }
            })
            let status = response.statusCode
            switch status {
            case 200..<300:
                return
            case 301, 302, 303, 307, 308:
                guard let location = response.header("Location"),
                      let next = URL(string: location, relativeTo: current)?.absoluteURL else {
                    throw HubError.fileDownloadFailed(file: name, status: status)
                }
                current = next
            case 416 where start > 0:
                try state.restart()  // the partial file is not a prefix the server recognises
                throw HubError.network("\(name): range from byte \(start) not satisfiable")
            default:
                throw HubError.fileDownloadFailed(file: name, status: status)
            }
        }
        throw HubError.invalidResponse("too many redirects for \(name)")
    }

    // MARK: Cache writes

    private func makeDirectory(_ url: URL) throws {
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw HubError.cacheWriteFailed(path: url.path, message: error.localizedDescription)
        }
    }

    private func writeRef(repoDir: URL, revision: String, commit: String) throws {
        let refFile = repoDir.appendingPathComponent("refs", isDirectory: true).appendingPathComponent(revision)
        if (try? String(contentsOf: refFile, encoding: .utf8)) == commit { return }
        try makeDirectory(refFile.deletingLastPathComponent())
        do {
            try Data(commit.utf8).write(to: refFile, options: .atomic)
        } catch {
            throw HubError.cacheWriteFailed(path: refFile.path, message: error.localizedDescription)
        }
    }

    /// `snapshots/<commit>/<name>` -> `../../blobs/<blob>` (one more `../` per folder in `name`).
    private func link(target: URL, blob: String, snapshotDir: URL) throws {
        let fm = FileManager.default
        let name = String(target.path.dropFirst(snapshotDir.path.count + 1))
        let depth = name.split(separator: "/").count - 1 + 2
        let destination = String(repeating: "../", count: depth) + "blobs/" + blob
        try makeDirectory(target.deletingLastPathComponent())
        if (try? fm.attributesOfItem(atPath: target.path)) != nil { try? fm.removeItem(at: target) }
        do {
            try fm.createSymbolicLink(atPath: target.path, withDestinationPath: destination)
        } catch {
            throw HubError.cacheWriteFailed(path: target.path, message: error.localizedDescription)
        }
    }
}

/// The partial file of one download: appends chunks, hashes them on the way, reports progress.
private final class DownloadState: @unchecked Sendable {
    let url: URL
    let name: String
    let total: Int64?
    let progress: (@Sendable (HubProgress) -> Void)?
    let handle: FileHandle
    var hasher = SHA256()
    var written: Int64 = 0
    private let started = Date()
    private var startBytes: Int64 = 0
    private var lastReport = Date.distantPast
    private var lastReportedBytes: Int64 = -1

    init(file: URL, name: String, total: Int64?, progress: (@Sendable (HubProgress) -> Void)?) throws {
        url = file
        self.name = name
        self.total = total
        self.progress = progress
        do {
            handle = try FileHandle(forUpdating: file)
        } catch {
            throw HubError.cacheWriteFailed(path: file.path, message: error.localizedDescription)
        }
        // Hash what an earlier attempt left, so the digest covers the whole file.
        do {
            while let chunk = try handle.read(upToCount: 8 << 20), !chunk.isEmpty {
                hasher.update(data: chunk)
                written += Int64(chunk.count)
            }
        } catch {
            throw HubError.cacheWriteFailed(path: file.path, message: error.localizedDescription)
        }
        startBytes = written
    }

    func append(_ chunk: Data) throws {
        if let total, written + Int64(chunk.count) > total {
            throw HubError.integrityMismatch(file: name, expected: "\(total) bytes", actual: "more than \(total) bytes")
        }
        do {
            try handle.write(contentsOf: chunk)
        } catch {
            throw HubError.cacheWriteFailed(path: url.path, message: error.localizedDescription)
        }
        hasher.update(data: chunk)
        written += Int64(chunk.count)
        report(force: false)
    }

    func restart() throws {
        do {
            try handle.truncate(atOffset: 0)
            try handle.seek(toOffset: 0)
        } catch {
            throw HubError.cacheWriteFailed(path: url.path, message: error.localizedDescription)
        }
        hasher = SHA256()
        written = 0
        startBytes = 0
    }

    func report(force: Bool) {
        guard let progress else { return }
        guard written != lastReportedBytes else { return }
        let now = Date()
        guard force || now.timeIntervalSince(lastReport) >= 0.1 || written == total else { return }
        lastReport = now
        lastReportedBytes = written
        let elapsed = now.timeIntervalSince(started)
        let rate = elapsed > 0 ? Double(written - startBytes) / elapsed : 0
        progress(.bytes(name: name, done: written, total: total, bytesPerSecond: rate))
    }

    func close() {
        try? handle.close()
    }
}

/// An exclusive advisory lock on `<cache>/.locks/models--ORG--NAME/<etag>.lock`, the file
/// huggingface_hub locks too, so two downloaders never write the same partial blob.
private struct HubFileLock {
    let fd: Int32

    init(path: String) throws {
        fd = open(path, O_RDWR | O_CREAT, 0o644)
        guard fd >= 0 else {
            throw HubError.cacheWriteFailed(path: path, message: String(cString: strerror(errno)))
        }
        while flock(fd, LOCK_EX) != 0 {
            if errno == EINTR { continue }
            let message = String(cString: strerror(errno))
            close(fd)
            throw HubError.cacheWriteFailed(path: path, message: message)
        }
    }

    func unlock() {
        _ = flock(fd, LOCK_UN)
        _ = close(fd)
    }
}
