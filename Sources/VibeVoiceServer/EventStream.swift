import Foundation
import Hummingbird
import Logging
import VibeVoiceASR

/// `stream=true`: Server-Sent Events, one event per segment as it completes, then the whole transcript.
///
/// - `transcript.text.delta` `{"type", "delta", "segment_id"}` for each segment (`delta` is its text, after a
///   space from the second segment on, so the deltas joined give the final text);
///   with `response_format=diarized_json`, `transcript.text.segment` `{"type", "id", "start", "end", "speaker",
///   "text"}` instead.
/// - `transcript.text.done` `{"type", "text", "usage"}` last; `usage` counts prompt and generated tokens
///   (OpenAI's token usage), and our `duration` gives the audio seconds.
/// - On failure after the stream began: `{"type": "error", "error": {...}}` (OpenAI's error shape), then the end.
/// - A comment line (`: keep-alive`) every second while nothing else is sent, so a client that went away is
///   noticed and its job cancelled.
struct EventStream: Sendable {
    let run: JobRun
    let params: TranscriptionParameters
    let request: Request
    let context: ServerContext
    let metrics: ServerMetrics
    let logger: Logger

    enum Item: Sendable {
        case segment(Segment)
        case done(TranscriptionResult)
        case failed(APIError)
        case heartbeat
    }

    func response() -> Response {
        let stream = self
        return Response(status: .ok,
                        headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                        body: ResponseBody { writer in try await stream.write(to: &writer) })
    }

    private func write(to writer: inout any ResponseBodyWriter) async throws {
        let (items, sink) = AsyncStream<Item>.makeStream()
        let (run, context) = (self.run, self.context)
        let work = Task {
            do {
                let result = try await run.result(context: context) { event in
                    if case .segment(let s) = event { sink.yield(.segment(s)) }
                }
                sink.yield(.done(result))
            } catch let e as APIError {
                sink.yield(.failed(e))
            } catch {
                sink.yield(.failed(.internal("transcription failed: \(error)")))
            }
            sink.finish()
        }
        let heartbeat = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                sink.yield(.heartbeat)
            }
        }
        defer { heartbeat.cancel() }
        var index = 0
        do {
            for await item in items {
                switch item {
                case .heartbeat:
                    try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                case .segment(let s):
                    try await writer.write(ByteBuffer(string: segmentEvent(s, index: index)))
                    index += 1
                case .done(let result):
                    try await writer.write(ByteBuffer(string: doneEvent(result)))
                case .failed(let e):
                    try await writer.write(ByteBuffer(string: "event: error\ndata: {\"type\": \"error\", \"error\": \(e.errorObject)}\n\n"))
                }
            }
            try await writer.finish(nil)
        } catch {
            // The client went away mid-stream: stop its job at once.
            context.stats.outcome.value = "client_gone"
            work.cancel()
        }
        _ = await work.value
        RequestGate.finish(request: request, context: context, status: 200, metrics: metrics, logger: logger)
    }

    func segmentEvent(_ s: Segment, index: Int) -> String {
        if params.format == .diarizedJSON {
            return "event: transcript.text.segment\ndata: " + TranscriptRenderer.diarizedSegmentJSON(s, index: index) + "\n\n"
        }
        let delta = (index == 0 ? "" : " ") + s.text
        return "event: transcript.text.delta\ndata: {\"type\": \"transcript.text.delta\", \"delta\": \(JSONText.string(delta)), "
            + "\"segment_id\": \"seg_\(index)\"}\n\n"
    }

    func doneEvent(_ r: TranscriptionResult) -> String {
        let prompt = r.transcript.promptTokens ?? 0, generated = r.transcript.tokens?.count ?? 0
        return "event: transcript.text.done\ndata: {\"type\": \"transcript.text.done\", \"text\": \(JSONText.string(r.transcript.text)), "
            + "\"usage\": {\"type\": \"tokens\", \"input_tokens\": \(prompt), \"output_tokens\": \(generated), "
            + "\"total_tokens\": \(prompt + generated)}, \"duration\": \(ServerMetrics.number((r.audioSeconds * 1000).rounded() / 1000))}\n\n"
    }
}
