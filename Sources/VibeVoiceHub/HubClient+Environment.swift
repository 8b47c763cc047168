import Foundation

extension HubClient {
    // MARK: Environment (the same variables as huggingface_hub)

    public static func defaultEndpoint(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let value = environment["HF_ENDPOINT"]?.trimmingCharacters(in: .whitespaces), !value.isEmpty,
           let url = URL(string: value), url.scheme != nil {
            return url
        }
        return URL(string: "https://huggingface.co")!
    }

    /// `$HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`.
    public static func defaultHome(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let value = nonEmpty(environment["HF_HOME"]) { return URL(fileURLWithPath: expandTilde(value, environment)) }
        if let xdg = nonEmpty(environment["XDG_CACHE_HOME"]) {
            return URL(fileURLWithPath: expandTilde(xdg, environment)).appendingPathComponent("huggingface")
        }
        return URL(fileURLWithPath: homeDirectory(environment)).appendingPathComponent(".cache/huggingface")
    }

    /// `$HF_HUB_CACHE`, else `$HUGGINGFACE_HUB_CACHE`, else `<HF home>/hub`.
    public static func defaultCacheDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let value = nonEmpty(environment["HF_HUB_CACHE"]) ?? nonEmpty(environment["HUGGINGFACE_HUB_CACHE"]) {
            return URL(fileURLWithPath: expandTilde(value, environment))
        }
        return defaultHome(environment: environment).appendingPathComponent("hub")
    }

    /// `$HF_TOKEN`, else `$HUGGING_FACE_HUB_TOKEN`, else the file `$HF_TOKEN_PATH` or `<HF home>/token`
    /// (written by `hf auth login`).
    public static func defaultToken(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let value = nonEmpty(environment["HF_TOKEN"]?.trimmingCharacters(in: .whitespacesAndNewlines)) { return value }
        if let value = nonEmpty(environment["HUGGING_FACE_HUB_TOKEN"]?.trimmingCharacters(in: .whitespacesAndNewlines)) {
            return value
        }
        let path = nonEmpty(environment["HF_TOKEN_PATH"]).map { expandTilde($0, environment) }
            ?? defaultHome(environment: environment).appendingPathComponent("token").path
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return nonEmpty(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// True when `HF_HUB_OFFLINE` is 1, true, yes or on (any case).
    public static func defaultOffline(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        guard let value = environment["HF_HUB_OFFLINE"] else { return false }
        return ["1", "true", "yes", "on"].contains(value.trimmingCharacters(in: .whitespaces).lowercased())
    }

    private static func nonEmpty(_ s: String?) -> String? {
        guard let s, !s.isEmpty else { return nil }
        return s
    }

    private static func homeDirectory(_ environment: [String: String]) -> String {
        nonEmpty(environment["HOME"]) ?? FileManager.default.homeDirectoryForCurrentUser.path
    }

    private static func expandTilde(_ path: String, _ environment: [String: String]) -> String {
        if path == "~" { return homeDirectory(environment) }
        if path.hasPrefix("~/") { return homeDirectory(environment) + String(path.dropFirst(1)) }
        return path
    }

    // MARK: Names

    /// True for `ORG/NAME` where both parts use letters, digits, '-', '_' and '.', do not start or end
    /// with '-' or '.', contain no '--' or '..', and are at most 96 characters.
    public static func isRepoID(_ s: String) -> Bool {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return false }
        for part in parts {
            guard !part.isEmpty, part.count <= 96,
                  part.unicodeScalars.allSatisfy({ ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)))
                      || $0 == "-" || $0 == "_" || $0 == "." }),
                  !part.contains("--"), !part.contains(".."),
                  let first = part.first, let last = part.last,
                  first != "-", first != ".", last != "-", last != "."
            else { return false }
        }
        return true
    }

    /// The default `matching` filter: the files a transformers-style model needs, safetensors weights
    /// only (no .bin/.pt/.onnx/.gguf), nothing from sub-folders, no READMEs or images.
    public static func defaultModelFiles(_ name: String) -> Bool {
        guard !name.contains("/") else { return false }
        let exact: Set<String> = ["config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json",
                                  "preprocessor_config.json", "special_tokens_map.json", "model.safetensors.index.json"]
        return exact.contains(name) || name.hasSuffix(".safetensors") || name.hasSuffix(".safetensors.index.json")
    }

    /// The cache folder of a repository: `<cache>/models--ORG--NAME`.
    public func repoDirectory(repo: String) -> URL {
        cacheDirectory.appendingPathComponent("models--" + repo.replacingOccurrences(of: "/", with: "--"), isDirectory: true)
    }

    static func isCommitHash(_ s: String) -> Bool {
        s.utf8.count == 40 && s.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }

    static func isSHA256Hex(_ s: String) -> Bool {
        s.utf8.count == 64 && s.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) || ($0 >= 65 && $0 <= 70) }
    }

    /// A relative path of safe parts: no empty, '.' or '..' parts, no backslash, NUL or control characters.
    static func isSafeRelativePath(_ s: String) -> Bool {
        guard !s.isEmpty, !s.hasPrefix("/"), s.utf8.count <= 1024 else { return false }
        if s.unicodeScalars.contains(where: { $0 == "\\" || $0.value < 0x20 || $0.value == 0x7f }) { return false }
        return s.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { $0 != "" && $0 != "." && $0 != ".." }
    }
}
