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

extension HubClient {
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

    func fetchFile(repo: String, commit: String, name: String, repoDir: URL, snapshotDir: URL,
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

    func makeDirectory(_ url: URL) throws {
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw HubError.cacheWriteFailed(path: url.path, message: error.localizedDescription)
        }
    }

    func writeRef(repoDir: URL, revision: String, commit: String) throws {
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
