import Foundation
import VibeVoiceCompute
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes one safetensors file tensor by tensor, without holding the file in memory: the header (names,
/// dtypes, shapes, offsets) is fixed first, then each tensor's bytes are appended in header order. Offsets are
/// contiguous from 0 with no gaps (what the format's reference reader demands), the header is padded with spaces
/// to a multiple of 8, and tensors are ordered so that every element sits on its alignment.
public final class SafetensorsWriter {
    public struct Entry: Sendable, Equatable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        public var byteCount: Int { shape.reduce(1, *) * (dtype.elementSize ?? 1) }
        public init(name: String, dtype: DType, shape: [Int]) {
            precondition(dtype.elementSize != nil, "safetensors stores element types")
            self.name = name
            self.dtype = dtype
            self.shape = shape
        }
    }

    public let url: URL
    /// Entries in file order.
    public let entries: [Entry]
    private let fd: Int32
    private var next = 0
    private var written = 0

    /// The header bytes for `entries` (in this order) and `metadata`, padded to a multiple of 8.
    public static func header(_ entries: [Entry], metadata: [String: String]) -> [UInt8] {
        var parts: [String] = []
        if !metadata.isEmpty {
            let meta = metadata.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }
            parts.append("\"__metadata__\":{\(meta.joined(separator: ","))}")
        }
        var offset = 0
        for e in entries {
            let end = offset + e.byteCount
            parts.append("\(jsonString(e.name)):{\"dtype\":\"\(e.dtype.rawValue)\",\"shape\":[\(e.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        var bytes = Array("{\(parts.joined(separator: ","))}".utf8)
        while bytes.count % 8 != 0 { bytes.append(0x20) }
        return bytes
    }

    /// The size of a file holding `entries`.
    public static func fileSize(_ entries: [Entry], metadata: [String: String]) -> Int {
        8 + header(entries, metadata: metadata).count + entries.reduce(0) { $0 + $1.byteCount }
    }

    /// Orders entries so each lands on its element alignment (the data section starts 8-aligned): 4-byte types
    /// first, the rest in the given order when that keeps every 2-byte type on an even offset (so a tensor's
    /// scales stay beside its payload), otherwise sorted by element size, largest first.
    public static func aligned(_ entries: [Entry]) -> [Entry] {
        let wide = entries.filter { ($0.dtype.elementSize ?? 1) >= 4 }
        let rest = entries.filter { ($0.dtype.elementSize ?? 1) < 4 }
        var offset = wide.reduce(0) { $0 + $1.byteCount }
        var fits = true
        for e in rest {
            if offset % (e.dtype.elementSize ?? 1) != 0 { fits = false }
            offset += e.byteCount
        }
        if fits { return wide + rest }
        return entries.enumerated().sorted {
            let (a, b) = ($0.element.dtype.elementSize ?? 1, $1.element.dtype.elementSize ?? 1)
            return a != b ? a > b : $0.offset < $1.offset
        }.map(\.element)
    }

    /// Creates `url` (which must not exist) and writes the header.
    public init(url: URL, entries: [Entry], metadata: [String: String] = [:]) throws {
        self.url = url
        self.entries = entries
        fd = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SafetensorsWriteError.io(file: url.path, reason: String(cString: strerror(errno))) }
        let header = Self.header(entries, metadata: metadata)
        var length = UInt64(header.count).littleEndian
        do {
            try withUnsafeBytes(of: &length) { try write($0) }
            try header.withUnsafeBytes { try write($0) }
        } catch {
            close(fd)
            throw error
        }
    }

    deinit { if fd >= 0 { close(fd) } }

    /// The name of the tensor whose bytes come next, or nil when all are written.
    public var nextName: String? { next < entries.count ? entries[next].name : nil }

    /// Appends the bytes of the next tensor, which must be exactly its size.
    public func append(_ bytes: UnsafeRawBufferPointer, name: String) throws {
        guard next < entries.count, entries[next].name == name, bytes.count == entries[next].byteCount else {
            throw SafetensorsWriteError.outOfOrder(file: url.path, tensor: name)
        }
        try write(bytes)
        next += 1
    }

    /// Flushes to stable storage and closes; throws unless every tensor was written.
    public func finish() throws {
        guard next == entries.count else { throw SafetensorsWriteError.incomplete(file: url.path, missing: entries[next].name) }
        guard fsync(fd) == 0 else { throw SafetensorsWriteError.io(file: url.path, reason: String(cString: strerror(errno))) }
    }

    private func write(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let n = posixWrite(fd, bytes.baseAddress! + offset, min(bytes.count - offset, 1 << 30))
            if n < 0 {
                if errno == EINTR { continue }
                throw SafetensorsWriteError.io(file: url.path, reason: String(cString: strerror(errno)))
            }
            offset += n
        }
        written += bytes.count
    }

    static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}

private func posixWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.write(fd, p, n)
    #else
    return Darwin.write(fd, p, n)
    #endif
}

public enum SafetensorsWriteError: Error, CustomStringConvertible, Equatable, Sendable {
    case io(file: String, reason: String)
    case outOfOrder(file: String, tensor: String)
    case incomplete(file: String, missing: String)

    public var description: String {
        switch self {
        case let .io(file, reason): return "cannot write \(file): \(reason)"
        case let .outOfOrder(file, tensor): return "internal error writing \(file): tensor '\(tensor)' out of order or of the wrong size"
        case let .incomplete(file, missing): return "internal error writing \(file): tensor '\(missing)' was never written"
        }
    }
}
