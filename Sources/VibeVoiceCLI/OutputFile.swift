import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Output files are written whole or not at all, and never over an input.
enum OutputFile {
    /// Writes `data` to a temporary file next to `path`, then renames it over `path`, so that `path` is
    /// either untouched or complete. Refuses to write over `input`.
    static func writeAtomically(_ data: Data, to path: String, input: String?) throws {
        let url = URL(fileURLWithPath: path)
        if let input, sameFile(input, path) {
            throw CLIUsageError("output '\(path)' is the input file; choose another --output")
        }
        let dir = url.deletingLastPathComponent()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CLIUsageError("cannot write '\(path)': folder '\(dir.path)' does not exist")
        }
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw CLIUsageError("cannot write '\(path)': it is a directory")
        }
        let temp = dir.appendingPathComponent(".\(url.lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp")
        try writeWhole(data, to: temp.path, reportedAs: path)
        guard rename(temp.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temp)
            throw CLIUsageError("cannot write '\(path)': \(reason)")
        }
    }

    /// Writes all of `data` to a new file at `temp` and flushes it to the disk; on any failure (a full disk,
    /// a read-only folder) the file is removed and the error names `path` and the reason.
    private static func writeWhole(_ data: Data, to temp: String, reportedAs path: String) throws {
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw CLIUsageError("cannot write '\(path)': \(String(cString: strerror(errno)))")
        }
        var failure: Int32 = 0
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                offset += n
            }
        }
        if failure == 0, fsync(fd) != 0 { failure = errno }
        if close(fd) != 0, failure == 0 { failure = errno }
        if failure != 0 {
            unlink(temp)
            throw CLIUsageError("cannot write '\(path)': \(String(cString: strerror(failure))); nothing was written")
        }
    }

    /// `true` when both paths name the same existing file (same device and inode, so links count too).
    static func sameFile(_ a: String, _ b: String) -> Bool {
        var sa = stat()
        var sb = stat()
        guard stat(a, &sa) == 0, stat(b, &sb) == 0 else { return false }
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
    }
}

extension OutputFile {
    /// Refuses an output path that names one of the inputs.
    static func checkNotInput(_ path: String, inputs: [String]) throws {
        for input in inputs where sameFile(input, path) {
            throw CLIUsageError("output '\(path)' is the input file '\(input)'; choose another output")
        }
    }
}
