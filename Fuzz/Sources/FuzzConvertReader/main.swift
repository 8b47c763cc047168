import Foundation
import FuzzSupport
import VibeVoiceASR

/// What `convert` reads (raw output, json, verbose_json), then every rendering; a rendered json or
/// verbose_json must read back to the same segments (times to the millisecond).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let text = String(decoding: Fuzz.data(bytes, count), as: UTF8.self)
    guard let t = try? TranscriptReader.read(text) else { return 0 }
    FuzzRender.check(t)
    for format in [OutputFormat.json, .verboseJSON] {
        let out = TranscriptRenderer.render(t, as: format)
        guard let back = try? TranscriptReader.read(out) else { Fuzz.fail("\(format) output cannot be read back") }
        if back.segments.count != t.segments.count { Fuzz.fail("\(format) read back \(back.segments.count) of \(t.segments.count) segments") }
        for (a, b) in zip(t.segments, back.segments) where a.text != b.text || a.speaker != b.speaker {
            Fuzz.fail("\(format) changed a segment: \(a) -> \(b)")
        }
    }
    return 0
}

@_cdecl("FuzzConvertReader_main")
public func harnessMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    Fuzz.runDriver(argc, argv, fuzz)
}
