import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A blocking HTTP/1.1 client over a plain TCP socket on loopback: it sends exactly the bytes a test
/// gives it (well-formed requests, or hostile ones) and reads back what the server answers.
final class RawHTTP {
    let fd: Int32

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    struct Reply {
        var status: Int
        var headers: [String: String]     // names lowercased
        var body: Data
        var text: String { String(decoding: body, as: UTF8.self) }
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
    }

    init(port: Int, receiveTimeout: Double = 60) throws {
        #if canImport(Glibc)
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw Failure("socket: \(String(cString: strerror(errno)))") }
        var tv = timeval(tv_sec: Int(receiveTimeout), tv_usec: .init((receiveTimeout - receiveTimeout.rounded(.down)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        #if canImport(Darwin)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        #endif
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let ok = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard ok == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw Failure("connect to port \(port): \(message)")
        }
    }

    deinit { close(fd) }

    /// Sends bytes; false once the peer has closed the connection.
    @discardableResult
    func send(_ data: Data) -> Bool {
        var sent = 0
        while sent < data.count {
            let n = data.withUnsafeBytes { p in
                Self.write(fd, p.baseAddress! + sent, data.count - sent)
            }
            if n <= 0 { return false }
            sent += n
        }
        return true
    }

    @discardableResult
    func send(_ s: String) -> Bool { send(Data(s.utf8)) }

    /// No more bytes from this side (the server sees the body end early).
    func finishSending() { shutdown(fd, Int32(SHUT_WR)) }

    /// Everything until the server closes the connection (or the receive timeout passes).
    func readAll() -> Data {
        var out = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            out.append(contentsOf: buffer[0..<n])
        }
        return out
    }

    /// Reads until `marker` appears (or the connection ends); returns what was read.
    func read(until marker: String) -> Data {
        var out = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        let m = Data(marker.utf8)
        while out.range(of: m) == nil {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            out.append(contentsOf: buffer[0..<n])
        }
        return out
    }

    /// True when the server has closed the connection (a read returns end of file).
    func serverClosed() -> Bool {
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, 0) == 0
    }

    /// A response read until the server closes the connection (requests are sent with `Connection: close`).
    func reply() throws -> Reply {
        try Self.parse(readAll())
    }

    static func parse(_ raw: Data) throws -> Reply {
        guard let split = raw.range(of: Data("\r\n\r\n".utf8)) else {
            throw Failure("no complete response head in \(raw.count) bytes: \(String(decoding: raw.prefix(200), as: UTF8.self))")
        }
        let head = String(decoding: raw[..<split.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = head[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw Failure("bad status line '\(head[0])'") }
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Data(raw[split.upperBound...])
        if headers["transfer-encoding"]?.lowercased() == "chunked" { body = dechunk(body) }
        return Reply(status: status, headers: headers, body: body)
    }

    static func dechunk(_ data: Data) -> Data {
        var out = Data()
        var i = data.startIndex
        while i < data.endIndex, let lineEnd = data[i...].range(of: Data("\r\n".utf8)) {
            let sizeText = String(decoding: data[i..<lineEnd.lowerBound], as: UTF8.self)
            guard let size = Int(sizeText.split(separator: ";")[0], radix: 16), size > 0 else { break }
            let start = lineEnd.upperBound
            let end = min(data.endIndex, start + size)
            out.append(data[start..<end])
            i = min(data.endIndex, end + 2)
        }
        return out
    }

    // MARK: Requests

    /// One request on a new connection; the reply is read to the end.
    static func request(port: Int, method: String = "GET", path: String, headers: [String: String] = [:],
                        body: Data = Data()) throws -> Reply {
        let c = try RawHTTP(port: port)
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        if method != "GET" || !body.isEmpty { head += "Content-Length: \(body.count)\r\n" }
        c.send(head + "\r\n")
        c.send(body)
        return try c.reply()
    }

    static func transcribe(port: Int, form: MultipartForm, headers: [String: String] = [:]) throws -> Reply {
        var h = headers
        h["Content-Type"] = form.contentType
        return try request(port: port, method: "POST", path: "/v1/audio/transcriptions", headers: h, body: form.body)
    }

    #if canImport(Glibc)
    static func write(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int { Glibc.send(fd, p, n, Int32(MSG_NOSIGNAL)) }
    #else
    static func write(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int { Darwin.send(fd, p, n, 0) }
    #endif
}

/// A `multipart/form-data` body as OpenAI clients send it.
struct MultipartForm {
    let boundary = "vv-test-\(UUID().uuidString)"
    var parts: [(name: String, filename: String?, content: Data)] = []

    init(file: Data?, filename: String = "audio.wav", fields: [String: String] = [:]) {
        if let file { parts.append(("file", filename, file)) }
        for (k, v) in fields.sorted(by: { $0.key < $1.key }) { parts.append((k, nil, Data(v.utf8))) }
    }

    var contentType: String { "multipart/form-data; boundary=\(boundary)" }

    var body: Data {
        var out = Data()
        for p in parts {
            out += Data("--\(boundary)\r\n".utf8)
            var disposition = "Content-Disposition: form-data; name=\"\(p.name)\""
            if let f = p.filename { disposition += "; filename=\"\(f)\"" }
            out += Data((disposition + "\r\n").utf8)
            if p.filename != nil { out += Data("Content-Type: application/octet-stream\r\n".utf8) }
            out += Data("\r\n".utf8)
            out += p.content
            out += Data("\r\n".utf8)
        }
        out += Data("--\(boundary)--\r\n".utf8)
        return out
    }
}
