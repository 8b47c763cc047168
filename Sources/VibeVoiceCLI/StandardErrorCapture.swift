import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs a block with file descriptor 2 pointed at a temporary file and returns what was written there.
/// For C libraries that print on standard error themselves (libmpg123 through libsndfile: "Note: Illegal
/// Audio-MPEG-Header", "Warning: Xing stream size off"), which no flag of theirs silences. Only the
/// calling thread should write to standard error meanwhile (the CLI decodes audio on its main thread,
/// between progress updates).
enum StandardErrorCapture {
    /// At most this much of the captured text is returned.
    static let limit = 64 * 1024

    static func run<T>(_ body: () -> T) -> (T, String) {
        guard let file = tmpfile() else { return (body(), "") }
        defer { fclose(file) }
        fflush(nil)
        let saved = dup(2)
        guard saved >= 0, dup2(fileno(file), 2) >= 0 else {
            if saved >= 0 { close(saved) }
            return (body(), "")
        }
        let value = body()
        fflush(nil)
        dup2(saved, 2)
        close(saved)
        var bytes = [UInt8](repeating: 0, count: limit)
        rewind(file)
        let n = fread(&bytes, 1, limit, file)
        let text = String(decoding: bytes[..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return (value, text)
    }
}
