import Foundation

/// A token from tokenizer.json's `added_tokens`, matched in the raw text before BPE.
struct AddedToken: Sendable {
    let id: Int
    let content: String
    let scalars: [Unicode.Scalar]
    let special: Bool
    let singleWord: Bool
    let lstrip: Bool
    let rstrip: Bool
    let normalized: Bool
}

/// Unicode normalisation forms (`normalizer` entries) supported for byte-level tokenizers.
enum NormalizerStep: Sendable, Equatable {
    case nfc, nfd, nfkc, nfkd, lowercase

    func apply(_ s: String) -> String {
        switch self {
        case .nfc:
            // Text below U+0300 is already NFC; skip Foundation for the common ASCII / Latin-1 case.
            if s.unicodeScalars.allSatisfy({ $0.value < 0x300 }) { return s }
            return s.precomposedStringWithCanonicalMapping
        case .nfd: return s.decomposedStringWithCanonicalMapping
        case .nfkc: return s.precomposedStringWithCompatibilityMapping
        case .nfkd: return s.decomposedStringWithCompatibilityMapping
        case .lowercase: return s.lowercased()
        }
    }
}

/// Everything `Tokenizer` needs, read from a tokenizer.json.
struct TokenizerDefinition {
    var vocab: [String: Int] = [:]
    var mergePairs: [(String, String)] = []
    var ignoreMerges = false
    var unknownToken: String?
    var addedTokens: [AddedToken] = []
    var normalizers: [NormalizerStep] = []
    var splitter: PieceSplitter?
    var addPrefixSpace = false

