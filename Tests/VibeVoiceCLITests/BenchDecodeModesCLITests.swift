import Foundation
import XCTest

/// `bench --batch-sizes` and `bench --forced-drafts` on a tiny checkpoint: the figures are timings, so the test checks
/// what must hold whatever the machine: every size reported, drafts of known acceptance give exactly their tokens per
/// step, and the ids never change.
final class BenchDecodeModesCLITests: XCTestCase {
    let model = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/engine/hf_bf16_chunked/model")

    func testBatchSizesAndForcedDraftsReportEveryPointWithIdenticalIds() throws {
        let run = try CLIRunner.run(["bench", "--model", model.path, "--batch-sizes", "1,2,4", "--forced-drafts",
                                     "--tokens", "33", "--json"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: run.stdoutData) as? [String: Any])
        let tps = try XCTUnwrap(json["batch_tokens_per_s"] as? [String: Double])
        XCTAssertEqual(Set(tps.keys), ["1", "2", "4"])
        XCTAssertTrue(tps.values.allSatisfy { $0 > 0 })
        XCTAssertEqual((json["batch_speedup"] as? [String: Double])?["1"], 1)
        let drafts = try XCTUnwrap(json["forced_drafts"] as? [[String: Any]])
        XCTAssertEqual(drafts.map { $0["draft"] as? Int }, [1, 2, 4, 7])
        for d in drafts {
            XCTAssertEqual(d["identical"] as? Bool, true, "\(d)")
            XCTAssertEqual(d["tokens"] as? Int, 33)
            // The first token comes from the prompt's logits; each verify step then emits `accept + 1` (the last one
            // may be cut by the budget).
            let accept = d["accept"] as! Int, steps = d["verify_steps"] as! Int
            XCTAssertEqual(steps, (32 + accept) / (accept + 1), "\(d)")
        }
    }

    func testBadBatchSizesAreUsageErrors() throws {
        for bad in ["0", "1,x", "17", ""] {
            let run = try CLIRunner.run(["bench", "--model", model.path, "--batch-sizes", bad])
            XCTAssertEqual(run.status, 1, run.stderr)
            XCTAssertTrue(run.stderr.contains("--batch-sizes takes comma-separated sizes"), run.stderr)
        }
        let noModel = try CLIRunner.run(["bench", "--forced-drafts"])
        XCTAssertEqual(noModel.status, 1, noModel.stderr)
    }
}
