import Foundation
import VibeVoiceCompute

/// OpenBLAS picks its kernels when it loads, before any of our code runs, and gives a CPU newer than itself the
/// kernels of a 2004 one (see `BLASCore`): sgemm, and with it the speech encoders and the float prefill, then
/// ran 3.5-5x slower. When that happened, the process runs itself again with `OPENBLAS_CORETYPE` naming the kernels
/// the CPU can run. A variable already set (the user's choice, or this relaunch) is left alone.
enum BLASCoreRelaunch {
    static func relaunchIfNeeded() {
        #if os(Linux)
        guard getenv("OPENBLAS_CORETYPE") == nil, let core = BLASCore.better(than: BLASCore.current) else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // exec failed (no /proc): go on with the kernels OpenBLAS chose.
        unsetenv("OPENBLAS_CORETYPE")
        #endif
    }
}
