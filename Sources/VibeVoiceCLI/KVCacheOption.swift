import ArgumentParser
import VibeVoiceASR

/// `--kv-cache f32|f16` (transcribe, bench).
extension KVCache.Format: ExpressibleByArgument {}

enum KVCacheHelp {
    static let text = ArgumentHelp(
        "Key/value cache elements: f32 (exact, the default) or f16 (half the memory for long audio: about 1.55 instead of 3.1 GB for an hour; values rounded to 11 significant bits).",
        valueName: "f32|f16")
}