    /// Resolves `url` (a tokenizer.json, or a directory holding one) and parses it.
    static func load(url: URL) throws -> (TokenizerDefinition, String) {
        var isDir: ObjCBool = false
        var fileURL = url
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), isDir.boolValue {
            fileURL = url.appendingPathComponent("tokenizer.json")
        }
        let path = fileURL.path
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue else {
            throw TokenizerError.fileNotFound(path: path)
        }
        let data: Data
        do {
            data = try Data(contentsOf: fileURL, options: .mappedIfSafe)
        } catch {
            throw TokenizerError.unreadable(path: path, reason: error.localizedDescription)
        }
        return (try parse(data: data, path: path), path)
    }

    static func parse(data: Data, path: String) throws -> TokenizerDefinition {
        let root: Any
        do {
            root = try JSONSerialization.jsonObject(with: data, options: [])
        } catch {
            throw TokenizerError.malformedJSON(path: path, detail: "could not parse JSON (\(error.localizedDescription))")
        }
        guard let top = root as? [String: Any] else {
            throw TokenizerError.malformedJSON(path: path, detail: "the top level is not a JSON object")
        }
        var def = TokenizerDefinition()
        try def.readModel(top["model"], path: path)
        try def.readAddedTokens(top["added_tokens"], path: path)
        try def.readNormalizer(top["normalizer"], path: path, field: "normalizer")
        try def.readPreTokenizer(top["pre_tokenizer"], path: path, field: "pre_tokenizer")
        try def.checkDecoder(top["decoder"], path: path)
        if def.splitter == nil {
            throw TokenizerError.unsupported(path: path, field: "pre_tokenizer", value: "without a byte-level split")
        }
        return def
    }

    private mutating func readModel(_ value: Any?, path: String) throws {
        guard let model = value as? [String: Any] else {
            throw TokenizerError.invalidField(path: path, field: "model", expected: "an object")
        }
        let type = model["type"] as? String
        if let type, type != "BPE" {
            throw TokenizerError.unsupported(path: path, field: "model type", value: "\"\(type)\" (only BPE)")
        }
        guard let vocabObject = model["vocab"] as? [String: Any] else {
            throw TokenizerError.invalidField(path: path, field: "model.vocab", expected: "an object of token -> id")
        }
        guard let merges = model["merges"] as? [Any] else {
            throw TokenizerError.invalidField(path: path, field: "model.merges",
                                              expected: "an array of \"a b\" strings or [\"a\", \"b\"] pairs")
        }
        vocab.reserveCapacity(vocabObject.count)
        for (token, idValue) in vocabObject {
            guard let id = Self.integer(idValue), id >= 0, id < Int(Int32.max) else {
                throw TokenizerError.invalidField(path: path, field: "model.vocab[\(token)]",
                                                  expected: "a non-negative integer id")
            }
            vocab[token] = id
        }
        mergePairs.reserveCapacity(merges.count)
        for (k, m) in merges.enumerated() {
            if let s = m as? String {
                let parts = s.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else {
                    throw TokenizerError.invalidField(path: path, field: "model.merges[\(k)]",
                                                      expected: "two tokens separated by one space, got \"\(s)\"")
                }
                mergePairs.append((String(parts[0]), String(parts[1])))
            } else if let pair = m as? [Any], pair.count == 2, let a = pair[0] as? String, let b = pair[1] as? String {
                mergePairs.append((a, b))
            } else {
                throw TokenizerError.invalidField(path: path, field: "model.merges[\(k)]",
                                                  expected: "a string \"a b\" or a pair [\"a\", \"b\"]")
            }
        }
        ignoreMerges = (model["ignore_merges"] as? Bool) ?? false
        unknownToken = model["unk_token"] as? String
        if (model["byte_fallback"] as? Bool) == true {
            throw TokenizerError.unsupported(path: path, field: "model.byte_fallback", value: "true")
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let s = model[key] as? String, !s.isEmpty {
                throw TokenizerError.unsupported(path: path, field: "model.\(key)", value: "\"\(s)\"")
            }
        }
    }

    private mutating func readAddedTokens(_ value: Any?, path: String) throws {
        guard let value, !(value is NSNull) else { return }
        guard let list = value as? [Any] else {
            throw TokenizerError.invalidField(path: path, field: "added_tokens", expected: "an array")
        }
        for (k, item) in list.enumerated() {
            guard let t = item as? [String: Any], let id = Self.integer(t["id"]), id >= 0, id < Int(Int32.max),
                  let content = t["content"] as? String, !content.isEmpty
            else {
                throw TokenizerError.invalidField(path: path, field: "added_tokens[\(k)]",
                                                  expected: "an object with a non-negative \"id\" and a non-empty \"content\"")
            }
            addedTokens.append(AddedToken(
                id: id, content: content, scalars: Array(content.unicodeScalars),
                special: (t["special"] as? Bool) ?? false,
                singleWord: (t["single_word"] as? Bool) ?? false,
                lstrip: (t["lstrip"] as? Bool) ?? false,
                rstrip: (t["rstrip"] as? Bool) ?? false,
                normalized: (t["normalized"] as? Bool) ?? !((t["special"] as? Bool) ?? false)))
        }
    }

    private mutating func readNormalizer(_ value: Any?, path: String, field: String) throws {
        guard let value, !(value is NSNull) else { return }
        guard let n = value as? [String: Any], let type = n["type"] as? String else {
            throw TokenizerError.invalidField(path: path, field: field, expected: "null or an object with a \"type\"")
        }
        switch type {
        case "NFC": normalizers.append(.nfc)
        case "NFD": normalizers.append(.nfd)
        case "NFKC": normalizers.append(.nfkc)
        case "NFKD": normalizers.append(.nfkd)
        case "Lowercase": normalizers.append(.lowercase)
        case "Sequence":
            guard let items = n["normalizers"] as? [Any] else {
                throw TokenizerError.invalidField(path: path, field: field + ".normalizers", expected: "an array")
            }
            for (k, item) in items.enumerated() {
                try readNormalizer(item, path: path, field: field + ".normalizers[\(k)]")
            }
        default:
            throw TokenizerError.unsupported(path: path, field: field, value: "\"\(type)\"")
        }
    }

    private mutating func readPreTokenizer(_ value: Any?, path: String, field: String) throws {
        guard let value, !(value is NSNull) else { return }
        guard let p = value as? [String: Any], let type = p["type"] as? String else {
            throw TokenizerError.invalidField(path: path, field: field, expected: "null or an object with a \"type\"")
        }
        switch type {
        case "Sequence":
            guard let items = p["pretokenizers"] as? [Any] else {
                throw TokenizerError.invalidField(path: path, field: field + ".pretokenizers", expected: "an array")
            }
            for (k, item) in items.enumerated() {
                try readPreTokenizer(item, path: path, field: field + ".pretokenizers[\(k)]")
            }
        case "Split":
            guard let pattern = p["pattern"] as? [String: Any], let regex = pattern["Regex"] as? String else {
                throw TokenizerError.unsupported(path: path, field: field + ".pattern", value: "(not a Regex)")
            }
            guard let known = PieceSplitter.pattern(forRegex: regex) else {
                throw TokenizerError.unsupported(path: path, field: field + ".pattern", value: regex)
            }
            let behavior = (p["behavior"] as? String) ?? "Isolated"
            if behavior != "Isolated" || (p["invert"] as? Bool) == true {
                throw TokenizerError.unsupported(path: path, field: field + ".behavior", value: behavior)
            }
            if splitter != nil {
                throw TokenizerError.unsupported(path: path, field: field, value: "a second split")
            }
            splitter = PieceSplitter(pattern: known)
        case "ByteLevel":
            if (p["add_prefix_space"] as? Bool) == true { addPrefixSpace = true }
            if (p["use_regex"] as? Bool) ?? true {
                if splitter != nil {
                    throw TokenizerError.unsupported(path: path, field: field, value: "ByteLevel regex after a split")
                }
                splitter = PieceSplitter(pattern: .gpt2)
            } else if splitter == nil {
                // No regex at all: the whole text is one piece. Not used by real byte-level tokenizers.
                throw TokenizerError.unsupported(path: path, field: field, value: "ByteLevel without a split regex")
            }
        default:
            throw TokenizerError.unsupported(path: path, field: field, value: "\"\(type)\"")
        }
    }

    private func checkDecoder(_ value: Any?, path: String) throws {
        guard let value, !(value is NSNull) else {
            throw TokenizerError.unsupported(path: path, field: "decoder", value: "null (a ByteLevel decoder is needed)")
        }
        guard let d = value as? [String: Any], let type = d["type"] as? String else {
            throw TokenizerError.invalidField(path: path, field: "decoder", expected: "an object with a \"type\"")
        }
        if type != "ByteLevel" {
            throw TokenizerError.unsupported(path: path, field: "decoder", value: "\"\(type)\" (only ByteLevel)")
        }
    }

    static func integer(_ v: Any?) -> Int? {
        if let i = v as? Int { return i }
        if let n = v as? NSNumber, n.doubleValue == n.doubleValue.rounded() { return n.intValue }
        return nil
    }
}
