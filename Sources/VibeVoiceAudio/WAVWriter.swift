import CSndfile
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes audio files through libsndfile.
public enum WAVWriter {
    /// Writes `samples` as a mono 32-bit float WAV file at `url`, atomically: the data goes to a
    /// temporary file in the same directory, which is then renamed over `url`. On failure no
    /// partial file is left behind and an existing file at `url` is untouched.
    public static func writeFloat32Mono(_ samples: [Float], sampleRate: Int, to url: URL) throws {
        let path = url.path
        guard sampleRate > 0, sampleRate <= Int(Int32.max) else {
            throw AudioError.writeFailed(path: path, detail: "invalid sample rate \(sampleRate) Hz")
        }
        let directory = url.deletingLastPathComponent().path
        let temporary = (directory as NSString).appendingPathComponent(
            ".\(url.lastPathComponent).\(UUID().uuidString).tmp")
        var info = SF_INFO()
        info.samplerate = Int32(sampleRate)
        info.channels = 1
        info.format = Int32(SF_FORMAT_WAV | SF_FORMAT_FLOAT)
        guard sf_format_check(&info) != 0 else {
            throw AudioError.writeFailed(path: path, detail: "libsndfile cannot write 32-bit float WAV")
        }
        guard let handle = sf_open(temporary, Int32(SFM_WRITE), &info) else {
            throw AudioError.writeFailed(path: path, detail: String(cString: sf_strerror(nil)))
        }
        var closed = false
        var success = false
        defer {
            if !closed { sf_close(handle) }
            if !success { unlink(temporary) }
        }
        let written = samples.withUnsafeBufferPointer { buf in
            Int(sf_writef_float(handle, buf.baseAddress, sf_count_t(buf.count)))
        }
        guard written == samples.count else {
            let detail = String(cString: sf_strerror(handle))
            throw AudioError.writeFailed(path: path, detail: "wrote \(written) of \(samples.count) samples: \(detail)")
        }
        sf_write_sync(handle)
        closed = true
        guard sf_close(handle) == 0 else {
            throw AudioError.writeFailed(path: path, detail: "closing the file failed")
        }
        guard rename(temporary, path) == 0 else {
            throw AudioError.writeFailed(path: path, detail: String(cString: strerror(errno)))
        }
        success = true
    }
}
