import Foundation

/// A `config.json` the engine cannot use. Every case names the file and, where there is one,
/// the field (as a dotted path such as `text_config.num_key_value_heads`).
public enum ConfigError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file could not be read (missing, a directory without `config.json`, no permission).
    case unreadable(file: String, reason: String)
    /// The file is not valid JSON.
    case malformedJSON(file: String, detail: String)
    /// A field the engine needs is absent.
    case missingField(file: String, field: String)
    /// A field has the wrong JSON type.
    case wrongType(file: String, field: String, expected: String, found: String)
    /// A field has a value of the right type that is out of range or inconsistent.
    case invalidValue(file: String, field: String, value: String, expected: String)
    /// A field describes something this engine does not implement.
    case unsupported(file: String, field: String, value: String, supported: String)

    public var description: String {
        switch self {
        case let .unreadable(file, reason):
            return "cannot read config \(file): \(reason)"
        case let .malformedJSON(file, detail):
            return "config \(file) is not valid JSON: \(detail)"
        case let .missingField(file, field):
            return "config \(file): required field '\(field)' is missing"
        case let .wrongType(file, field, expected, found):
            return "config \(file): field '\(field)' must be \(expected), found \(found)"
        case let .invalidValue(file, field, value, expected):
            return "config \(file): field '\(field)' = \(value) is invalid; expected \(expected)"
        case let .unsupported(file, field, value, supported):
            return "config \(file): field '\(field)' = \(value) is not supported; supported: \(supported)"
        }
    }
}
