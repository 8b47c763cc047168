import Foundation
import XCTest
import VibeVoiceCompute

/// `--kv-cache` and `--prefill` through the binary on a tiny reference checkpoint, and the fidelity rows they add.
final class DecoderRuntimeCLITests: XCTestCase {
    static let engine = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/engine")
    let model = DecoderRuntimeCLITests.engine.appendingPathComponent("hf_bf16_chunked/model")
    let audio = DecoderRuntimeCLITests.engine.appendingPathComponent("hf_bf16_chunked/audio.wav")

    private func tokens(_ extra: [String]) throws -> [Int] {
        let run = try CLIRunner.run(["transcribe", audio.path, "--model", model.path, "--format", "verbose_json",
                                     "--max-new-tokens", "24", "--quiet"] + extra)
        XCTAssertEqual(run.status, 0, run.stderr)
        let json = try JSONSerialization.jsonObject(with: run.stdoutData) as? [String: Any] ?? [:]
        return json["tokens"] as? [Int] ?? []
    }

    func testF16CacheAndIntegerPrefillTranscribeLikeTheExactPaths() throws {
        let exact = try tokens([])
        XCTAssertEqual(exact.count, 24)
        // The fixture's greedy margins exceed 0.01; an f16 cache moves its logits by ~3e-4 relative.
        XCTAssertEqual(try tokens(["--kv-cache", "f16"]), exact)
        // Integer prefill (prompt rows rounded to 8-bit blocks as in decode) against the dequantised path of the same
        // q8_0 weights. Measured (2026-12-04): the integer prefill gives the exact path's 24 tokens, while the
        // dequantised q8_0 prefill leaves them at the second token, a near tie of this random 64-wide model (310
        // against 359). The fidelity test bounds the KL of both.
        let int8 = try tokens(["--weights", "q8_0", "--prefill", "integer"])
        let dequantised = try tokens(["--weights", "q8_0", "--prefill", "float"])
        XCTAssertEqual(int8, exact)
        XCTAssertEqual(dequantised.count, 24)
        XCTAssertEqual(dequantised.first, exact.first)
        XCTAssertNotEqual(int8, dequantised, "the two prefill paths must both have run")
        // The older spelling is the integer path; auto is the integer path on the AVX-512 VNNI kernels, float elsewhere.
        XCTAssertEqual(try tokens(["--weights", "q8_0", "--int8-prefill"]), int8)
        XCTAssertEqual(try tokens(["--weights", "q8_0"]), QuantKernelPath.current == .avx512vnni ? int8 : dequantised)
        // q4_0 with and without the integer prefill: the same 24 tokens here (measured 2026-12-04).
        XCTAssertEqual(try tokens(["--weights", "q4_0", "--prefill", "integer"]),
                       try tokens(["--weights", "q4_0", "--prefill", "float"]))
    }

