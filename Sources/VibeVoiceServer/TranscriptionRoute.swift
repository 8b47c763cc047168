import Foundation
import Hummingbird
import Logging
import VibeVoiceASR

/// `POST /v1/audio/transcriptions`. Order of checks, cheapest first: readiness (503), Content-Type and
/// boundary (400), declared length (413), a place in the scheduler (429), then the upload is read with a
/// running size check (413), its fields and audio are checked (400), and the job runs (504 past the
/// request timeout). A client that disconnects cancels its job.
struct TranscriptionRoute: Sendable {
    let configuration: ServerConfiguration
    let state: ServerState
    let metrics: ServerMetrics
    let logger: Logger

    func handle(_ request: Request, context: ServerContext) async throws -> Response {
        guard let scheduler = state.servingScheduler else {
            throw state.unavailable(retryAfter: configuration.retryAfterSeconds)
        }
        let boundary: String
        do {
            boundary = try MultipartUpload.boundary(contentType: request.headers[.contentType])
        } catch {
            throw Self.apiError(error)
        }
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > configuration.maxUploadBytes {
            throw APIError.tooLarge(limit: configuration.maxUploadBytes)
        }
        guard let reservation = scheduler.reserve() else {
            throw APIError.queueFull(retryAfter: configuration.retryAfterSeconds)
        }
        let place = HeldPlace(reservation, in: scheduler)
        let deadline = context.started + .milliseconds(Int64(configuration.requestTimeout * 1000))

        // The body is consumed here; if the client goes away, the operation is cancelled.
        return try await request.body.consumeWithCancellationOnInboundClose { body in
            let maxBytes = configuration.maxUploadBytes
            let upload: MultipartUpload
            do {
                upload = try await withDeadline(deadline) {
                    try await MultipartUpload.read(body, boundary: boundary, maxBytes: maxBytes)
                }
            } catch is DeadlineExceeded {
                context.stats.outcome.value = "upload_timeout"
                throw APIError.uploadTimeout(seconds: configuration.requestTimeout)
            } catch let f as MultipartUpload.Failure {
                throw Self.apiError(f)
            }
            var params = try TranscriptionParameters(fields: upload.fields)
            params.filename = upload.filename
            guard let file = upload.file else {
                throw APIError.badRequest("no 'file' part: send the audio as the multipart field 'file'",
                                          code: "missing_file", param: "file")
            }
            guard !file.isEmpty else {
                throw APIError.badRequest("the uploaded file is empty (0 bytes)", code: "empty_file", param: "file")
            }
            let signal = try await decode(file, name: upload.filename ?? "upload")
            context.stats.audioSeconds.value = Double(signal.samples.count) / Double(AudioSignal.sampleRate)

            var options = TranscriptionOptions(context: params.prompt, maxNewTokens: configuration.maxNewTokens)
            options.temperature = params.temperature
            let run = JobRun(scheduler: scheduler, place: place, samples: signal.samples, options: options,
                             deadline: deadline, timeout: configuration.requestTimeout, metrics: metrics)
            if params.stream {
                context.stats.deferred.value = true
                return EventStream(run: run, params: params, request: request, context: context,
                                   metrics: metrics, logger: logger).response()
            }
            let result = try await run.result(context: context)
            let (text, contentType) = params.render(result.transcript)
            return Response(status: .ok, headers: [.contentType: contentType],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        }
    }

    /// Decodes the upload on a GCD thread (libsndfile and soxr block; the concurrency pool must not).
    private func decode(_ file: [UInt8], name: String) async throws -> AudioSignal {
        let maxSeconds = configuration.maxAudioSeconds
        let outcome: Result<AudioSignal, Error> = await withCheckedContinuation { c in
            DispatchQueue.global(qos: .userInitiated).async {
                c.resume(returning: Result { try AudioLoader.load(data: Data(file), name: name, maxDuration: maxSeconds) })
            }
        }
        do {
            return try outcome.get()
        } catch let e as AudioError {
            if case .tooLong = e {
                throw APIError.badRequest("\(e.description) (this server's --max-duration)", code: "audio_too_long", param: "file")
            }
            if case .tooLongWhileDecoding = e {
                throw APIError.badRequest("\(e.description) (this server's --max-duration)", code: "audio_too_long", param: "file")
            }
            throw APIError.badRequest(e.description, code: "invalid_audio", param: "file")
        }
    }

    static func apiError(_ f: MultipartUpload.Failure) -> APIError {
        switch f {
        case .notMultipart:
            return .badRequest("the request must be multipart/form-data (Content-Type: multipart/form-data; boundary=...)",
                               code: "invalid_content_type")
        case .missingBoundary:
            return .badRequest("the multipart/form-data Content-Type has no usable boundary parameter (1 to 70 characters)",
                               code: "missing_boundary")
        case .tooLarge(let limit):
            return .tooLarge(limit: limit)
        case .malformed(let why):
            return .badRequest("malformed multipart body: \(why)", code: "malformed_multipart")
        case .incomplete:
            return .badRequest("the multipart body ended before its closing boundary (upload cut short)",
                               code: "incomplete_upload")
        case .fieldTooLarge(let name):
            return .badRequest("the form field '\(name)' is longer than \(MultipartUpload.maxFieldBytes) bytes",
                               code: "field_too_large", param: name)
        case .duplicateFile:
            return .badRequest("more than one 'file' part; send one audio file per request", code: "duplicate_file",
                               param: "file")
        }
    }
}

/// One admitted job: runs it in its reserved place within the request's deadline and maps the outcome.
struct JobRun: Sendable {
    let scheduler: any TranscriptionScheduler
    let place: HeldPlace
    let samples: [Float]
    let options: TranscriptionOptions
    let deadline: ContinuousClock.Instant
    let timeout: Double
    let metrics: ServerMetrics

    func result(context: ServerContext,
                onEvent: @escaping @Sendable (TranscriptionEvent) -> Void = { _ in }) async throws -> TranscriptionResult {
        guard let reservation = place.take() else { throw APIError.internal("the request's place was already used") }
        let (scheduler, samples, options) = (self.scheduler, self.samples, self.options)
        do {
            let result = try await withDeadline(deadline) {
                try await scheduler.transcribe(samples: samples, options: options, in: reservation, onEvent: onEvent)
            }
            metrics.recordTranscription(audioSeconds: result.audioSeconds,
                                        generatedTokens: result.transcript.tokens?.count ?? 0,
                                        promptTokens: result.transcript.promptTokens ?? 0)
            return result
        } catch is DeadlineExceeded {
            context.stats.outcome.value = "timeout"
            throw APIError.timeout(seconds: timeout)
        } catch TranscriberError.cancelled {
            context.stats.outcome.value = "client_gone"
            throw APIError(status: .init(code: 499, reasonPhrase: "Client Closed Request"),
                           message: "the request was cancelled", type: "invalid_request_error", code: "cancelled")
        } catch ModelRunError.emptyAudio {
            throw APIError.badRequest(ModelRunError.emptyAudio.description, code: "invalid_audio", param: "file")
        } catch let e as APIError {
            throw e
        } catch {
            throw APIError.internal("transcription failed: \(error)")
        }
    }
}
