import Foundation
import VibeVoiceASR
import VibeVoiceHub
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One request as the test server saw it (header names lowercased).
struct LoggedRequest: Sendable {
    var method: String
    var path: String
    var headers: [String: String]
}

/// A file of a fixture repository. LFS files are answered with a 302 to `/cdn/<sha256>` carrying
/// X-Linked-Etag / X-Linked-Size, like the Hub; the others directly with a git-style 40-hex ETag.
struct FixtureFile: Sendable {
    var content: Data
    var lfs: Bool
    var sha256: String { HubDigest.sha256Hex(content) }
    /// Stand-in for the git blob id the Hub uses as the ETag of non-LFS files.
    var gitETag: String { String(HubDigest.sha256Hex(Data("blob".utf8) + content).prefix(40)) }
    /// The blob name huggingface_hub gives this file.
    var blobName: String { lfs ? sha256 : gitETag }
}

struct FixtureRepo: Sendable {
    var commit: String
    var branches: [String: String] = [:]  // branch -> commit
    var files: [(name: String, file: FixtureFile)]
    /// Names listed by the API with no content behind them (hostile listings).
    var extraSiblings: [String] = []
}

/// A small HTTP/1.1 server on 127.0.0.1 (POSIX sockets, one thread per connection, Connection: close)
/// that speaks the parts of the Hub protocol the client uses: the revision API, resolve URLs,
/// LFS redirects, Range requests. It can cut a response short or corrupt its bytes.
final class HubTestServer: @unchecked Sendable {
    private let lock = NSLock()
    private var repos: [String: FixtureRepo] = [:]
    private var blobs: [String: Data] = [:]
    private var log: [LoggedRequest] = []
    private var cutOnce: [String: Int] = [:]
    private var corrupted: Set<String> = []
    /// Bodies of `/cdn/` answers are sent in pieces of this many bytes with this pause between them.
    private var trickle: (bytes: Int, pause: TimeInterval)?
    /// Answer Range requests with the whole file (200), like servers without range support.
    private var rangeIgnored = false
    private var cdnBaseURL: String = ""
    private var listenFD: Int32 = -1
    private(set) var port: UInt16 = 0
    private var acceptThread: Thread?

    var baseURL: URL { URL(string: "http://127.0.0.1:\(port)")! }