    func testBenchReportsTheCappedBlockFormatKernelPath() throws {
        let run = try CLIRunner.run(["bench", "--model", model.path, "--weights", "q4_0", "--quant-kernels", "scalar",
                                     "--no-encode", "--seconds", "1", "--tokens", "2", "--json"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let json = try JSONSerialization.jsonObject(with: run.stdoutData) as? [String: Any] ?? [:]
        XCTAssertEqual(json["quant_kernels"] as? String, "scalar")
        let cached = try XCTUnwrap(json["decoder_cached_fraction"] as? Double)
        XCTAssertTrue((0...1).contains(cached), "\(cached)")
        let bad = try CLIRunner.run(["bench", "--model", model.path, "--quant-kernels", "avx512"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("--quant-kernels must be one of: scalar, avx2, avxvnni"), bad.stderr)
    }

    /// What `--prefill auto` picks, reported by bench: integer on the AVX-512 VNNI kernel path only (capped below it,
    /// float), float for float weights.
    func testBenchReportsWhichPrefillAutoPicks() throws {
        func integerPrefill(_ extra: [String]) throws -> Bool? {
            let run = try CLIRunner.run(["bench", "--model", model.path, "--no-encode", "--seconds", "1", "--tokens", "1",
                                         "--json"] + extra)
            XCTAssertEqual(run.status, 0, run.stderr)
            let json = try JSONSerialization.jsonObject(with: run.stdoutData) as? [String: Any] ?? [:]
            return json["int8_prefill"] as? Bool
        }
        XCTAssertEqual(try integerPrefill(["--weights", "q8_0"]), QuantKernelPath.current == .avx512vnni)
        XCTAssertEqual(try integerPrefill(["--weights", "q8_0", "--quant-kernels", "avx2"]), false)
        XCTAssertEqual(try integerPrefill(["--weights", "q4_0", "--quant-kernels", "avx2", "--prefill", "integer"]), true)
        XCTAssertEqual(try integerPrefill(["--weights", "q4_0", "--prefill", "float"]), false)
        XCTAssertEqual(try integerPrefill([]), false)
    }

    /// OpenBLAS gives a CPU newer than itself the kernels of its fallback (Prescott, SSE3); the binary then runs
    /// itself again with `OPENBLAS_CORETYPE` set. Whatever this host's OpenBLAS knows, the kernels in use have AVX2
    /// wherever the CPU does; a core the user names is kept.
    func testSgemmUsesTheKernelsTheCPUHas() throws {
        func core(_ environment: [String: String]) throws -> String? {
            let run = try CLIRunner.run(["transcribe", audio.path, "--model", model.path, "--max-new-tokens", "2", "-v"],
                                        environment: environment, unsetting: environment.isEmpty ? ["OPENBLAS_CORETYPE"] : [])
            XCTAssertEqual(run.status, 0, run.stderr)
            guard let range = run.stderr.range(of: "BLAS kernels ") else { return nil }
            return String(run.stderr[range.upperBound...].prefix { $0.isLetter || $0.isNumber })
        }
        let chosen = try XCTUnwrap(try core([:]), "the verbose load line names the BLAS kernels")
        if BLASCore.better(than: "Prescott") != nil {
            XCTAssertNil(BLASCore.better(than: chosen), "\(chosen) leaves the CPU's AVX2 unused")
        }
        XCTAssertEqual(try core(["OPENBLAS_CORETYPE": "Haswell"]), "Haswell", "a core the user names is kept")
    }

    func testBadRuntimeFlagsAreUsageErrors() throws {
        for flags in [["--int8-prefill"], ["--prefill", "integer"]] {
            let bf16 = try CLIRunner.run(["transcribe", audio.path, "--model", model.path, "--quiet"] + flags)
            XCTAssertEqual(bf16.status, 1, bf16.stderr)
            XCTAssertTrue(bf16.stderr.contains("--prefill integer needs block-format weights (q8_0 or q4_0)"), bf16.stderr)
            XCTAssertEqual(bf16.stdout, "")
        }
        let contradiction = try CLIRunner.run(["transcribe", audio.path, "--model", model.path, "--int8-prefill",
                                               "--prefill", "float", "--quiet"])
        XCTAssertEqual(contradiction.status, 1, contradiction.stderr)
        XCTAssertTrue(contradiction.stderr.contains("contradict"), contradiction.stderr)
        let unknown = try CLIRunner.run(["transcribe", audio.path, "--model", model.path, "--prefill", "int4", "--quiet"])
        XCTAssertEqual(unknown.status, 1, unknown.stderr)
        let cache = try CLIRunner.run(["transcribe", audio.path, "--model", model.path, "--kv-cache", "f8", "--quiet"])
        XCTAssertEqual(cache.status, 1, cache.stderr)
        XCTAssertTrue(cache.stderr.contains("'f32' and 'f16'"), cache.stderr)
        let stored = try CLIRunner.run(["bench", "--model", model.path, "--prefill", "integer", "--no-encode", "--seconds",
                                        "1", "--tokens", "1"])
        XCTAssertEqual(stored.status, 1, stored.stderr)
        XCTAssertTrue(stored.stderr.contains("--prefill integer needs block-format decoder weights"), stored.stderr)
    }

    func testFidelityComparesTheOptInPaths() throws {
        let run = try CLIRunner.run(["fidelity", "--model", model.path, "--audio", audio.path, "--tokens", "8", "--weights",
                                     "q8_0,q4_0", "--int8-prefill", "--kv-cache-f16", "--json"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let json = try JSONSerialization.jsonObject(with: run.stdoutData) as! [String: Any]
        let results = json["results"] as! [[String: Any]]
        XCTAssertEqual(results.map { $0["weights"] as? String },
                       ["q8_0", "q4_0", "q8_0+int8-prefill", "q4_0+int8-prefill", "stored+kv-f16"])
        let kl = results.map { $0["mean_kl"] as! Double }
        // The integer prefill adds the rounding of the prompt rows' activations to 8-bit blocks on top of q8_0's weight
        // rounding: measured 4.35e-4 against q8_0's 2.71e-4 here (the 16-bit per-row rounding of the earlier integer
        // path gave 2.7056e-4). For q4_0 the weight rounding dominates: 0.0581 against 0.0579. The f16 cache alone
        // is far below q8_0: measured 3.6e-8.
        XCTAssertGreaterThan(kl[2], kl[0])
        XCTAssertLessThan(kl[2], kl[0] * 2.5)
        XCTAssertEqual(kl[3], kl[1], accuracy: kl[1] * 0.05)
        XCTAssertLessThan(kl[4], kl[0] / 10)
        XCTAssertGreaterThan(kl[4], 0)
    }
}
