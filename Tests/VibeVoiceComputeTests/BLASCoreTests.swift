import XCTest
import CKernels
@testable import VibeVoiceCompute

/// The choice of OpenBLAS kernels: a core without AVX2 kernels on a CPU with AVX2 is replaced, any other kept.
final class BLASCoreTests: XCTestCase {
    func testOnlyACoreBelowTheCPUIsReplaced() {
        XCTAssertNil(BLASCore.better(than: nil))
        for core in ["Haswell", "SKYLAKEX", "SkylakeX", "Cooperlake", "Zen", "SapphireRapids"] {
            XCTAssertNil(BLASCore.better(than: core), core)
        }
        let replacement = BLASCore.better(than: "Prescott")
        XCTAssertEqual(BLASCore.better(than: "Sandybridge"), replacement)
        if vv_cpu_has_avx2() == 0 {
            XCTAssertNil(replacement, "without AVX2 OpenBLAS's own choice stands")
        } else {
            XCTAssertEqual(replacement, vv_cpu_has_avx512() != 0 ? "SkylakeX" : "Haswell")
        }
    }

    func testTheLoadedOpenBLASNamesItsCore() {
        #if !canImport(Accelerate)
        XCTAssertFalse((BLASCore.current ?? "").isEmpty)
        #endif
    }
}
