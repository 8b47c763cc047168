import Foundation
import VibeVoiceCompute
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a quantised copy of a checkpoint (`vibevoice-asr quantize`): the decoder matrices and token embedding
/// in a block format, everything else in its stored dtype, as safetensors shards of at most `maxShardBytes`
/// with `model.safetensors.index.json`, `config.json` with a `quantization_config` entry, and the tokenizer and
/// processor files copied. Tensor names are written in the HF Hub spelling whatever the input layout.
///
/// The output appears whole or not at all: everything is written into a hidden sibling directory
/// (`.NAME.partial`, marked as ours), flushed to disk, and renamed to the output last. A failed run removes it;
/// a killed run leaves only that hidden directory, which the next run clears. The input is never written to.
public enum CheckpointQuantizer {
    public static let defaultMaxShardBytes = 1_900_000_000
    static let partialMarker = ".vibevoice-quantize-partial"

    public struct Options: Sendable {
        public var format: DType
        public var maxShardBytes: Int
        /// A tokenizer.json (or a directory holding one) to copy when the input has none.
        public var tokenizer: URL?
        public init(format: DType, maxShardBytes: Int = CheckpointQuantizer.defaultMaxShardBytes, tokenizer: URL? = nil) {
            self.format = format
            self.maxShardBytes = maxShardBytes
            self.tokenizer = tokenizer
        }
    }

    public enum Event: Sendable {
        case planned(totalBytes: Int, shards: Int, tensors: Int)
        case wrote(bytes: Int, totalBytes: Int, tensor: String)
    }

    public struct Summary: Sendable {
        public var output: URL
        public var shards: [String]
        public var totalBytes: Int
        public var quantizedTensors: Int
        public var copiedFiles: [String]
    }

    /// One model tensor and what it becomes in the output.
    struct Item {
        let name: String
        let shape: [Int]
        let quantized: Bool
        let entries: [SafetensorsWriter.Entry]
        var bytes: Int { entries.reduce(0) { $0 + $1.byteCount } }
    }

    public static func quantize(input: URL, output: URL, options: Options,
                                progress: (Event) -> Void = { _ in }) throws -> Summary {
        guard options.format.isBlockFormat else { throw QuantizeError.notABlockFormat(options.format.rawValue) }
        let fm = FileManager.default
        let out = output.standardizedFileURL
        guard !fm.fileExists(atPath: out.path) else { throw QuantizeError.outputExists(out.path) }
        let parent = out.deletingLastPathComponent()
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: parent.path, isDirectory: &isDir), isDir.boolValue else {
            throw QuantizeError.noParent(parent.path)
        }
        let checkpoint = try Checkpoint(directory: input)
        if let q = checkpoint.config.quantization {
            throw QuantizeError.alreadyQuantized(directory: input.path, format: q.format.userName)
        }
        try checkpoint.validate()
        let tokenizerSource = try tokenizerFile(options.tokenizer)

        let items = try plan(checkpoint, format: options.format)
        let metadata = ["format": "pt", "vibevoice_quantization": options.format.userName]
        let shards = assignShards(items, maxBytes: options.maxShardBytes, metadata: metadata)
        let totalBytes = items.reduce(0) { $0 + $1.bytes }
        progress(.planned(totalBytes: totalBytes, shards: shards.count, tensors: items.count))

        let temp = parent.appendingPathComponent(".\(out.lastPathComponent).partial")
        try prepareTemp(temp)
        var done = false
        defer { if !done { try? fm.removeItem(at: temp) } }

        var written = 0
        var weightMap: [String: String] = [:]
        var shardNames: [String] = []
        for (i, shard) in shards.enumerated() {
            let fileName = String(format: "model-%05d-of-%05d.safetensors", i + 1, shards.count)
            shardNames.append(fileName)
            let entries = SafetensorsWriter.aligned(shard.flatMap(\.entries))
            let writer = try SafetensorsWriter(url: temp.appendingPathComponent(fileName), entries: entries,
                                               metadata: metadata)
            let byName = Dictionary(uniqueKeysWithValues: shard.map { ($0.name, $0) })
            var pending: [String: WeightTensor] = [:]      // quantised, waiting for its other plane
            for entry in entries {
                let base = entry.name.hasSuffix(QuantizationConfig.scaleSuffix) && byName[entry.name] == nil
                    ? String(entry.name.dropLast(QuantizationConfig.scaleSuffix.count)) : entry.name
                let item = byName[base]!
                weightMap[entry.name] = fileName
                if item.quantized {
                    let q: WeightTensor
                    if let p = pending.removeValue(forKey: base) {
                        q = p
                    } else {
                        let stored = try checkpoint.tensor(base, shape: item.shape)
                        do {
                            q = try WeightQuantizer.quantize(stored, to: options.format)
                        } catch {
                            throw CheckpointError.cannotQuantize(file: checkpoint.location(of: base)?.file.path ?? input.path,
                                                                 tensor: base, detail: error.description)
                        }
                        checkpoint.releaseResidentPages(of: base)
                        pending[base] = q
                    }
                    if entry.name == base {
                        try writer.append(UnsafeRawBufferPointer(start: q.data, count: q.payloadByteCount), name: entry.name)
                    } else {
                        try writer.append(UnsafeRawBufferPointer(start: q.scales!, count: q.scaleByteCount), name: entry.name)
                    }
                } else {
                    let stored = try checkpoint.tensor(base, shape: item.shape)
                    try writer.append(UnsafeRawBufferPointer(start: stored.data, count: stored.payloadByteCount), name: entry.name)
                    checkpoint.releaseResidentPages(of: base)
                }
                written += entry.byteCount
                progress(.wrote(bytes: written, totalBytes: totalBytes, tensor: entry.name))
            }
            try writer.finish()
        }

