import Foundation
import VibeVoiceJSON

/// Typed, path-aware access to one JSON object of a config file. Every getter either returns a
/// value of the requested type or throws a `ConfigError` naming the file and the dotted field path.
struct ConfigReader {
    let file: String
    let path: String
    let object: JSONObject

    init(file: String, path: String, object: JSONObject) {
        self.file = file
        self.path = path
        self.object = object
    }

    func field(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The value under `key`, treating JSON `null` as absent (Python writes unset options as null).
    func value(_ key: String) -> JSONValue? {
        guard let v = object[key] else { return nil }
        if case .null = v { return nil }
        return v
    }

    func has(_ key: String) -> Bool { value(key) != nil }

    func wrongType(_ key: String, _ expected: String, _ found: JSONValue) -> ConfigError {
        .wrongType(file: file, field: field(key), expected: expected, found: found.kindDescription)
    }

    func missing(_ key: String) -> ConfigError { .missingField(file: file, field: field(key)) }

    func invalid(_ key: String, _ value: String, expected: String) -> ConfigError {
        .invalidValue(file: file, field: field(key), value: value, expected: expected)
    }

    func unsupported(_ key: String, _ value: String, supported: String) -> ConfigError {
        .unsupported(file: file, field: field(key), value: value, supported: supported)
    }

    // MARK: - Scalars

    func optionalInt(_ key: String) throws(ConfigError) -> Int? {
        guard let v = value(key) else { return nil }
        switch v {
        case .int(let i): return i
        // Python writes some integers as floats (e.g. `64.0`); accept exact integral values.
        case .double(let d) where d == d.rounded() && abs(d) < 9.0e15: return Int(d)
        default: throw wrongType(key, "an integer", v)
        }
    }

    func int(_ key: String, default def: Int) throws(ConfigError) -> Int {
        try optionalInt(key) ?? def
    }

    func requiredInt(_ key: String) throws(ConfigError) -> Int {
        guard let i = try optionalInt(key) else { throw missing(key) }
        return i
    }

    func optionalDouble(_ key: String) throws(ConfigError) -> Double? {
        guard let v = value(key) else { return nil }
        switch v {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: throw wrongType(key, "a number", v)
        }
    }

    func double(_ key: String, default def: Double) throws(ConfigError) -> Double {
        try optionalDouble(key) ?? def
    }

    func optionalString(_ key: String) throws(ConfigError) -> String? {
        guard let v = value(key) else { return nil }
        guard case .string(let s) = v else { throw wrongType(key, "a string", v) }
        return s
    }

    func string(_ key: String, default def: String) throws(ConfigError) -> String {
        try optionalString(key) ?? def
    }

    func optionalBool(_ key: String) throws(ConfigError) -> Bool? {
        guard let v = value(key) else { return nil }
        guard case .bool(let b) = v else { throw wrongType(key, "a boolean", v) }
        return b
    }

    func bool(_ key: String, default def: Bool) throws(ConfigError) -> Bool {
        try optionalBool(key) ?? def
    }

    func optionalIntArray(_ key: String) throws(ConfigError) -> [Int]? {
        guard let v = value(key) else { return nil }
        guard case .array(let items) = v else { throw wrongType(key, "an array of integers", v) }
        var out: [Int] = []
        out.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            switch item {
            case .int(let n): out.append(n)
            case .double(let d) where d == d.rounded() && abs(d) < 9.0e15: out.append(Int(d))
            default:
                throw ConfigError.wrongType(file: file, field: "\(field(key))[\(i)]", expected: "an integer",
                                            found: item.kindDescription)
            }
        }
        return out
    }

    func optionalObject(_ key: String) throws(ConfigError) -> ConfigReader? {
        guard let v = value(key) else { return nil }
        guard case .object(let o) = v else { throw wrongType(key, "an object", v) }
        return ConfigReader(file: file, path: field(key), object: o)
    }

    func requiredObject(_ key: String) throws(ConfigError) -> ConfigReader {
        guard let o = try optionalObject(key) else { throw missing(key) }
        return o
    }

    // MARK: - Checks

    func positive(_ key: String, _ v: Int) throws(ConfigError) -> Int {
        guard v > 0 else { throw invalid(key, String(v), expected: "a positive integer") }
        return v
    }

    func positive(_ key: String, _ v: Double) throws(ConfigError) -> Double {
        guard v > 0, v.isFinite else { throw invalid(key, String(v), expected: "a positive number") }
        return v
    }

    func nonNegative(_ key: String, _ v: Double) throws(ConfigError) -> Double {
        guard v >= 0, v.isFinite else { throw invalid(key, String(v), expected: "a non-negative number") }
        return v
    }

    /// Rejects a present value other than `expected` (options the engine implements in one way only).
    func require(_ key: String, equals expected: String) throws(ConfigError) {
        if let s = try optionalString(key), s != expected {
            throw unsupported(key, "\"\(s)\"", supported: "\"\(expected)\"")
        }
    }

    func require(_ key: String, equals expected: Bool) throws(ConfigError) {
        if let b = try optionalBool(key), b != expected {
            throw unsupported(key, String(b), supported: String(expected))
        }
    }
}
