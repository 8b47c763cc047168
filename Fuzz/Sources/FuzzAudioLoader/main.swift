import Foundation
import FuzzSupport
import VibeVoiceASR

/// Audio bytes in any format through libsndfile or FFmpeg (M4A, MP4, WebM, MKV, AVI, WMA, ... seeded from
/// Tests/Fixtures/containers), resampling and the completeness checks (at most 60 s, so
/// one input cannot ask for gigabytes).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = Fuzz.data(bytes, count)
    // The lenient read only where the strict one refused (a strict success must read the same leniently).
    for allowPartial in [false, true] {
        guard let signal = try? AudioLoader.load(data: data, name: "fuzz", maxDuration: 60, allowPartial: allowPartial) else { continue }
        if signal.samples.isEmpty { Fuzz.fail("a signal with no samples was returned") }
        if signal.samples.contains(where: { !$0.isFinite }) { Fuzz.fail("non-finite samples were returned") }
        if !allowPartial && !signal.warnings.isEmpty { Fuzz.fail("warnings without allowPartial") }
        break
    }
    return 0
}

@_cdecl("FuzzAudioLoader_main")
public func harnessMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    Fuzz.runDriver(argc, argv, fuzz)
}
