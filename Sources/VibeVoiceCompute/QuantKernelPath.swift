import CKernels

/// The instruction-set path of the block-format (Q8_0, Q4_0) kernels. Every path gives bit-identical results;
/// capping the path is for comparisons (`bench --quant-kernels`) and tests.
public enum QuantKernelPath: String, CaseIterable, Sendable {
    /// Portable C.
    case scalar
    /// AVX2 + FMA + F16C (maddubs/madd integer dot products).
    case avx2
    /// AVX2 with AVX-VNNI (one vpdpbusd per 32-value block and row).
    case avxvnni
    /// AVX-512 VNNI (the one-row Q8_0 mat-vec: two blocks per 512-bit vpdpbusd; the other kernels as AVX-VNNI's,
    /// with the EVEX-encoded 256-bit vpdpbusd). Does not need AVX-VNNI: AMD Zen 4 has this and not that, and
    /// `avxvnni` there gives `avx2`.
    case avx512vnni

    private var level: Int32 {
        switch self {
        case .scalar: return Int32(VV_QUANT_SCALAR)
        case .avx2: return Int32(VV_QUANT_AVX2)
        case .avxvnni: return Int32(VV_QUANT_AVXVNNI)
        case .avx512vnni: return Int32(VV_QUANT_AVX512VNNI)
        }
    }

    private init(level: Int32) {
        switch level {
        case Int32(VV_QUANT_AVX512VNNI): self = .avx512vnni
        case Int32(VV_QUANT_AVXVNNI): self = .avxvnni
        case Int32(VV_QUANT_AVX2): self = .avx2
        default: self = .scalar
        }
    }

    /// The path in use.
    public static var current: QuantKernelPath { QuantKernelPath(level: vv_quant_level()) }

    /// Uses at most `path` (the best the CPU has when it has less); returns the path now in use.
    @discardableResult
    public static func cap(_ path: QuantKernelPath) -> QuantKernelPath {
        QuantKernelPath(level: vv_quant_set_max_level(path.level))
    }
}

/// Memory streams per thread of the decode layouts' one-row mat-vecs (q8_0 and q4_0 rows interleaved by 8) and, on
/// the AVX-512 path, of their products of up to 8 rows. 2 walks two halves of each thread's rows side by side,
/// which kept more of the memory busy on the Intel Xeon host; 1 walks them in order, which made the multi-row
/// products cheaper on the AMD EPYC (Zen 4) host (see quant_internal.h). The default is `defaultPerThread`: 1 on
/// AMD processors, 2 elsewhere. Both give the same bits; for comparisons (`bench --matvec-streams`).
public enum MatvecStreams {
    public static var perThread: Int {
        get { Int(vv_x8_set_matvec_streams(0)) }
        set { vv_x8_set_matvec_streams(Int32(newValue)) }
    }

    /// This CPU's default: 1 on AMD processors, 2 elsewhere.
    public static var defaultPerThread: Int { Int(vv_x8_default_matvec_streams()) }
}
