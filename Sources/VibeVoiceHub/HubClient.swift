import Foundation

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
}
