/// A small JSON writer with stable output: keys in a fixed order, non-ASCII text written raw, times as
/// the shortest decimal of the value rounded to the millisecond (`5.86`, never `5.8600000000000003`).
public enum RenderJSON {
    /// `s` as a JSON string literal: `"` `\` and control characters escaped, everything else raw.
    public static func string(_ s: String) -> String {
        var out = "\""
        out.reserveCapacity(s.utf8.count + 2)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
        return out
    }

    /// Seconds rounded to the millisecond, as the shortest decimal that reads back as that value
    /// (`0.0`, `5.86`, `3600.001`), after `TranscriptTime.clamped`: always a finite number in 0 ... 10^9.
    public static func seconds(_ x: Double) -> String {
        let r = (TranscriptTime.clamped(x) * 1000).rounded() / 1000
        return r == 0 ? "0.0" : "\(r)"
    }

    /// A finite number in its shortest round-trip form (`-0.4123`); not-finite values are written `null`.
    public static func number(_ x: Double) -> String {
        x.isFinite ? "\(x)" : "null"
    }

    /// A plain number rounded to six decimals (`0.3`, not `0.30000001192092896`); not-finite is `null`.
    static func decimal(_ x: Double) -> String {
        guard x.isFinite else { return "null" }
        let r = (x * 1e6).rounded() / 1e6
        return r == 0 ? "0.0" : "\(r)"
    }

    public static func int(_ x: Int?) -> String {
        x.map { String($0) } ?? "null"
    }
}
