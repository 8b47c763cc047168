import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Helpers shared by the harnesses.
public enum Fuzz {
    /// The input as `Data`.
    public static func data(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> Data {
        guard let bytes, count > 0 else { return Data() }
        return Data(bytes: bytes, count: count)
    }

    /// A scratch directory of this process in memory-backed storage, made once.
    public static let scratch: URL = {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let url = URL(fileURLWithPath: base).appendingPathComponent("vibevoice-fuzz-\(getpid())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: "/dev/shm/vibevoice-fuzz-\(getpid())") }
        return url
    }()

    /// Writes `data` to `name` in the scratch directory and returns its URL.
    public static func file(_ name: String, _ data: Data) -> URL {
        let url = scratch.appendingPathComponent(name)
        try? data.write(to: url)
        return url
    }

    /// The repository root (the harness binaries sit in Fuzz/.build/...), or `FUZZ_ROOT`.
    public static let root: URL = {
        if let r = ProcessInfo.processInfo.environment["FUZZ_ROOT"] { return URL(fileURLWithPath: r) }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
    }()

    public static func fixture(_ path: String) -> URL { root.appendingPathComponent("Tests/Fixtures/" + path) }

    /// Stops the process the way libFuzzer counts as a finding, with a message.
    public static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data(("FUZZ FINDING: " + message + "\n").utf8))
        abort()
    }
}

/// libFuzzer's entry for programs that have their own `main` (SwiftPM links an executable's `main` to
/// `<Module>_main`, so each harness defines that and hands its test function to the driver).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

extension Fuzz {
    public static func runDriver(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                                 _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt {
        var count = argc
        var vector = argv
        return LLVMFuzzerRunDriver(&count, &vector, callback)
    }
}

extension Fuzz {
    /// Runs `body` to completion on the concurrency pool and waits for it (libFuzzer's callback is synchronous).
    public static func blocking<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        Task {
            box.value = await body()
            done.signal()
        }
        done.wait()
        return box.value!
    }
}

private final class ResultBox<T>: @unchecked Sendable {
    var value: T?
}
