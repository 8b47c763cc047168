import Foundation

/// Locates Tests/Fixtures/configs from this source file (never via bundle resources).
enum ConfigFixtures {
    static let directory: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // VibeVoiceModelTests
        .deletingLastPathComponent()  // Tests
        .appendingPathComponent("Fixtures/configs", isDirectory: true)

    static func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    static func data(_ name: String) throws -> Data { try Data(contentsOf: url(name)) }

    /// A fixture as a mutable JSON object, for tests that change one field.
    static func object(_ name: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: data(name)) as! [String: Any]
    }

    /// Sets (or, with nil, removes) the value at a dotted path such as `text_config.hidden_size`.
    static func setting(_ object: [String: Any], _ path: String, _ value: Any?) -> [String: Any] {
        var object = object
        let parts = path.split(separator: ".", maxSplits: 1).map(String.init)
        if parts.count == 1 {
            object[parts[0]] = value
        } else {
            let child = object[parts[0]] as? [String: Any] ?? [:]
            object[parts[0]] = setting(child, parts[1], value)
        }
        return object
    }

    static func encode(_ object: [String: Any]) throws -> Data {
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }
}
