#if canImport(Accelerate)
import Accelerate
#else
import COpenBLAS
#endif
import CKernels

/// The one seam to the platform BLAS (OpenBLAS on Linux, Accelerate on Apple platforms).
/// All matrices are row-major f32.
public enum BLAS {
    /// C[M,N] = alpha · A[M,K] · B[N,K]ᵀ + beta · C
    @inline(__always)
    public static func gemmNT(m: Int, n: Int, k: Int,
                              a: UnsafePointer<Float>, lda: Int,
                              b: UnsafePointer<Float>, ldb: Int,
                              c: UnsafeMutablePointer<Float>, ldc: Int,
                              alpha: Float = 1, beta: Float = 0) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k),
                    alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// C[M,N] = alpha · A[M,K] · B[K,N] + beta · C
    @inline(__always)
    public static func gemmNN(m: Int, n: Int, k: Int,
                              a: UnsafePointer<Float>, lda: Int,
                              b: UnsafePointer<Float>, ldb: Int,
                              c: UnsafeMutablePointer<Float>, ldc: Int,
                              alpha: Float = 1, beta: Float = 0) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k),
                    alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// y[M] = alpha · A[M,N] · x[N] + beta · y
    @inline(__always)
    public static func gemv(m: Int, n: Int, a: UnsafePointer<Float>, lda: Int,
                            x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                            alpha: Float = 1, beta: Float = 0) {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(m), Int32(n), alpha, a, Int32(lda), x, 1, beta, y, 1)
    }

    /// y[N] = alpha · A[M,N]ᵀ · x[M] + beta · y
    @inline(__always)
    public static func gemvT(m: Int, n: Int, a: UnsafePointer<Float>, lda: Int,
                             x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                             alpha: Float = 1, beta: Float = 0) {
        cblas_sgemv(CblasRowMajor, CblasTrans, Int32(m), Int32(n), alpha, a, Int32(lda), x, 1, beta, y, 1)
    }

    /// Threads the BLAS library may use.
    public static func setThreadCount(_ n: Int) {
        #if !canImport(Accelerate)
        openblas_set_num_threads(Int32(max(1, n)))
        #endif
    }
}

/// Which of OpenBLAS's kernel sets ("cores") runs sgemm. OpenBLAS picks one from the CPU's family and model when
/// the library loads; a CPU newer than the installed OpenBLAS gets its fallback for unknown CPUs. Debian 12's
/// OpenBLAS 0.3.21 calls the 2-vCPU Intel Xeon host of this project (family 6, model 207) "Prescott", an SSE3 set:
/// sgemm (512x2048x2048, 2 threads) ran at 55-64 GFLOP/s there against 215-294 with `OPENBLAS_CORETYPE=SkylakeX`.
/// The choice can only be made through that variable, before the library loads (`vibevoice-asr` runs itself again
/// with it set; library users set it themselves).
public enum BLASCore {
    /// Cores with AVX2 kernels (OpenBLAS's own spelling, compared case-insensitively).
    static let avx2Cores: Set<String> = ["haswell", "skylakex", "cooperlake", "sapphirerapids", "zen", "excavator"]

    /// The core OpenBLAS uses, or nil where the BLAS is not OpenBLAS.
    public static var current: String? {
        #if canImport(Accelerate)
        return nil
        #else
        guard let name = openblas_get_corename() else { return nil }
        return String(cString: name)
        #endif
    }

    /// The core to ask for instead of `current`, or nil when `current` already uses what the CPU has: SkylakeX on
    /// a CPU with AVX-512, Haswell on one with AVX2 and FMA, where OpenBLAS chose a core without AVX2 kernels.
    /// (On the Xeon host SkylakeX and Cooperlake, its set with BF16 added, ran sgemm alike: 243-287 against
    /// 225-292 GFLOP/s, alternated.)
    public static func better(than current: String?) -> String? {
        guard let current, !avx2Cores.contains(current.lowercased()), vv_cpu_has_avx2() != 0 else { return nil }
        return vv_cpu_has_avx512() != 0 ? "SkylakeX" : "Haswell"
    }
}
