import Foundation
import FuzzSupport
import VibeVoiceServer

/// The server's request parsing (Content-Type, multipart body, form fields), as `POST /v1/audio/transcriptions`
/// reads it. Input: the Content-Type line, a newline, then the body. The first body byte chooses the chunk size
/// the body arrives in, as a client's TCP segments would. Checked:
/// - a refusal is a 4xx with a JSON body of OpenAI's error shape;
/// - an accepted form keeps within the limits (the file within the upload limit, each field within 64 KiB);
/// - the outcome does not depend on how the body was chunked (the same body in one piece gives the same result).
let maxBytes = 12 * 1024

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let input = Array(Fuzz.data(bytes, count))
    let newline = input.firstIndex(of: 0x0A) ?? input.count
    let contentType = String(decoding: input[..<newline], as: UTF8.self)
    let body = newline < input.count ? Array(input[(newline + 1)...]) : []
    let size = 1 + Int(body.first ?? 0) % 97
    let chunks = stride(from: 0, to: body.count, by: size).map { Array(body[$0..<min(body.count, $0 + size)]) }

    let chunked = Fuzz.blocking { await TranscriptionRequestParsing.parse(contentType: contentType, chunks: chunks, maxBytes: maxBytes) }
    let whole = Fuzz.blocking { await TranscriptionRequestParsing.parse(contentType: contentType, chunks: body.isEmpty ? [] : [body], maxBytes: maxBytes) }
    switch (chunked, whole) {
    case (.success(let a), .success(let b)):
        if a != b { Fuzz.fail("the form differs with the chunking: \(a) vs \(b)") }
        if let f = a.file, f.count > maxBytes { Fuzz.fail("a file of \(f.count) bytes passed a \(maxBytes)-byte limit") }
        for (name, value) in a.fields where value.utf8.count > 3 * TranscriptionRequestParsing.maxFieldBytes {
            Fuzz.fail("field \(name) kept \(value.utf8.count) bytes")
        }
    case (.failure(let a), .failure(let b)):
        if a.code != b.code { Fuzz.fail("the refusal differs with the chunking: \(a.code) vs \(b.code)") }
        check(a)
    case (.success, .failure(let r)), (.failure(let r), .success):
        Fuzz.fail("accepted in one chunking and refused (\(r.code)) in the other")
    }
    return 0
}

func check(_ r: TranscriptionRequestParsing.Refusal) {
    guard (400..<500).contains(r.status) else { Fuzz.fail("refused with status \(r.status): \(r.body)") }
    guard let object = try? JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any],
          let error = object["error"] as? [String: Any], let message = error["message"] as? String, !message.isEmpty,
          error["code"] as? String == r.code
    else { Fuzz.fail("a refusal body that is not OpenAI's error shape: \(r.body)") }
}

@_cdecl("FuzzServerRequest_main")
public func harnessMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    Fuzz.runDriver(argc, argv, fuzz)
}