    init() throws {
        listenFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listenFD >= 0 else { throw ServerError("socket: \(String(cString: strerror(errno)))") }
        var yes: Int32 = 1
        setsockopt(listenFD, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listenFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw ServerError("bind: \(String(cString: strerror(errno)))") }
        guard listen(listenFD, 64) == 0 else { throw ServerError("listen: \(String(cString: strerror(errno)))") }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listenFD, $0, &length) }
        }
        port = UInt16(bigEndian: actual.sin_port)
        let fd = listenFD
        let thread = Thread { [weak self] in
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 {
                    if errno == EINTR { continue }
                    return
                }
                guard let self else { _ = close(client); return }
                let worker = Thread { self.handle(client) }
                worker.start()
            }
        }
        acceptThread = thread
        thread.start()
    }

    deinit { stop() }

    /// Closes the listening socket: later connections are refused.
    func stop() {
        lock.lock()
        let fd = listenFD
        listenFD = -1
        lock.unlock()
        guard fd >= 0 else { return }
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }

    // MARK: Configuration

    func add(repo id: String, _ repo: FixtureRepo) {
        lock.lock(); defer { lock.unlock() }
        repos[id] = repo
        for (_, file) in repo.files where file.lfs { blobs[file.sha256] = file.content }
    }

    /// LFS redirects point (absolute URL, like the Hub's) to this server's `/cdn/` (default) or to another origin.
    func setCDN(_ base: URL) {
        lock.lock(); defer { lock.unlock() }
        cdnBaseURL = base.absoluteString
    }

    /// Blobs this server serves under `/cdn/<sha>` (when it acts as the CDN of another server).
    func addBlobs(of repo: FixtureRepo) {
        lock.lock(); defer { lock.unlock() }
        for (_, file) in repo.files where file.lfs { blobs[file.sha256] = file.content }
    }

    /// The next GET of `path` sends its headers and only `bytes` bytes of the body, then closes.
    func cutNextResponse(path: String, afterBytes bytes: Int) {
        lock.lock(); defer { lock.unlock() }
        cutOnce[path] = bytes
    }

    /// Every GET of `/cdn/<sha>` serves the content with one byte flipped.
    func corrupt(sha: String) {
        lock.lock(); defer { lock.unlock() }
        corrupted.insert(sha)
    }

    func trickle(bytes: Int, pause: TimeInterval) {
        lock.lock(); defer { lock.unlock() }
        trickle = (bytes, pause)
    }

    func ignoreRange() {
        lock.lock(); defer { lock.unlock() }
        rangeIgnored = true
    }

    var requests: [LoggedRequest] {
        lock.lock(); defer { lock.unlock() }
        return log
    }

    func clearLog() {
        lock.lock(); defer { lock.unlock() }
        log.removeAll()
    }

    // MARK: Serving

    private struct Response {
        var status: Int
        var headers: [(String, String)] = []
        var body = Data()
        var cutAfter: Int?
        var trickle: (bytes: Int, pause: TimeInterval)?
    }

    private func handle(_ fd: Int32) {
        defer { close(fd) }
        var buffer = Data()
        var chunk = [UInt8](repeating: 0, count: 4096)
        let separator = Data("\r\n\r\n".utf8)
        while buffer.range(of: separator) == nil {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n <= 0 { return }
            buffer.append(contentsOf: chunk[0..<n])
            if buffer.count > 65536 { return }
        }
        let head = String(decoding: buffer[..<buffer.range(of: separator)!.lowerBound], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let requestLine = lines.removeFirst().split(separator: " ")
        guard requestLine.count >= 2 else { return }
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let request = LoggedRequest(method: String(requestLine[0]), path: String(requestLine[1]), headers: headers)
        lock.lock()
        log.append(request)
        lock.unlock()

        let response = route(request)
        var text = "HTTP/1.1 \(response.status) \(reason(response.status))\r\n"
        for (name, value) in response.headers { text += "\(name): \(value)\r\n" }
        text += "Content-Length: \(response.body.count)\r\nConnection: close\r\n\r\n"
        sendAll(fd, Data(text.utf8))
        if request.method != "HEAD" {
            let body = response.body.prefix(response.cutAfter ?? response.body.count)
            if let trickle = response.trickle {
                var offset = body.startIndex
                while offset < body.endIndex {
                    let end = min(offset + trickle.bytes, body.endIndex)
                    sendAll(fd, body[offset..<end])
                    offset = end
                    Thread.sleep(forTimeInterval: trickle.pause)
                }
            } else {
                sendAll(fd, Data(body))
            }
        }
        shutdown(fd, Int32(SHUT_WR))
        // Drain until the client closes, so the close does not turn into a reset that loses data.
        while recv(fd, &chunk, chunk.count, 0) > 0 {}
    }

    private func sendAll(_ fd: Int32, _ data: Data) {
        data.withUnsafeBytes { raw in
            guard var p = raw.baseAddress else { return }
            var left = raw.count
            while left > 0 {
                #if canImport(Glibc)
                let n = send(fd, p, left, Int32(MSG_NOSIGNAL))
                #else
                let n = send(fd, p, left, 0)
                #endif
                if n <= 0 { return }
                p += n
                left -= n
            }
        }
    }

    private func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 206: return "Partial Content"
        case 302: return "Found"
        case 401: return "Unauthorized"
        case 404: return "Not Found"
        case 416: return "Range Not Satisfiable"
        default: return "Status"
        }
    }

    private func route(_ request: LoggedRequest) -> Response {
        let path = request.path.removingPercentEncoding ?? request.path
        lock.lock(); defer { lock.unlock() }
        if path.hasPrefix("/api/models/") {
            // /api/models/ORG/NAME/revision/REV (REV may contain '/', sent as %2F)
            let rest = request.path.dropFirst("/api/models/".count).split(separator: "/", omittingEmptySubsequences: false)
            guard rest.count == 4, rest[2] == "revision" else { return Response(status: 404) }
            let id = "\(rest[0])/\(rest[1])"
            let revision = String(rest[3]).removingPercentEncoding ?? String(rest[3])
            guard let repo = repos[id] else {
                return Response(status: 401, headers: [("X-Error-Code", "RepoNotFound")],
                                body: Data(#"{"error":"Repository not found"}"#.utf8))
            }
            guard let commit = resolve(repo, revision) else {
                return Response(status: 404, headers: [("X-Error-Code", "RevisionNotFound")],
                                body: Data(#"{"error":"Invalid rev id"}"#.utf8))
            }
            let names = repo.files.map(\.name) + repo.extraSiblings
            let siblings = names.map { ["rfilename": $0] }
            let json = try! JSONSerialization.data(withJSONObject: ["id": id, "sha": commit, "siblings": siblings])
            return Response(status: 200, headers: [("Content-Type", "application/json")], body: json)
        }
        if path.hasPrefix("/cdn/") {
            let sha = String(path.dropFirst("/cdn/".count))
            guard var content = blobs[sha] else { return Response(status: 404) }
            if corrupted.contains(sha), !content.isEmpty { content[content.count / 2] ^= 0xff }
            var cut: Int?
            if request.method == "GET", let n = cutOnce.removeValue(forKey: request.path) { cut = n }
            if !rangeIgnored, let range = request.headers["range"], range.hasPrefix("bytes="), range.hasSuffix("-"),
               let start = Int(range.dropFirst("bytes=".count).dropLast()) {
                guard start < content.count else {
                    return Response(status: 416, headers: [("Content-Range", "bytes */\(content.count)")])
                }
                return Response(status: 206, headers: [("Content-Range", "bytes \(start)-\(content.count - 1)/\(content.count)")],
                                body: content.subdata(in: start..<content.count), cutAfter: cut, trickle: trickle)
            }
            return Response(status: 200, body: content, cutAfter: cut, trickle: trickle)
        }
        // /ORG/NAME/resolve/REV/PATH
        let parts = path.dropFirst().split(separator: "/", maxSplits: 4, omittingEmptySubsequences: false)
        guard parts.count == 5, parts[2] == "resolve" else { return Response(status: 404) }
        let id = "\(parts[0])/\(parts[1])"
        guard let repo = repos[id] else {
            return Response(status: 401, headers: [("X-Error-Code", "RepoNotFound")])
        }
        guard resolve(repo, String(parts[3])) != nil else {
            return Response(status: 404, headers: [("X-Error-Code", "RevisionNotFound")])
        }
        guard let file = repo.files.first(where: { $0.name == String(parts[4]) })?.file else {
            return Response(status: 404, headers: [("X-Error-Code", "EntryNotFound")])
        }
        let commitHeader = ("X-Repo-Commit", resolve(repo, String(parts[3]))!)
        if file.lfs {
            return Response(status: 302, headers: [
                commitHeader,
                ("Location", "\(cdnBaseURL.isEmpty ? baseURL.absoluteString : cdnBaseURL)/cdn/\(file.sha256)"),
                ("X-Linked-Etag", "\"\(file.sha256)\""),
                ("X-Linked-Size", "\(file.content.count)"),
                ("ETag", "W/\"\(file.gitETag)\""),
            ])
        }
        return Response(status: 200, headers: [commitHeader, ("ETag", "\"\(file.gitETag)\"")], body: file.content)
    }

    private func resolve(_ repo: FixtureRepo, _ revision: String) -> String? {
        if revision == repo.commit { return repo.commit }
        if revision == "main" { return repo.commit }
        if repo.branches.values.contains(revision) { return revision }
        return repo.branches[revision]
    }
}

struct ServerError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
