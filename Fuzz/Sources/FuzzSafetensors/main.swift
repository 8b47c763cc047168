import Foundation
import FuzzSupport
import VibeVoiceASR

/// A safetensors file: header parse, coverage checks, and every tensor read back.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let url = Fuzz.file("f.safetensors", Fuzz.data(bytes, count))
    guard let file = try? SafetensorsFile(url: url) else { return 0 }
    var covered = 0
    for name in file.tensorNames {
        let info = file.tensors[name]!
        guard info.fileOffset >= 0, info.fileOffset + info.byteCount <= file.fileSize else {
            Fuzz.fail("tensor \(name) lies outside the file")
        }
        covered += info.byteCount
        let t = file.tensor(info)
        if t.count > 0, t.count <= 4096 { _ = t.toFloatArray() }
    }
    if covered > file.fileSize { Fuzz.fail("tensors cover more bytes than the file holds") }
    return 0
}

@_cdecl("FuzzSafetensors_main")
public func harnessMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    Fuzz.runDriver(argc, argv, fuzz)
}
