import Foundation
import FuzzSupport
import VibeVoiceASR

/// The model-output parser, one-shot and streamed in chunks the input chooses: both must find the same
/// segments; every rendering must hold only finite times, and the JSON ones must parse.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = Fuzz.data(bytes, count)
    let text = String(decoding: data, as: UTF8.self)
    let t = TranscriptParser.parse(text)
    var incremental = IncrementalSegmentParser()
    let utf8 = Array(text.utf8)
    var i = 0
    var step = 1
    while i < utf8.count {
        let n = min(utf8.count - i, step)
        _ = incremental.appendUTF8(utf8[i..<(i + n)])
        i += n
        step = Int(utf8[i - 1] % 7) + 1
    }
    if incremental.segments != t.segments { Fuzz.fail("streamed segments differ from one-shot segments") }
    FuzzRender.check(t)
    return 0
}

@_cdecl("FuzzTranscriptParser_main")
public func harnessMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    Fuzz.runDriver(argc, argv, fuzz)
}
