import Foundation
import FuzzSupport
import VibeVoiceASR

/// Encoding with the real Qwen2.5 tokenizer (`FUZZ_TOKENIZER`, unzipped by scripts/fuzz.py); the decoded ids
/// must give back the NFC form of the text (byte-level BPE loses nothing).
let tokenizer = Fuzz.tokenizer

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let text = String(decoding: Fuzz.data(bytes, count), as: UTF8.self)
    let ids = tokenizer.encode(text)
    let back = tokenizer.decode(ids)
    let expected = text.precomposedStringWithCanonicalMapping
    if back != expected {
        Fuzz.fail("decode(encode(x)) != NFC(x): \(Array(expected.unicodeScalars.map(\.value))) -> \(ids)")
    }
    return 0
}

@_cdecl("FuzzTokenizerEncode_main")
public func harnessMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    _ = tokenizer   // load the vocabulary (seconds under ASAN) before the driver times its first input
    return Fuzz.runDriver(argc, argv, fuzz)
}
