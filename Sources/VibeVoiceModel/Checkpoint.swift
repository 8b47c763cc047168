import Foundation
import VibeVoiceCompute
import VibeVoiceJSON

/// A checkpoint directory: `config.json` plus safetensors weights (one file, or shards listed by
/// `model.safetensors.index.json`), in either the transformers or the original layout. Tensors are looked up
/// by their canonical name (see `CheckpointNames`) and returned as views into the memory-mapped files.
public final class Checkpoint: Sendable {
    /// Where one tensor is stored.
    public struct TensorLocation: Sendable, Equatable {
        public let file: URL
        public let storedName: String
        public let dtype: DType
        public let shape: [Int]
    }

    private struct Entry: Sendable {
        let file: SafetensorsFile
        let info: SafetensorsFile.TensorInfo
    }

    public static let indexFileName = "model.safetensors.index.json"
    public static let singleFileName = "model.safetensors"

    public let directory: URL
    public let config: VibeVoiceConfig
    /// The mapped weight files, in load order.
    public let files: [SafetensorsFile]
    /// Stored tensors that are not part of the ASR model (e.g. the original checkpoint's acoustic decoder).
    public let ignoredTensorNames: [String]
    private let entries: [String: Entry]

    /// Reads `directory/config.json` and maps the weights. Throws `ConfigError` or `CheckpointError`.
    public convenience init(directory: URL) throws {
        let config = try VibeVoiceConfig.load(from: directory)
        try self.init(directory: directory, config: config)
    }

    /// Maps the weights of `directory` for an already parsed `config`.
    public init(directory: URL, config: VibeVoiceConfig) throws(CheckpointError) {
        let (urls, weightMap, indexURL) = try Checkpoint.weightFiles(in: directory)
        var files: [SafetensorsFile] = []
        var entries: [String: Entry] = [:]
        var ignored: [String] = []
        for url in urls {
            let file = try SafetensorsFile(url: url)
            files.append(file)
            for stored in file.tensorNames {
                guard let canonical = CheckpointNames.canonical(stored) else {
                    ignored.append(stored)
                    continue
                }
                let info = file.tensors[stored]!
                if let previous = entries[canonical] {
                    throw .duplicateTensor(name: canonical,
                                           first: "'\(previous.info.name)' in \(previous.file.url.path)",
                                           second: "'\(stored)' in \(url.path)")
                }
                entries[canonical] = Entry(file: file, info: info)
            }
        }
        // The index must agree with the shards it names.
        if let weightMap, let indexURL {
            let byName = Dictionary(uniqueKeysWithValues: files.map { ($0.url.lastPathComponent, $0) })
            for (tensor, shard) in weightMap.sorted(by: { $0.key < $1.key }) where byName[shard]?.has(tensor) != true {
                throw .indexMismatch(index: indexURL.path, tensor: tensor, shard: shard)
            }
        }
        self.directory = directory
        self.config = config
        self.files = files
        self.entries = entries
        self.ignoredTensorNames = ignored.sorted()
        // Every tensor config.json lists as quantised must be there, with payload and scales that fit its format.
        for (name, q) in (config.quantization?.tensors ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard let e = entries[name] else {
                throw .missingTensor(directory: directory.path, name: name, tried: [name])
            }
            _ = try blockTensor(name, payload: e, format: q.format, shape: q.shape)
        }
    }

    /// Canonical names of all tensors the checkpoint holds for the ASR model, sorted.
    public var tensorNames: [String] { entries.keys.sorted() }

    /// Whether the checkpoint holds `name` (canonical, or any stored spelling of it).
    public func has(_ name: String) -> Bool { entry(name) != nil }

    /// Where `name` is stored, or nil when the checkpoint lacks it.
    public func location(of name: String) -> TensorLocation? {
        guard let e = entry(name) else { return nil }
        let canonical = CheckpointNames.canonical(e.info.name) ?? e.info.name
        if let q = config.quantization?.tensors[canonical] {
            return TensorLocation(file: e.file.url, storedName: e.info.name, dtype: q.format, shape: q.shape)
        }
        return TensorLocation(file: e.file.url, storedName: e.info.name, dtype: e.info.dtype, shape: e.info.shape)
    }

