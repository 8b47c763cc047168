import Foundation
import VibeVoiceJSON

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
    var vocab: [(token: String, id: Int)] = []
    var mergePairs: [(String, String)] = []
    var ignoreMerges = false
    var unknownToken: String?
    var addedTokens: [AddedToken] = []
    var normalizers: [NormalizerStep] = []
    var splitter: PieceSplitter?
    /// ByteLevel's add_prefix_space: a space before text that does not start with one. It applies to what the
    /// ByteLevel step receives: whole text segments when it splits itself (use_regex), each piece after a Split.
    var prefixSpace: PrefixSpace = .none

    enum PrefixSpace: Sendable { case none, segment, eachPiece }

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
            data = try FileContents.read(fileURL, mapped: true)
        } catch {
            throw TokenizerError.unreadable(path: path, reason: error.localizedDescription)
        }
        return (try parse(data: data, path: path), path)
    }

    /// tokenizer.json is read leniently: a byte-order mark may precede the document, a repeated key is kept (lookups
    /// answer the first) and a `\u` escape of a lone surrogate becomes U+FFFD. Strings must still be valid UTF-8.
    static let jsonOptions = JSONParseOptions(maxDepth: 512, rejectDuplicateKeys: false, allowByteOrderMark: true,
                                              replaceLoneSurrogates: true)

    static func parse(data: Data, path: String) throws -> TokenizerDefinition {
        let root: JSONValue
        do {
            root = try JSONValue.parse(data, options: jsonOptions)
        } catch {
            throw TokenizerError.malformedJSON(path: path, detail: error.description)
        }
        guard root.object != nil else {
            throw TokenizerError.malformedJSON(path: path, detail: "the top level is not a JSON object")
        }
        var def = TokenizerDefinition()
        try def.readModel(root["model"], path: path)
        try def.readAddedTokens(root["added_tokens"], path: path)
        try def.readNormalizer(root["normalizer"], path: path, field: "normalizer")
        try def.readPreTokenizer(root["pre_tokenizer"], path: path, field: "pre_tokenizer")
        try def.checkDecoder(root["decoder"], path: path)
        if def.splitter == nil {
            throw TokenizerError.unsupported(path: path, field: "pre_tokenizer", value: "without a byte-level split")
        }
        return def
    }

    private mutating func readModel(_ value: JSONValue?, path: String) throws {
        guard let model = value, model.object != nil else {
            throw TokenizerError.invalidField(path: path, field: "model", expected: "an object")
        }
        if let typeValue = model["type"], !typeValue.isNull {
            guard let type = typeValue.string else {
                throw TokenizerError.invalidField(path: path, field: "model.type", expected: "a string")
            }
            if type != "BPE" {
                throw TokenizerError.unsupported(path: path, field: "model type", value: "\"\(type)\" (only BPE)")
            }
        }
        guard let vocabMembers = model["vocab"]?.object else {
            throw TokenizerError.invalidField(path: path, field: "model.vocab", expected: "an object of token -> id")
        }
        guard let merges = model["merges"]?.array else {
            throw TokenizerError.invalidField(path: path, field: "model.merges",
                                              expected: "an array of \"a b\" strings or [\"a\", \"b\"] pairs")
        }
        vocab.reserveCapacity(vocabMembers.count)
        for member in vocabMembers {
            let token = member.key, idValue = member.value
            guard let id = idValue.int, id >= 0, id < Int(Int32.max) else {
                throw TokenizerError.invalidField(path: path, field: "model.vocab[\(token)]",
                                                  expected: "a non-negative integer id")
            }
            vocab.append((token, id))
        }
        // Tables are indexed by id, so a vocabulary with one huge id would cost memory and time out of all proportion
        // to its file (found by fuzzing: one id of 11 000 000 among 233 tokens took 0.6 GB and seconds). Real BPE
        // vocabularies number their tokens from 0 without gaps; this bound leaves room for any gaps a real one has.
        let idLimit = 2 * vocab.count + 1024
        if let (token, id) = vocab.max(by: { $0.id < $1.id }), id >= idLimit {
            throw TokenizerError.invalidField(path: path, field: "model.vocab[\(token.prefix(64))]",
                                              expected: "an id below \(idLimit) for a vocabulary of \(vocab.count) tokens "
                                                  + "(ids run from 0 with few gaps), got \(id)")
        }
        mergePairs.reserveCapacity(merges.count)
        for (k, m) in merges.enumerated() {
            if let s = m.string {
                let parts = s.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else {
                    throw TokenizerError.invalidField(path: path, field: "model.merges[\(k)]",
                                                      expected: "two tokens separated by one space, got \"\(s)\"")
                }
                mergePairs.append((String(parts[0]), String(parts[1])))
            } else if let pair = m.array, pair.count == 2, let a = pair[0].string, let b = pair[1].string {
                mergePairs.append((a, b))
            } else {
                throw TokenizerError.invalidField(path: path, field: "model.merges[\(k)]",
                                                  expected: "a string \"a b\" or a pair [\"a\", \"b\"]")
            }
        }
        ignoreMerges = model["ignore_merges"]?.bool ?? false
        unknownToken = model["unk_token"]?.string
        if model["byte_fallback"]?.bool == true {
            throw TokenizerError.unsupported(path: path, field: "model.byte_fallback", value: "true")
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let s = model[key]?.string, !s.isEmpty {
                throw TokenizerError.unsupported(path: path, field: "model.\(key)", value: "\"\(s)\"")
            }
        }
    }

    private mutating func readAddedTokens(_ value: JSONValue?, path: String) throws {
        guard let value, !value.isNull else { return }
        guard let list = value.array else {
            throw TokenizerError.invalidField(path: path, field: "added_tokens", expected: "an array")
        }
        for (k, t) in list.enumerated() {
            guard let id = t["id"]?.int, id >= 0, id < Int(Int32.max), let content = t["content"]?.string,
                  !content.isEmpty
            else {
                throw TokenizerError.invalidField(path: path, field: "added_tokens[\(k)]",
                                                  expected: "an object with a non-negative \"id\" and a non-empty \"content\"")
            }
            let special = t["special"]?.bool ?? false
            addedTokens.append(AddedToken(
                id: id, content: content, scalars: Array(content.unicodeScalars),
                special: special,
                singleWord: t["single_word"]?.bool ?? false,
                lstrip: t["lstrip"]?.bool ?? false,
                rstrip: t["rstrip"]?.bool ?? false,
                normalized: t["normalized"]?.bool ?? !special))
        }
    }

    private mutating func readNormalizer(_ value: JSONValue?, path: String, field: String) throws {
        guard let value, !value.isNull else { return }
        guard let type = value["type"]?.string else {
            throw TokenizerError.invalidField(path: path, field: field, expected: "null or an object with a \"type\"")
        }
        switch type {
        case "NFC": normalizers.append(.nfc)
        case "NFD": normalizers.append(.nfd)
        case "NFKC": normalizers.append(.nfkc)
        case "NFKD": normalizers.append(.nfkd)
        case "Lowercase": normalizers.append(.lowercase)
        case "Sequence":
            guard let items = value["normalizers"]?.array else {
                throw TokenizerError.invalidField(path: path, field: field + ".normalizers", expected: "an array")
            }
            for (k, item) in items.enumerated() {
                try readNormalizer(item, path: path, field: field + ".normalizers[\(k)]")
            }
        default:
            throw TokenizerError.unsupported(path: path, field: field, value: "\"\(type)\"")
        }
    }

    private mutating func readPreTokenizer(_ value: JSONValue?, path: String, field: String) throws {
        guard let value, !value.isNull else { return }
        guard let type = value["type"]?.string else {
            throw TokenizerError.invalidField(path: path, field: field, expected: "null or an object with a \"type\"")
        }
        switch type {
        case "Sequence":
            guard let items = value["pretokenizers"]?.array else {
                throw TokenizerError.invalidField(path: path, field: field + ".pretokenizers", expected: "an array")
            }
            for (k, item) in items.enumerated() {
                try readPreTokenizer(item, path: path, field: field + ".pretokenizers[\(k)]")
            }
        case "Split":
            guard let regex = value["pattern"]?["Regex"]?.string else {
                throw TokenizerError.unsupported(path: path, field: field + ".pattern", value: "(not a Regex)")
            }
            guard let known = PieceSplitter.pattern(forRegex: regex) else {
                throw TokenizerError.unsupported(path: path, field: field + ".pattern", value: regex)
            }
            let behavior = value["behavior"]?.string ?? "Isolated"
            if behavior != "Isolated" || value["invert"]?.bool == true {
                throw TokenizerError.unsupported(path: path, field: field + ".behavior", value: behavior)
            }
            if splitter != nil {
                throw TokenizerError.unsupported(path: path, field: field, value: "a second split")
            }
            splitter = PieceSplitter(pattern: known)
        case "ByteLevel":
            if value["add_prefix_space"]?.bool == true { prefixSpace = splitter == nil ? .segment : .eachPiece }
            if value["use_regex"]?.bool ?? true {
                if splitter != nil {
                    throw TokenizerError.unsupported(path: path, field: field, value: "ByteLevel regex after a split")
                }
                splitter = PieceSplitter(pattern: .gpt2)
            } else if splitter == nil {
                // No regex at all: the whole text would be one piece. Real byte-level tokenizers never do this.
                throw TokenizerError.unsupported(path: path, field: field, value: "ByteLevel without a split regex")
            }
        default:
            throw TokenizerError.unsupported(path: path, field: field, value: "\"\(type)\"")
        }
    }

    private func checkDecoder(_ value: JSONValue?, path: String) throws {
        guard let value, !value.isNull else {
            throw TokenizerError.unsupported(path: path, field: "decoder", value: "null (a ByteLevel decoder is needed)")
        }
        guard let type = value["type"]?.string else {
            throw TokenizerError.invalidField(path: path, field: "decoder", expected: "an object with a \"type\"")
        }
        if type != "ByteLevel" {
            throw TokenizerError.unsupported(path: path, field: "decoder", value: "\"\(type)\" (only ByteLevel)")
        }
    }
}
