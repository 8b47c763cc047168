import Foundation
import FuzzSupport
import VibeVoiceASR

/// tokenizer.json loading; a tokenizer that loads must encode and decode a fixed text.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let tok = try? Tokenizer(jsonData: Fuzz.data(bytes, count)) else { return 0 }
    let ids = tok.encode("Hello, wörld 123 <|im_end|>\n")
    _ = tok.decode(ids)
    _ = tok.decode([-1, 0, 1, Int.max, Int.min])
    return 0
}

@_cdecl("FuzzTokenizerLoad_main")
public func harnessMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    Fuzz.runDriver(argc, argv, fuzz)
}