    /// The tensor `name` (canonical, or any stored spelling) in its stored dtype, or in its block format when
    /// the config's `quantization_config` lists it (payload and scales assembled and checked).
    public func tensor(_ name: String) throws(CheckpointError) -> WeightTensor {
        guard let e = entry(name) else {
            let canonical = CheckpointNames.canonical(name) ?? name
            throw .missingTensor(directory: directory.path, name: canonical,
                                 tried: CheckpointNames.storedSpellings(of: canonical))
        }
        let canonical = CheckpointNames.canonical(e.info.name) ?? e.info.name
        if let q = config.quantization?.tensors[canonical] {
            return try blockTensor(canonical, payload: e, format: q.format, shape: q.shape)
        }
        if !e.info.dtype.isFloat {
            throw .invalidTensor(file: e.file.url.path, tensor: e.info.name,
                                 detail: "is stored as \(e.info.dtype.rawValue), which only a quantised tensor's payload "
                                     + "may be, and config.json's quantization_config does not list it")
        }
        return e.file.tensor(e.info)
    }

    /// The tensor `name`, which must have exactly `shape` (the logical shape for block formats).
    public func tensor(_ name: String, shape: [Int]) throws(CheckpointError) -> WeightTensor {
        let t = try tensor(name)
        guard t.shape == shape else {
            let e = entry(name)!
            throw .shapeMismatch(file: e.file.url.path, tensor: CheckpointNames.canonical(name) ?? name,
                                 stored: e.info.name, expected: shape, actual: t.shape)
        }
        return t
    }

    /// The fraction of the pages of every tensor under `prefix` that are in the page cache now (1 when there are
    /// none): below 1, their first use waits on the disk. Reads nothing.
    public func cachedFraction(prefix: String) -> Double {
        var cached = 0, total = 0
        for (name, e) in entries where name.hasPrefix(prefix) {
            let c = e.file.cachedPages(e.info)
            cached += c.cached
            total += c.total
        }
        return total > 0 ? Double(cached) / Double(total) : 1
    }

    /// Drops the resident memory-mapped pages of tensor `name` (see `SafetensorsFile.releaseResidentPages`).
    public func releaseResidentPages(of name: String) {
        guard let e = entry(name) else { return }
        e.file.releaseResidentPages(e.info)
    }

    /// Drops the resident pages of a block-format tensor's scales (nothing for other tensors).
    public func releaseResidentPagesOfScales(of name: String) {
        guard let e = entry(name) else { return }
        let canonical = CheckpointNames.canonical(e.info.name) ?? e.info.name
        guard config.quantization?.tensors[canonical] != nil,
              let s = entries[QuantizationConfig.scaleName(of: canonical)] else { return }
        s.file.releaseResidentPages(s.info)
    }

    /// Drops the resident pages of `bytes` (offsets within the stored data) of tensor `name`.
    public func releaseResidentPages(of name: String, bytes: Range<Int>) {
        guard let e = entry(name) else { return }
        e.file.releaseResidentPages(e.info, bytes: bytes)
    }

    /// Whether `name` is stored in a block format.
    public func isQuantized(_ name: String) -> Bool {
        config.quantization?.tensors[CheckpointNames.canonical(name) ?? name] != nil
    }

    /// Assembles a block-format tensor from its payload and `NAME_scale`, checking both against the format
    /// and the logical shape.
    private func blockTensor(_ name: String, payload e: Entry, format: DType, shape: [Int]) throws(CheckpointError)
        -> WeightTensor {
        let file = e.file.url.path
        let rows = shape[0], cols = shape.dropFirst().reduce(1, *)
        let nb = (cols + DType.blockLength - 1) / DType.blockLength
        let payloadType = format.payloadElementType!
        let expectedPayload = [rows, nb * format.blockPayloadBytes]
        guard e.info.dtype == payloadType, e.info.shape == expectedPayload else {
            throw .quantizedTensorMismatch(
                file: file, tensor: name, field: e.info.name,
                detail: "is \(e.info.dtype.rawValue) \(e.info.shape), but \(format.userName) of shape \(shape) is stored as "
                    + "\(payloadType.rawValue) \(expectedPayload)")
        }
        let scaleName = QuantizationConfig.scaleName(of: name)
        guard let s = entries[scaleName] else {
            throw .quantizedTensorMismatch(file: file, tensor: name, field: scaleName,
                                           detail: "is missing: a \(format.userName) tensor needs its block scales")
        }
        guard s.info.dtype == .f16, s.info.shape == [rows, nb] else {
            throw .quantizedTensorMismatch(
                file: s.file.url.path, tensor: name, field: s.info.name,
                detail: "is \(s.info.dtype.rawValue) \(s.info.shape), but the scales of \(rows) rows of \(nb) blocks are "
                    + "F16 [\(rows), \(nb)]")
        }
        let p = e.file.tensor(e.info), sc = s.file.tensor(s.info)
        return WeightTensor(blockFormat: format, shape: shape, data: p.data, scales: sc.data, owner: p.owner,
                            scalesOwner: sc.owner)
    }

