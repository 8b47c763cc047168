import Foundation
import FuzzSupport
import VibeVoiceASR

/// `model.safetensors.index.json` next to the real shards of a small original-layout checkpoint.
let directory: URL = {
    let dir = Fuzz.scratch.appendingPathComponent("checkpoint")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let source = Fuzz.fixture("engine/original_sharded_context/model")
    for name in (try? FileManager.default.contentsOfDirectory(atPath: source.path)) ?? [] where name.hasSuffix(".safetensors") {
        try? FileManager.default.createSymbolicLink(at: dir.appendingPathComponent(name),
                                                    withDestinationURL: source.appendingPathComponent(name))
    }
    return dir
}()
let config = try! VibeVoiceConfig.load(from: Fuzz.fixture("engine/original_sharded_context/model/config.json"))

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    try? Fuzz.data(bytes, count).write(to: directory.appendingPathComponent("model.safetensors.index.json"))
    _ = try? Checkpoint(directory: directory, config: config)
    return 0
}

@_cdecl("FuzzShardIndex_main")
public func harnessMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    Fuzz.runDriver(argc, argv, fuzz)
}
