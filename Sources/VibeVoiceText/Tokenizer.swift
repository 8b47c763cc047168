import Foundation

/// Byte-level BPE tokenizer read from a Hugging Face `tokenizer.json` (Qwen2.5's for VibeVoice-ASR).
///
/// Encoding matches `tokenizers`' `encode(text, add_special_tokens=False)`: added tokens are matched in the
/// raw text first, the rest is normalised, split into pieces by the pre-tokenizer regex, and each piece's UTF-8
/// bytes are merged by BPE rank. Decoding matches `decode(ids, skip_special_tokens=...)`.
public final class Tokenizer: Sendable {
    /// The tokenizer.json this was read from.
    public let path: String
    /// One more than the largest id with text (model vocabulary and added tokens).
    public let vocabularySize: Int

    /// Model vocabulary strings by id (byte-level form); added tokens live in `addedByID`.
    private let tokenByID: [String?]
    private let addedByContent: [String: Int]
    private let addedByID: [Int: AddedToken]
    /// Model vocabulary by bytes; also the per-id bytes used for decoding.
    private let table: TokenTable
    let bpe: BytePairModel
    private let normalizers: [NormalizerStep]
    private let splitter: PieceSplitter
    private let prefixSpace: TokenizerDefinition.PrefixSpace
    private let rawMatcher: AddedTokenMatcher
    private let normalizedMatcher: AddedTokenMatcher

    /// Reads a tokenizer.json; `url` may be the file or a directory containing `tokenizer.json`.
    public convenience init(url: URL) throws {
        let (definition, path) = try TokenizerDefinition.load(url: url)
        try self.init(definition: definition, path: path)
    }

    /// Reads tokenizer.json content already in memory; `path` is only used in error messages.
    public convenience init(jsonData: Data, path: String = "<memory>") throws {
        try self.init(definition: TokenizerDefinition.parse(data: jsonData, path: path), path: path)
    }

    init(definition d: TokenizerDefinition, path: String) throws {
        self.path = path
        var modelMax = -1
        for entry in d.vocab { modelMax = max(modelMax, entry.id) }
        var maxID = modelMax
        for t in d.addedTokens { maxID = max(maxID, t.id) }
        vocabularySize = maxID + 1

        var tokens = [String?](repeating: nil, count: modelMax + 1)
        for entry in d.vocab { tokens[entry.id] = entry.token }
        tokenByID = tokens
        var added: [Int: AddedToken] = [:]
        var addedContent: [String: Int] = [:]
        for t in d.addedTokens {
            added[t.id] = t
            if addedContent[t.content] == nil { addedContent[t.content] = t.id }
        }
        addedByID = added
        addedByContent = addedContent

        var flat: [UInt8] = []
        flat.reserveCapacity(d.vocab.count * 8)
        var offsets = [Int32](repeating: 0, count: modelMax + 2)
        for id in 0..<(modelMax + 1) {
            offsets[id] = Int32(flat.count)
            if let t = tokens[id] { ByteLevel.appendBytes(ofToken: t, into: &flat) }
        }
        offsets[modelMax + 1] = Int32(flat.count)
        let table = TokenTable(bytes: flat, offsets: offsets)
        self.table = table

        var byteIDs = [Int32](repeating: -1, count: 256)
        for b in 0..<256 { byteIDs[b] = table.find([UInt8(b)]) ?? -1 }
        var merges = PairTable(minimumCapacity: d.mergePairs.count)
        var buffer: [UInt8] = []
        for (rank, (a, b)) in d.mergePairs.enumerated() {
            buffer.removeAll(keepingCapacity: true)
            ByteLevel.appendBytes(ofToken: a, into: &buffer)
            let split = buffer.count
            ByteLevel.appendBytes(ofToken: b, into: &buffer)
            guard split > 0, buffer.count > split, let ia = table.find(buffer[..<split]),
                  let ib = table.find(buffer[split...]), let im = table.find(buffer[...])
            else {
                throw TokenizerError.invalidField(
                    path: path, field: "model.merges[\(rank)]",
                    expected: "a merge of two tokens whose parts and concatenation are all in model.vocab, got \"\(a) \(b)\"")
            }
            merges.insertIfAbsent(UInt64(ia) << 32 | UInt64(ib), UInt64(rank) << 32 | UInt64(im))
        }
        var unknownID: Int32?
        if let unk = d.unknownToken {
            guard let id = table.find(ByteLevel.bytes(ofToken: unk)) else {
                throw TokenizerError.invalidField(path: path, field: "model.unk_token",
                                                  expected: "a token of model.vocab, got \"\(unk)\"")
            }
            unknownID = id
        }
        bpe = BytePairModel(byteIDs: byteIDs, merges: merges, ignoreMerges: d.ignoreMerges, vocab: table,
                            unknownID: unknownID)
        normalizers = d.normalizers
        splitter = d.splitter!
        prefixSpace = d.prefixSpace
        rawMatcher = AddedTokenMatcher(tokens: d.addedTokens.filter { !$0.normalized })
        normalizedMatcher = AddedTokenMatcher(tokens: d.addedTokens.filter { $0.normalized })
    }

    // MARK: Lookup

    /// The id of a token given as its vocabulary string (added tokens by their content).
    public func id(forToken token: String) -> Int? {
        if let id = addedByContent[token] { return id }
        guard let id = table.find(ByteLevel.bytes(ofToken: token)).map(Int.init), tokenByID[id] == token else {
            return nil
        }
        return id
    }

