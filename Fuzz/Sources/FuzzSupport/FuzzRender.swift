import Foundation
import VibeVoiceASR

/// Properties every rendering of any transcript must have.
public enum FuzzRender {
    public static func check(_ t: Transcript) {
        for format in OutputFormat.allCases {
            let out = TranscriptRenderer.render(t, as: format)
            switch format {
            case .json, .verboseJSON, .diarizedJSON:
                guard let parsed = try? JSONSerialization.jsonObject(with: Data(out.utf8)) else {
                    Fuzz.fail("\(format) output does not parse as JSON: \(out.prefix(300))")
                }
                let segments = format == .json ? parsed as? [[String: Any]]
                    : (parsed as? [String: Any])?["segments"] as? [[String: Any]]
                for s in segments ?? [] {
                    for key in ["start", "end"] {
                        guard let x = s[key] as? Double, x.isFinite, x >= 0, x <= TranscriptTime.maximum else {
                            Fuzz.fail("\(format) wrote \(key) = \(String(describing: s[key]))")
                        }
                    }
                }
            case .srt, .vtt, .rttm:
                if out.contains("inf") && !t.segments.contains(where: { $0.text.contains("inf") }) {
                    Fuzz.fail("\(format) wrote a non-finite time")
                }
            case .text:
                break
            }
        }
    }
}

extension Fuzz {
    /// The real Qwen2.5 tokenizer (`FUZZ_TOKENIZER`, unzipped by scripts/fuzz.py), or the tiny fixture one.
    public static let tokenizer: Tokenizer = {
        let path = ProcessInfo.processInfo.environment["FUZZ_TOKENIZER"]
            ?? fixture("engine/hf_bf16_chunked/model/tokenizer.json").path
        return try! Tokenizer(url: URL(fileURLWithPath: path))
    }()
}
