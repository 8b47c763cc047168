import Foundation
import FuzzSupport
import VibeVoiceASR

/// config.json in both formats (transformers `vibevoice_asr` and original `vibevoice`; the seeds hold both).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let config = try? VibeVoiceConfig(jsonData: Fuzz.data(bytes, count)) else { return 0 }
    // A config that reads must describe a buildable model: positive sizes, heads that divide the width.
    let d = config.decoder
    if d.hiddenSize <= 0 || d.numLayers <= 0 || d.numHeads <= 0 || d.numKVHeads <= 0 || d.headDim <= 0
        || d.numHeads % d.numKVHeads != 0 || d.vocabSize <= 0 {
        Fuzz.fail("accepted an unusable decoder config: \(d)")
    }
    return 0
}

@_cdecl("FuzzConfig_main")
public func harnessMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    Fuzz.runDriver(argc, argv, fuzz)
}
