import Foundation
import VibeVoiceText

/// The form fields of `POST /v1/audio/transcriptions`, checked.
struct TranscriptionParameters: Sendable {
    enum Format: String, CaseIterable, Sendable {
        case json, verboseJSON = "verbose_json", diarizedJSON = "diarized_json", text, srt, vtt, rttm
    }

    var format: Format = .json
    var prompt: String?
    var temperature: Float = 0
    var stream = false
    var filename: String?

    /// Reads the fields OpenAI defines; `model`, `language`, `timestamp_granularities[]`, `include[]` and
    /// unknown fields are accepted and ignored.
    init(fields: [String: String]) throws(APIError) {
        if let f = fields["response_format"] {
            let name = f.trimmingCharacters(in: .whitespaces)
            guard let format = Format(rawValue: name) else {
                throw .badRequest("response_format '\(f)' is not one of: \(Format.allCases.map(\.rawValue).joined(separator: ", "))",
                                  code: "invalid_response_format", param: "response_format")
            }
            self.format = format
        }
        if let t = fields["temperature"] {
            guard let v = Float(t.trimmingCharacters(in: .whitespaces)), v.isFinite, (0...2).contains(v) else {
                throw .badRequest("temperature '\(t)' must be a number from 0 to 2 (0 = greedy)",
                                  code: "invalid_temperature", param: "temperature")
            }
            temperature = v
        }
        if let s = fields["stream"] {
            switch s.trimmingCharacters(in: .whitespaces).lowercased() {
            case "true", "1": stream = true
            case "false", "0", "": stream = false
            default:
                throw .badRequest("stream '\(s)' must be true or false", code: "invalid_stream", param: "stream")
            }
        }
        if let p = fields["prompt"]?.trimmingCharacters(in: .whitespacesAndNewlines), !p.isEmpty { prompt = p }
    }

    /// Renders a finished transcript in the requested format, with its Content-Type.
    func render(_ t: Transcript) -> (body: String, contentType: String) {
        let fileID = filename.map { URL(fileURLWithPath: $0).deletingPathExtension().lastPathComponent } ?? "audio"
        switch format {
        case .json: return (TranscriptRenderer.openAIJSON(t), "application/json")
        case .verboseJSON: return (TranscriptRenderer.render(t, as: .verboseJSON), "application/json")
        case .diarizedJSON: return (TranscriptRenderer.render(t, as: .diarizedJSON), "application/json")
        case .text: return (TranscriptRenderer.render(t, as: .text), "text/plain; charset=utf-8")
        case .srt: return (TranscriptRenderer.render(t, as: .srt), "application/x-subrip; charset=utf-8")
        case .vtt: return (TranscriptRenderer.render(t, as: .vtt), "text/vtt; charset=utf-8")
        case .rttm: return (TranscriptRenderer.render(t, as: .rttm, fileID: fileID), "text/plain; charset=utf-8")
        }
    }
}
