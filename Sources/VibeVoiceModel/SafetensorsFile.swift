import Foundation
import VibeVoiceCompute
import VibeVoiceJSON
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One `.safetensors` file, memory-mapped read-only. Tensors are views into the mapping in their stored
/// dtype (never widened); the mapping lives as long as any `WeightTensor` taken from it (it is their owner).
///
/// Format: 8-byte little-endian header length N, N bytes of JSON
/// `{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}`, then the data section;
/// offsets are relative to the start of the data section. Every header entry is checked against the file
/// before any tensor is handed out, so later reads cannot leave the mapping.
public final class SafetensorsFile: WeightStorageOwner, @unchecked Sendable {
    // @unchecked: the mapping is read-only and never changes after init; all stored properties are immutable.

    /// Where one tensor lies in the file.
    public struct TensorInfo: Sendable, Equatable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        /// Offset of the first byte from the start of the file.
        public let fileOffset: Int
        public let byteCount: Int

        /// Whether the stored data sits on its element alignment (the mapping itself is page-aligned).
        public var isAligned: Bool { fileOffset % (dtype.elementSize ?? 1) == 0 }
    }

    /// Headers above this size are rejected (the 7B checkpoint's headers are ~100 KB).
    public static let maxHeaderLength = 100_000_000

    public let url: URL
    public let fileSize: Int
    /// Tensor entries by their stored name.
    public let tensors: [String: TensorInfo]
    private let base: UnsafeMutableRawPointer
    private let mappedLength: Int

    public init(url: URL) throws(CheckpointError) {
        let path = url.path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw .unreadable(file: path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw .unreadable(file: path, reason: String(cString: strerror(errno)))
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw .unreadable(file: path, reason: "not a regular file")
        }
        let size = Int(st.st_size)
        guard size >= 8 else {
            throw .truncated(file: path, detail: "\(size) bytes, too short for the 8-byte header length")
        }
        guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0),
              mapped != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw .unreadable(file: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        let parsed: [String: TensorInfo]
        do {
            parsed = try SafetensorsFile.parseHeader(UnsafeRawBufferPointer(start: mapped, count: size), file: path)
        } catch {
            munmap(mapped, size)
            throw error
        }
        self.url = url
        self.fileSize = size
        self.tensors = parsed
        self.base = mapped
        self.mappedLength = size
    }

    deinit {
        munmap(base, mappedLength)
    }

    /// Stored tensor names, sorted.
    public var tensorNames: [String] { tensors.keys.sorted() }

    public func has(_ name: String) -> Bool { tensors[name] != nil }

    /// The tensor stored under `name`, as a view into the mapping.
    public func tensor(_ name: String) throws(CheckpointError) -> WeightTensor {
        guard let info = tensors[name] else {
            throw .missingTensor(directory: url.path, name: name, tried: [name])
        }
        return tensor(info)
    }

    /// The tensor described by `info` (which must come from this file's `tensors`).
    ///
    /// Kernels load elements with aligned loads. The reference writer pads the header to 8 bytes and orders
    /// tensors by element size, so stored data is aligned and the view points into the mapping. A file from
    /// another writer may place data off its element alignment: such a tensor is copied into an aligned buffer.
    public func tensor(_ info: TensorInfo) -> WeightTensor {
        let source = UnsafeRawPointer(base + info.fileOffset)
        if info.isAligned {
            return WeightTensor(dtype: info.dtype, shape: info.shape, data: source, owner: self)
        }
        let copy = OwnedWeightBuffer(byteCount: info.byteCount)
        copy.pointer.copyMemory(from: source, byteCount: info.byteCount)
        return WeightTensor(dtype: info.dtype, shape: info.shape, data: UnsafeRawPointer(copy.pointer), owner: copy)
    }

    /// Drops the resident pages that lie wholly inside `info`'s bytes (the mapping stays valid: a later read
    /// faults them back in from the file). Used once a tensor has been converted and its source is no longer read.
    public func releaseResidentPages(_ info: TensorInfo) {
        releaseResidentPages(info, bytes: 0..<info.byteCount)
    }

    /// Drops the resident pages that lie wholly inside `bytes` (offsets within `info`'s data, clamped to it).
    /// A tensor converted in steps releases what each step has read (whole pages only; the pages at the step
    /// boundaries go when the tensor's own release comes).
    public func releaseResidentPages(_ info: TensorInfo, bytes: Range<Int>) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard page > 0 else { return }
        let lo = info.fileOffset + max(0, bytes.lowerBound)
        let hi = info.fileOffset + min(info.byteCount, bytes.upperBound)
        let start = (lo + page - 1) / page * page
        let end = hi / page * page
        if end > start { _ = madvise(base + start, end - start, Int32(MADV_DONTNEED)) }
    }

    /// How many of the pages holding `info`'s bytes are in the page cache (`mincore`), and how many pages that is.
    /// Nothing is read or faulted in. Where the query fails, none counts as cached.
    public func cachedPages(_ info: TensorInfo) -> (cached: Int, total: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard page > 0, info.byteCount > 0 else { return (0, 0) }
        let start = info.fileOffset / page * page
        let end = min(mappedLength, info.fileOffset + info.byteCount)
        let count = (end - start + page - 1) / page
        #if canImport(Glibc)
        var vec = [UInt8](repeating: 0, count: count)
        #else
        var vec = [CChar](repeating: 0, count: count)
        #endif
        guard mincore(base + start, end - start, &vec) == 0 else { return (0, count) }
        return (vec.reduce(0) { $0 + Int($1 & 1) }, count)
    }

    // MARK: - Header

    /// Parses and checks the header of a whole file image `file` (bytes 0..<count). Pure: reads only inside `bytes`.
    static func parseHeader(_ bytes: UnsafeRawBufferPointer, file: String) throws(CheckpointError) -> [String: TensorInfo] {
        let size = bytes.count
        guard size >= 8 else {
            throw .truncated(file: file, detail: "\(size) bytes, too short for the 8-byte header length")
        }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard n <= UInt64(maxHeaderLength) else {
            throw .malformedHeader(file: file, detail: "header length \(n) exceeds the \(maxHeaderLength)-byte limit")
        }
        let headerLength = Int(n)
        guard headerLength >= 2 else {
            throw .malformedHeader(file: file, detail: "header length \(headerLength) is too short for a JSON object")
        }
        guard 8 + headerLength <= size else {
            throw .truncated(file: file, detail: "header of \(headerLength) bytes runs past the end of the file "
                                 + "(\(size) bytes)")
        }
        let root: JSONValue
        do {
            root = try JSONValue.parse(UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + headerLength)]))
        } catch {
            throw .malformedHeader(file: file, detail: "invalid JSON: \(error.description) of the header")
        }
        guard case .object(let entries) = root else {
            throw .malformedHeader(file: file, detail: "the header is \(root.kindDescription), not a JSON object")
        }
        let dataStart = 8 + headerLength
        let dataSize = size - dataStart
        var result: [String: TensorInfo] = [:]
        result.reserveCapacity(entries.count)
        for (name, entry) in entries where name != "__metadata__" {
            let info = try parseEntry(name: name, entry: entry, file: file, dataStart: dataStart, dataSize: dataSize)
            result[name] = info
        }
        try checkCoverage(Array(result.values), dataStart: dataStart, dataSize: dataSize, file: file)
        return result
    }

    /// Bytes a tensor of `dtype` and `shape` occupies, or `nil` when the count overflows. The one place
    /// where a stored tensor's size is computed from its header entry.
    public static func byteLength(dtype: DType, shape: [Int]) -> Int? {
        guard let size = dtype.elementSize else { return nil }   // block formats are not stored as such
        var count = 1
        for d in shape {
            guard d >= 0 else { return nil }
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else { return nil }
            count = p
        }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: size)
        return overflow ? nil : bytes
    }

    /// The tensors must tile the data section exactly, as the reference reader requires: taken in offset
    /// order, each begins where the one before it ends (the first at 0), and the last ends at the end of
    /// the file. A gap, an overlap or trailing bytes means the header does not describe the data (a
    /// header length off by a few bytes shifts every tensor, yet the JSON still parses when the header
    /// ends in padding), so the file is refused rather than read at the wrong offsets.
    static func checkCoverage(_ infos: [TensorInfo], dataStart: Int, dataSize: Int,
                              file: String) throws(CheckpointError) {
        let ordered = infos.sorted {
            ($0.fileOffset, $0.byteCount, $0.name) < ($1.fileOffset, $1.byteCount, $1.name)
        }
        var covered = 0   // the data tiled so far, from the start of the data section
        var previous: TensorInfo?
        for info in ordered {
            let begin = info.fileOffset - dataStart
            if begin < covered, let previous {
                throw .invalidTensor(file: file, tensor: info.name, detail: "its data overlaps tensor '\(CheckpointError.shown(previous.name))'")
            }
            if begin > covered {
                let after = previous.map { "tensor '\(CheckpointError.shown($0.name))' ends at data offset \(covered)" } ?? "the data section starts"
                throw .invalidTensor(file: file, tensor: info.name,
                                     detail: "its data starts at data offset \(begin), but \(after): \(begin - covered) "
                                         + "byte(s) between them belong to no tensor (is the header length right?)")
            }
            covered = begin + info.byteCount
            previous = info
        }
        if covered != dataSize {
            let what = previous.map { "the last tensor, '\(CheckpointError.shown($0.name))', ends at data offset \(covered)" }
                ?? "the header lists no tensor"
            throw .malformedHeader(file: file, detail: "\(what), but the data section holds \(dataSize) bytes: "
                                       + "\(dataSize - covered) trailing byte(s) belong to no tensor (is the header length right?)")
        }
    }

    private static func parseEntry(name: String, entry: JSONValue, file: String, dataStart: Int,
                                   dataSize: Int) throws(CheckpointError) -> TensorInfo {
        func bad(_ detail: String) -> CheckpointError { .invalidTensor(file: file, tensor: name, detail: detail) }
        guard case .object(let fields) = entry else { throw bad("header entry is \(entry.kindDescription), not an object") }
        guard case .string(let dtypeName)? = fields["dtype"] else { throw bad("'dtype' is missing or not a string") }
        // Element types only: block formats are stored as an I8/U8 payload plus an F16 scale tensor.
        guard let dtype = DType(rawValue: dtypeName), dtype.elementSize != nil else {
            throw .unsupportedDType(file: file, tensor: name, dtype: dtypeName)
        }
        guard case .array(let shapeValues)? = fields["shape"] else { throw bad("'shape' is missing or not an array") }
        var shape: [Int] = []
        shape.reserveCapacity(shapeValues.count)
        for v in shapeValues {
            guard case .int(let d) = v, d >= 0 else { throw bad("'shape' must hold non-negative integers") }
            shape.append(d)
        }
        guard let byteCount = byteLength(dtype: dtype, shape: shape) else { throw bad("shape \(shape) is too large") }
        guard case .array(let offsets)? = fields["data_offsets"], offsets.count == 2,
              case .int(let begin) = offsets[0], case .int(let end) = offsets[1] else {
            throw bad("'data_offsets' must be [begin, end]")
        }
        guard begin >= 0, begin <= end else { throw bad("data_offsets [\(begin), \(end)] are not an ordered range") }
        guard end <= dataSize else {
            throw .truncated(file: file, detail: "tensor '\(CheckpointError.shown(name))' ends at data offset \(end), past the end of the "
                                 + "data section (\(dataSize) bytes)")
        }
        guard end - begin == byteCount else {
            throw bad("shape \(shape) of \(dtype.rawValue) needs \(byteCount) bytes, but data_offsets [\(begin), \(end)] "
                          + "span \(end - begin)")
        }
        return TensorInfo(name: name, dtype: dtype, shape: shape, fileOffset: dataStart + begin, byteCount: byteCount)
    }
}