        // Index, config, tokenizer and processor files; config.json last, so a directory without it is never whole.
        try writeJSON(["metadata": ["total_size": totalBytes], "weight_map": weightMap],
                      to: temp.appendingPathComponent(Checkpoint.indexFileName))
        var copied = try copyCompanionFiles(from: input, to: temp)
        if let tokenizerSource, !copied.contains("tokenizer.json") {
            try copyFile(tokenizerSource, to: temp.appendingPathComponent("tokenizer.json"))
            copied.append("tokenizer.json")
        }
        let tensors = Dictionary(uniqueKeysWithValues: items.filter(\.quantized).map {
            ($0.name, QuantizationConfig.Tensor(format: options.format, shape: $0.shape))
        })
        let quantization = QuantizationConfig(format: options.format, tensors: tensors)
        try writeConfig(from: input.appendingPathComponent("config.json"), adding: quantization,
                        to: temp.appendingPathComponent("config.json"))
        try? fm.removeItem(at: temp.appendingPathComponent(partialMarker))
        syncDirectory(temp)
        guard !fm.fileExists(atPath: out.path) else { throw QuantizeError.outputExists(out.path) }
        guard rename(temp.path, out.path) == 0 else {
            throw QuantizeError.io(file: out.path, reason: String(cString: strerror(errno)))
        }
        syncDirectory(parent)
        done = true
        return Summary(output: out, shards: shardNames, totalBytes: totalBytes, quantizedTensors: tensors.count,
                       copiedFiles: copied.sorted())
    }

    /// Every tensor the model reads, in model order, and what it becomes.
    static func plan(_ checkpoint: Checkpoint, format: DType) throws -> [Item] {
        try CheckpointNames.expectedShapes(for: checkpoint.config).map { name, shape in
            let stored = try checkpoint.tensor(name, shape: shape)
            guard CheckpointNames.isQuantizable(name) else {
                return Item(name: name, shape: shape, quantized: false,
                            entries: [.init(name: name, dtype: stored.dtype, shape: stored.shape)])
            }
            let rows = shape[0], cols = shape.dropFirst().reduce(1, *)
            let nb = (cols + DType.blockLength - 1) / DType.blockLength
            return Item(name: name, shape: shape, quantized: true, entries: [
                .init(name: QuantizationConfig.scaleName(of: name), dtype: .f16, shape: [rows, nb]),
                .init(name: name, dtype: format.payloadElementType!, shape: [rows, nb * format.blockPayloadBytes]),
            ])
        }
    }

    /// Greedy: items in order, a new shard when the next one would pass `maxBytes` (a lone item larger than
    /// that gets a shard of its own).
    static func assignShards(_ items: [Item], maxBytes: Int, metadata: [String: String]) -> [[Item]] {
        var shards: [[Item]] = []
        var current: [Item] = []
        for item in items {
            let candidate = current + [item]
            if !current.isEmpty,
               SafetensorsWriter.fileSize(SafetensorsWriter.aligned(candidate.flatMap(\.entries)), metadata: metadata) > maxBytes {
                shards.append(current)
                current = [item]
            } else {
                current = candidate
            }
        }
        if !current.isEmpty { shards.append(current) }
        return shards
    }

    static func prepareTemp(_ temp: URL) throws {
        let fm = FileManager.default
        if fm.fileExists(atPath: temp.path) {
            // A run that was killed leaves its hidden directory behind; clear it only when it is ours.
            guard fm.fileExists(atPath: temp.appendingPathComponent(partialMarker).path) else {
                throw QuantizeError.outputExists(temp.path)
            }
            try fm.removeItem(at: temp)
        }
        do {
            try fm.createDirectory(at: temp, withIntermediateDirectories: false)
            try Data().write(to: temp.appendingPathComponent(partialMarker))
        } catch {
            throw QuantizeError.io(file: temp.path, reason: error.localizedDescription)
        }
    }

    /// Small files a loader or processor reads beside the weights (tokenizer, processor, generation config).
    static func copyCompanionFiles(from input: URL, to dir: URL) throws -> [String] {
        let fm = FileManager.default
        let names = (try? fm.contentsOfDirectory(atPath: input.path)) ?? []
        var copied: [String] = []
        for name in names.sorted() where !name.hasPrefix(".") {
            guard name != "config.json", name != Checkpoint.indexFileName, !name.hasSuffix(".safetensors"),
                  [".json", ".txt", ".jinja", ".model", ".tiktoken"].contains(where: { name.hasSuffix($0) }) else { continue }
            let src = input.appendingPathComponent(name).resolvingSymlinksInPath()
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: src.path, isDirectory: &isDir), !isDir.boolValue else { continue }
            try copyFile(src, to: dir.appendingPathComponent(name))
            copied.append(name)
        }
        return copied
    }

    static func tokenizerFile(_ url: URL?) throws -> URL? {
        guard let url else { return nil }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
            throw QuantizeError.io(file: url.path, reason: "no such file or directory")
        }
        let file = isDir.boolValue ? url.appendingPathComponent("tokenizer.json") : url
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw QuantizeError.io(file: file.path, reason: "no tokenizer.json there")
        }
        return file
    }

    static func copyFile(_ src: URL, to dst: URL) throws {
        do {
            let data = try Data(contentsOf: src)
            try writeSynced(data, to: dst)
        } catch let e as QuantizeError {
            throw e
        } catch {
            throw QuantizeError.io(file: src.path, reason: error.localizedDescription)
        }
    }

    static func writeJSON(_ object: Any, to url: URL) throws {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        try writeSynced(data + Data("\n".utf8), to: url)
    }

    /// The input config.json, byte for byte, with `"quantization_config": {...}` added as its last member.
    static func writeConfig(from src: URL, adding q: QuantizationConfig, to dst: URL) throws {
        guard var text = try? String(contentsOf: src, encoding: .utf8) else {
            throw QuantizeError.io(file: src.path, reason: "cannot read it as UTF-8")
        }
        while let last = text.last, last.isWhitespace { text.removeLast() }
        guard text.last == "}" else { throw QuantizeError.io(file: src.path, reason: "the top level is not a JSON object") }
        text.removeLast()
        while let last = text.last, last.isWhitespace { text.removeLast() }
        let entry = try JSONSerialization.data(withJSONObject: q.jsonObject, options: [.sortedKeys])
        let separator = text.hasSuffix("{") ? "" : ","
        text += "\(separator)\n  \"quantization_config\": \(String(decoding: entry, as: UTF8.self))\n}\n"
        try writeSynced(Data(text.utf8), to: dst)
    }

    static func writeSynced(_ data: Data, to url: URL) throws {
        let fd = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw QuantizeError.io(file: url.path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            var offset = 0
            while offset < raw.count {
                #if canImport(Glibc)
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                #else
                let n = Darwin.write(fd, raw.baseAddress! + offset, raw.count - offset)
                #endif
                if n < 0 {
                    if errno == EINTR { continue }
                    throw QuantizeError.io(file: url.path, reason: String(cString: strerror(errno)))
                }
                offset += n
            }
        }
        guard fsync(fd) == 0 else { throw QuantizeError.io(file: url.path, reason: String(cString: strerror(errno))) }
    }

    static func syncDirectory(_ url: URL) {
        let fd = open(url.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            _ = fsync(fd)
            close(fd)
        }
    }
}

public enum QuantizeError: Error, CustomStringConvertible, Equatable, Sendable {
    case notABlockFormat(String)
    case outputExists(String)
    case noParent(String)
    case alreadyQuantized(directory: String, format: String)
    case io(file: String, reason: String)

    public var description: String {
        switch self {
        case let .notABlockFormat(f): return "'\(f)' is not a block format; expected q8_0 or q4_0"
        case let .outputExists(p): return "output \(p) already exists; quantize writes a new directory and never replaces one"
        case let .noParent(p): return "the output's parent directory \(p) does not exist"
        case let .alreadyQuantized(dir, f):
            return "checkpoint \(dir) is already quantised (\(f)); quantise from its F32, F16 or BF16 original"
        case let .io(file, reason): return "cannot write \(file): \(reason)"
        }
    }
}
