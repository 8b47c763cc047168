import Foundation

/// Reads a whole file for the JSON readers (config.json, the shard index, tokenizer.json).
public enum FileContents {
    /// The file's bytes. An empty file gives empty data without `Data(contentsOf:)`, which leaks its
    /// 4 KB read buffer on an empty file (swift-corelibs Foundation of Swift 6.3; found by fuzzing the
    /// shard-index reader under the leak sanitizer).
    public static func read(_ url: URL, mapped: Bool = false) throws -> Data {
        let size = (try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)?.intValue
        if size == 0 { return Data() }
        return try Data(contentsOf: url, options: mapped ? .mappedIfSafe : [])
    }
}