    /// The vocabulary string of an id (added tokens: their content), nil for ids with no text.
    public func token(forID id: Int) -> String? {
        if let t = addedByID[id] { return t.content }
        guard id >= 0, id < tokenByID.count else { return nil }
        return tokenByID[id]
    }

    /// True for added tokens marked `"special": true` (those `skipSpecialTokens` drops).
    public func isSpecial(_ id: Int) -> Bool {
        addedByID[id]?.special ?? false
    }

    /// True for every added token (special or not).
    public func isAddedToken(_ id: Int) -> Bool {
        addedByID[id] != nil
    }

    // MARK: Encoding

    /// Token ids of `text`, as Hugging Face `encode(text, add_special_tokens=False)` gives them.
    /// Added tokens written literally in the text (e.g. `<|im_start|>`) become their ids.
    public func encode(_ text: String) -> [Int] {
        var ids: [Int] = []
        ids.reserveCapacity(text.utf8.count / 3 + 1)
        let scalars = Array(text.unicodeScalars)
        for segment in rawMatcher.split(scalars) {
            switch segment {
            case .token(let id): ids.append(id)
            case .text(let range): encodeNormalizing(scalars[range], into: &ids)
            }
        }
        return ids
    }

    /// Token ids of `text` read as plain text: added tokens written in it (`<|im_end|>`) are not
    /// recognised and become ordinary byte-level tokens, as with transformers' `sanitize_control_tokens`.
    public func encodePlainText(_ text: String) -> [Int] {
        var ids: [Int] = []
        ids.reserveCapacity(text.utf8.count / 3 + 1)
        var s = text
        for step in normalizers { s = step.apply(s) }
        encodePieces(Array(s.unicodeScalars)[...], into: &ids)
        return ids
    }

    private func encodeNormalizing(_ raw: ArraySlice<Unicode.Scalar>, into ids: inout [Int]) {
        var scalars: [Unicode.Scalar]
        if normalizers.isEmpty {
            scalars = Array(raw)
        } else {
            var s = String(String.UnicodeScalarView(raw))
            for step in normalizers { s = step.apply(s) }
            scalars = Array(s.unicodeScalars)
        }
        if normalizedMatcher.isEmpty {
            encodePieces(scalars[...], into: &ids)
            return
        }
        for segment in normalizedMatcher.split(scalars) {
            switch segment {
            case .token(let id): ids.append(id)
            case .text(let range): encodePieces(scalars[range], into: &ids)
            }
        }
    }

    private func encodePieces(_ text: ArraySlice<Unicode.Scalar>, into ids: inout [Int]) {
        if text.isEmpty { return }
        var scalars = Array(text)
        if prefixSpace == .segment, scalars.first != " " { scalars.insert(" ", at: 0) }
        var pieces: [Range<Int>] = []
        splitter.split(scalars, into: &pieces)
        var buffer: [UInt8] = []
        buffer.reserveCapacity(64)
        for piece in pieces {
            buffer.removeAll(keepingCapacity: true)
            if prefixSpace == .eachPiece, scalars[piece.lowerBound] != " " { buffer.append(0x20) }
            for k in piece {
                UTF8.encode(scalars[k]) { buffer.append($0) }
            }
            bpe.encode(piece: buffer[...], into: &ids)
        }
    }

    // MARK: Decoding

    /// The bytes of one id: added tokens give their content's UTF-8, vocabulary tokens their byte-level
    /// bytes, ids with no text nothing.
    private func appendBytes(of id: Int, skipSpecialTokens: Bool, into out: inout [UInt8]) {
        if let t = addedByID[id] {
            if !(skipSpecialTokens && t.special) { out.append(contentsOf: t.content.utf8) }
            return
        }
        guard id >= 0, id < table.offsets.count - 1 else { return }
        let lo = Int(table.offsets[id]), hi = Int(table.offsets[id + 1])
        if lo < hi { out.append(contentsOf: table.bytes[lo..<hi]) }
    }

    /// The raw bytes of `ids` concatenated, for streaming (the caller decides where UTF-8 characters end).
    /// Ids with no text (beyond the vocabulary, negative) are skipped; with `skipSpecialTokens`, added tokens
    /// marked special are dropped.
    public func decodeBytes(_ ids: [Int], skipSpecialTokens: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(ids.count * 4)
        for id in ids { appendBytes(of: id, skipSpecialTokens: skipSpecialTokens, into: &out) }
        return out
    }

    /// Text of `ids`, as Hugging Face `decode(ids, skip_special_tokens:)` gives it: the bytes between added
    /// tokens are decoded as UTF-8 with each invalid sequence replaced by U+FFFD, and each added token that is
    /// kept contributes its content (so a kept added token also ends any partial character before it).
    /// Ids with no text are skipped.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        var text = ""
        var run: [UInt8] = []
        for id in ids {
            if let t = addedByID[id] {
                if skipSpecialTokens && t.special { continue }
                if !run.isEmpty {
                    text += String(decoding: run, as: UTF8.self)
                    run.removeAll(keepingCapacity: true)
                }
                text += t.content
            } else {
                appendBytes(of: id, skipSpecialTokens: skipSpecialTokens, into: &run)
            }
        }
        if !run.isEmpty { text += String(decoding: run, as: UTF8.self) }
        return text
    }
}
