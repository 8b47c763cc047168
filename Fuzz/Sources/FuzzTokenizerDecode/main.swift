import Foundation
import FuzzSupport
import VibeVoiceASR

/// Decoding any ids (4 bytes each, any value), whole and streamed: the stream must give the same text.
let tokenizer = Fuzz.tokenizer

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = Fuzz.data(bytes, count)
    guard !data.isEmpty else { return 0 }
    let skip = data[0] & 1 == 1
    var ids: [Int] = []
    var i = 1
    while i + 4 <= data.count {
        let raw = UInt32(data[i]) | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2]) << 16 | UInt32(data[i + 3]) << 24
        // Mostly ids near the vocabulary, sometimes anything (negative, huge).
        ids.append(raw & 0x8000_0000 != 0 ? Int(Int32(bitPattern: raw)) : Int(raw % 152_100))
        i += 4
    }
    let whole = tokenizer.decode(ids, skipSpecialTokens: skip)
    var stream = TokenStreamDecoder(tokenizer: tokenizer, skipSpecialTokens: skip)
    var streamed = ""
    for id in ids { streamed += stream.append(id) }
    streamed += stream.finish()
    if streamed != whole { Fuzz.fail("streamed decode differs from whole decode for \(ids)") }
    return 0
}

@_cdecl("FuzzTokenizerDecode_main")
public func harnessMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    _ = tokenizer   // load the vocabulary (seconds under ASAN) before the driver times its first input
    return Fuzz.runDriver(argc, argv, fuzz)
}
