import Foundation
import XCTest
@testable import VibeVoiceAudio

/// The damaged-stream rule holds through FFmpeg too: a cut or corrupted container or codec stream is an error
/// naming the file, never a silently shorter signal; `allowPartial` keeps what decoded and says so.
final class DamagedContainerTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = try TestAudio.temporaryDirectory(self)
    }

    private func edited(_ file: String, _ name: String, _ edit: (inout Data) -> Void) throws -> URL {
        var data = try Data(contentsOf: Containers.url(file))
        edit(&data)
        let url = dir.appendingPathComponent(name)
        try data.write(to: url)
        return url
    }

    /// An M4A whose index comes first, cut in half: its packets up to the cut decode, short of the length the
    /// index declares. With `allowPartial` that part is kept, with a warning.
    func testCutM4AWithTheIndexFirstIsIncomplete() throws {
        let cut = try edited("aac.m4a", "cut.m4a") { $0 = $0.prefix($0.count / 2) }
        for load in [{ try AudioLoader.load(contentsOf: cut) }, { try AudioLoader.load(data: try Data(contentsOf: cut), name: cut.path) }] {
            XCTAssertThrowsError(try load()) { error in
                guard case .incomplete(let name, let detail)? = error as? AudioError else { return XCTFail("\(error)") }
                XCTAssertEqual(name, cut.path)
                XCTAssertTrue(detail.contains("of the 80448 frames the container declares"), detail)
                XCTAssertTrue("\(error)".contains("--allow-partial-audio"), "\(error)")
            }
        }
        let kept = try AudioLoader.load(contentsOf: cut, allowPartial: true)
        XCTAssertGreaterThan(kept.sourceFrames, 20_000)
        XCTAssertLessThan(kept.sourceFrames, 60_000)
        XCTAssertFalse(kept.warnings.isEmpty)
        XCTAssertTrue(kept.warnings.contains { $0.contains("of the 80448 frames the container declares") }, "\(kept.warnings)")
    }

    /// An M4A or MOV whose index comes last (how recorders write them), cut short: there is no index to read
    /// any audio with, and the error says why.
    func testCutFilesWithTheIndexLastFailToOpenClearly() throws {
        for file in ["aac-moov-end.m4a", "alac-16k.m4a", "pcm-stereo.mov"] {
            let cut = try edited(file, "cut-\(file)") { $0 = $0.prefix($0.count / 2) }
            for allowPartial in [false, true] {
                XCTAssertThrowsError(try AudioLoader.load(contentsOf: cut, allowPartial: allowPartial), file) { error in
                    guard case .malformed(let name, let detail)? = error as? AudioError else { return XCTFail("\(file): \(error)") }
                    XCTAssertEqual(name, cut.path)
                    XCTAssertTrue(detail.contains("moov atom not found (the index of an MP4/M4A/MOV file"), detail)
                }
            }
        }
    }

    /// Every container cut in half is refused, naming the file; with `allowPartial` what decoded is kept with
    /// a warning, where anything can be read at all.
    func testEveryContainerCutInHalfIsRefused() throws {
        let files = ["aac-video.mp4", "opus-video.webm", "vorbis.mkv", "flac-2audio.mkv", "mp3-video.avi", "wma.wma", "aac.aac"]
        for file in files {
            let clean = try AudioLoader.load(contentsOf: Containers.url(file)).sourceFrames
            let cut = try edited(file, "cut-\(file)") { $0 = $0.prefix($0.count / 2) }
            XCTAssertThrowsError(try AudioLoader.load(contentsOf: cut), file) { error in
                switch error as? AudioError {
                case .incomplete(let name, _)?, .decodeFailed(let name, _)?: XCTAssertEqual(name, cut.path, file)
                default: XCTFail("\(file): \(error)")
                }
            }
            let kept = try AudioLoader.load(contentsOf: cut, allowPartial: true)
            XCTAssertLessThan(kept.sourceFrames, clean, file)
            XCTAssertGreaterThan(kept.sourceFrames, 0, file)
            XCTAssertFalse(kept.warnings.isEmpty, file)
        }
    }

    /// The invariant for every container and codec and every bit flip: an error naming the file, or the whole
    /// length with no warning.
    func testBitFlipsNeverGiveASilentlyShortSignal() throws {
        let files = ["aac.m4a", "aac-video.mp4", "aac.aac", "alac-16k.m4a", "pcm-stereo.mov", "flac-2audio.mkv",
                     "opus-video.webm", "vorbis.mkv", "mp3-video.avi", "wma.wma"]
        var refused = 0
        for file in files {
            let clean = try AudioLoader.load(contentsOf: Containers.url(file))
            let size = try Data(contentsOf: Containers.url(file)).count
            for k in 1...8 {
                let at = size * (10 + 10 * k) / 100
                let url = try edited(file, "flip\(k)-\(file)") { $0[at] ^= 0x10 }
                do {
                    let signal = try AudioLoader.load(contentsOf: url)
                    XCTAssertGreaterThanOrEqual(signal.sourceFrames, clean.sourceFrames, "\(file) flip at \(at): short and silent")
                    XCTAssertEqual(signal.warnings, [], "\(file) flip at \(at)")
                } catch let error as AudioError {
                    XCTAssertTrue(error.description.hasPrefix(url.path), "\(error)")
                    refused += 1
                }
            }
        }
        // Measured: 16 of the 80 flips are refused (6 of the 8 in the MKV fail a FLAC frame's checksum, the other
        // two land in its second audio stream or its video; most flips in lossy frames decode to different,
        // full-length audio).
        XCTAssertGreaterThanOrEqual(refused, 12)
    }

    /// With `allowPartial`, a packet the decoder refuses becomes silence of its length, so the signal keeps its
    /// length (and later timestamps stay right) and a warning says how much.
    func testRefusedPacketBecomesSilenceWithAllowPartial() throws {
        // A flipped bit inside a FLAC frame fails the frame's checksum.
        let clean = try AudioLoader.load(contentsOf: Containers.url("flac-2audio.mkv"))
        let size = try Data(contentsOf: Containers.url("flac-2audio.mkv")).count
        let url = try edited("flac-2audio.mkv", "flip.mkv") { $0[size / 3] ^= 0x10 }
        XCTAssertThrowsError(try AudioLoader.load(contentsOf: url)) { error in
            guard case .decodeFailed(_, let detail)? = error as? AudioError else { return XCTFail("\(error)") }
            XCTAssertTrue(detail.hasPrefix("the flac decoder failed at "), detail)
        }
        let kept = try AudioLoader.load(contentsOf: url, allowPartial: true)
        XCTAssertEqual(kept.sourceFrames, clean.sourceFrames)
        XCTAssertEqual(kept.warnings.count, 1)
        XCTAssertTrue(kept.warnings[0].hasPrefix("the audio is damaged: 1 packet(s) could not be decoded"), kept.warnings[0])
        let differing = zip(kept.samples, clean.samples).filter { $0 != $1 }.count
        XCTAssertGreaterThan(differing, 0)
        XCTAssertTrue(kept.samples.contains(0))
    }

    /// FFmpeg's own messages never reach standard error.
    func testFFmpegPrintsNothing() throws {
        let cut = try edited("aac.m4a", "cut.m4a") { $0 = $0.prefix($0.count / 2) }
        let flip = try edited("flac-2audio.mkv", "flip.mkv") { $0[$0.count / 3] ^= 0x10 }
        let printed = try capturingStandardError {
            _ = try? AudioLoader.load(contentsOf: cut)
            _ = try? AudioLoader.load(contentsOf: cut, allowPartial: true)
            _ = try? AudioLoader.load(contentsOf: flip)
            _ = try? AudioLoader.load(contentsOf: Containers.url("aac.aac"))
        }
        XCTAssertEqual(printed, "")
    }

    private func capturingStandardError(_ body: () throws -> Void) throws -> String {
        let url = dir.appendingPathComponent("stderr.txt")
        FileManager.default.createFile(atPath: url.path, contents: nil)
        let file = try FileHandle(forWritingTo: url)
        fflush(nil)
        let saved = dup(2)
        dup2(file.fileDescriptor, 2)
        defer {
            fflush(nil)
            dup2(saved, 2)
            close(saved)
            try? file.close()
        }
        try body()
        fflush(nil)
        // Through a file handle: Foundation's Data(contentsOf:) leaks 4 KB on an empty file (LeakSanitizer).
        let reader = try FileHandle(forReadingFrom: url)
        defer { try? reader.close() }
        return String(decoding: try reader.readToEnd() ?? Data(), as: UTF8.self)
    }
}