    /// Checks that every tensor the model needs for `config` is present with the expected shape.
    public func validate() throws(CheckpointError) {
        for (name, shape) in CheckpointNames.expectedShapes(for: config) {
            _ = try tensor(name, shape: shape)
        }
    }

    private func entry(_ name: String) -> Entry? {
        if let e = entries[name] { return e }
        guard let canonical = CheckpointNames.canonical(name) else { return nil }
        return entries[canonical]
    }

    // MARK: - Finding the weight files

    /// The safetensors files of `directory`: the shards of `model.safetensors.index.json` when present,
    /// else `model.safetensors`, else every `*.safetensors` file (sorted).
    static func weightFiles(in directory: URL) throws(CheckpointError)
        -> (files: [URL], weightMap: [String: String]?, index: URL?) {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: directory.path, isDirectory: &isDir), isDir.boolValue else {
            throw .unreadable(file: directory.path, reason: "not a directory")
        }
        let indexURL = directory.appendingPathComponent(indexFileName)
        if fm.fileExists(atPath: indexURL.path) {
            let map = try readIndex(indexURL)
            var shards: [URL] = []
            for shard in Set(map.values).sorted() {
                let url = directory.appendingPathComponent(shard)
                guard fm.fileExists(atPath: url.path, isDirectory: &isDir), !isDir.boolValue else {
                    throw .missingShard(index: indexURL.path, shard: shard)
                }
                shards.append(url)
            }
            return (shards, map, indexURL)
        }
        let single = directory.appendingPathComponent(singleFileName)
        if fm.fileExists(atPath: single.path) { return ([single], nil, nil) }
        let names: [String]
        do {
            names = try fm.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw .unreadable(file: directory.path, reason: error.localizedDescription)
        }
        let found = names.filter { $0.hasSuffix(".safetensors") && !$0.hasPrefix(".") }.sorted()
        guard !found.isEmpty else { throw .noWeights(directory: directory.path) }
        return (found.map { directory.appendingPathComponent($0) }, nil, nil)
    }

    /// `{"metadata": {...}, "weight_map": {tensor: shard file name}}`.
    static func readIndex(_ url: URL) throws(CheckpointError) -> [String: String] {
        let data: Data
        do {
            data = try FileContents.read(url)
        } catch {
            throw .unreadable(file: url.path, reason: error.localizedDescription)
        }
        let root: JSONValue
        do {
            root = try JSONValue.parse(data)
        } catch {
            throw .malformedIndex(file: url.path, detail: "invalid JSON: \(error.description)")
        }
        guard case .object(let top) = root else {
            throw .malformedIndex(file: url.path, detail: "the top level is \(root.kindDescription), not an object")
        }
        guard case .object(let map)? = top["weight_map"] else {
            throw .malformedIndex(file: url.path, detail: "'weight_map' is missing or not an object")
        }
        guard !map.isEmpty else { throw .malformedIndex(file: url.path, detail: "'weight_map' is empty") }
        var out: [String: String] = [:]
        for (tensor, value) in map {
            guard case .string(let shard) = value else {
                throw .malformedIndex(file: url.path, detail: "weight_map['\(tensor)'] is \(value.kindDescription), "
                                          + "not a file name")
            }
            // Shards are plain file names next to the index; never let the index point elsewhere.
            guard !shard.isEmpty, !shard.contains("/"), !shard.contains("\\"), shard != ".", shard != ".." else {
                throw .malformedIndex(file: url.path, detail: "weight_map['\(tensor)'] = '\(shard)' is not a file "
                                          + "name in the checkpoint directory")
            }
            out[tensor] = shard
        }
        return out
    }
}
