import XCTest
import Foundation
import VibeVoiceCompute
@testable import VibeVoiceModel

/// Random bf16 weights of any requested name and shape, the same for the same name (FNV-1a seed), so an encoder of
/// the real architecture can be built at any width without a checkpoint. Norm weights are 1 + noise, layer scales
/// are not small (every branch matters), matrices have unit-variance outputs.
struct RandomEncoderWeights: WeightSource {
    final class Store: @unchecked Sendable {
        var tensors: [String: WeightTensor] = [:]
        let lock = NSLock()
    }
    let store = Store()

    func has(_ name: String) -> Bool { true }

    func tensor(_ name: String, shape: [Int]) throws -> WeightTensor {
        store.lock.lock()
        defer { store.lock.unlock() }
        if let t = store.tensors[name] { return t }
        var seed: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in name.utf8 { seed = (seed ^ UInt64(b)) &* 0x100_0000_01b3 }
        var rng = SeededRandom(seed: seed)
        let count = shape.reduce(1, *)
        let fanIn = shape.count > 1 ? shape.dropFirst().reduce(1, *) : 1
        let values: [Float] = (0..<count).map { _ in
            let g = Float(3.0.squareRoot() * (2 * rng.nextUniform() - 1))   // unit variance, cheaper than a normal
            if name.hasSuffix("norm.weight") { return 1 + 0.1 * g }
            if name.hasSuffix("gamma") { return 0.3 + 0.1 * g }
            if name.hasSuffix(".bias") { return 0.1 * g }
            return g / Float(fanIn).squareRoot()
        }
        let bits = values.map { UInt16(truncatingIfNeeded: $0.bitPattern >> 16) }
        let buffer = OwnedWeightBuffer(byteCount: count * 2)
        bits.withUnsafeBytes { buffer.pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        let t = WeightTensor(dtype: .bf16, shape: shape, data: UnsafeRawPointer(buffer.pointer), owner: buffer)
        store.tensors[name] = t
        return t
    }
}

/// The encoder's fast paths against each other on a mid-width random encoder of the real architecture (widths 8 to
/// 512: the narrow stages packed and sub-chunked, the wide ones on BLAS): packed kernels against BLAS everywhere,
/// one thread against two, and chunks of any multiple of the hop against one pass.
final class SpeechEncoderPathTests: XCTestCase {
    /// Widths 8 to 512 with one or two blocks a stage (few weights to draw, every kind of layer present).
    static let config = SpeechEncoderConfig(hiddenSize: 16, numFilters: 8, depths: [2, 1, 1, 1, 1, 1, 2])
    static let weights = RandomEncoderWeights()

    override func tearDown() {
        SpeechEncoderKernels.packedEnabled = true
        super.tearDown()
    }

    private func signal(_ n: Int) -> [Float] {
        var rng = SeededRandom(seed: 9)
        return (0..<n).map { i in Float(0.3 * sin(Double(i) * 0.01 + sin(Double(i) * 1e-4))) + 0.05 * rng.nextGaussian() }
    }

    private func relativeError(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count && !a.isEmpty)
        var d = 0.0, s = 0.0
        for (x, y) in zip(a, b) {
            d = max(d, abs(Double(x) - Double(y)))
            s = max(s, abs(Double(y)))
        }
        return d / s
    }

    func testEncoderMixesPackedAndBLASLayers() throws {
        let encoder = try SpeechEncoder(weights: Self.weights, prefix: "enc", config: Self.config)
        // Stem and stages 0-3 (8 to 128 channels) are packed and sub-chunked (hop 80, 51 200 samples a sub-chunk);
        // stage 4's convolution (1280 inputs), stage 5's 2048-wide feed-forward and the head are BLAS.
        XCTAssertEqual(encoder.earlyCount, 5)
        XCTAssertEqual(encoder.earlyHop, 80)
        XCTAssertEqual(encoder.subChunk, 51_200)
        let samples = signal(3200 * 9)
        let whole = encoder.encode(samples, chunkSize: samples.count, threads: 1)
        XCTAssertEqual(whole.frames, 9)
        XCTAssertTrue(whole.latents.allSatisfy(\.isFinite))
        XCTAssertGreaterThan(whole.latents.map { abs($0) }.max()!, 0.01, "the latents carry signal")
    }

    func testPackedKernelsAgreeWithBLASEverywhere() throws {
        let encoder = try SpeechEncoder(weights: Self.weights, prefix: "enc", config: Self.config)
        let samples = signal(3200 * 12)
        let fast = encoder.encode(samples, chunkSize: samples.count, threads: 1)
        SpeechEncoderKernels.packedEnabled = false
        let blas = encoder.encode(samples, chunkSize: samples.count, threads: 1)
        SpeechEncoderKernels.packedEnabled = true
        XCTAssertEqual(fast.frames, blas.frames)
        // Different f32 summation orders through 9 blocks: measured 1.4e-6 relative; 1e-4 is the parity tests' bound.
        XCTAssertLessThan(relativeError(fast.latents, blas.latents), 1e-4)
    }

    func testTwoThreadsGiveTheSameLatentsAsOne() throws {
        let encoder = try SpeechEncoder(weights: Self.weights, prefix: "enc", config: Self.config)
        let samples = signal(3200 * 12)
        let one = encoder.encode(samples, chunkSize: samples.count, threads: 1)
        let two = encoder.encode(samples, chunkSize: samples.count, threads: 2)
        // The packed kernels and the mixer compute each row alone (bit-identical whatever the split); BLAS may sum
        // a split product's edges in another order: measured 0 here, 1e-6 allows for that.
        XCTAssertLessThan(relativeError(two.latents, one.latents), 1e-6)
    }

    func testChunksOfAnyMultipleOfTheHopEqualOnePass() throws {
        let encoder = try SpeechEncoder(weights: Self.weights, prefix: "enc", config: Self.config)
        // 20 hops = 64 000 samples: more than one early sub-chunk (51 200 samples), so sub-chunk and chunk boundaries
        // fall in different places for each chunk size.
        let samples = signal(3200 * 20)
        let whole = encoder.encode(samples, chunkSize: samples.count, threads: 2)
        for chunk in [3200, 9600, 51_200, 54_400] {
            let chunked = encoder.encode(samples, chunkSize: chunk, threads: 2)
            XCTAssertEqual(chunked.frames, whole.frames)
            // Chunked and whole runs differ only where BLAS sums a product with other row counts per call:
            // measured 5e-7 to 7e-7 relative.
            XCTAssertLessThan(relativeError(chunked.latents, whole.latents), 1e-5, "chunk \(chunk)")
        }
    }

    func testFLOPCountFollowsTheArchitecture() throws {
        // The released encoder: 54.5 GFLOP per audio second for both encoders together (27.2 each).
        let perSecond = SpeechEncoder.flops(config: SpeechEncoderConfig(), samples: 24_000 * 60) / 60
        // Per sample: stem conv 2·32·7; blocks 3 · (2·32·7 + 16·32²) at full rate, and so on down the stages.
        var expected = 0.0
        let widths = [32, 64, 128, 256, 512, 1024, 2048], rates = [1.0, 2, 4, 16, 80, 400, 3200]
        let kernels = [7, 4, 4, 8, 10, 10, 16], ins = [1, 32, 64, 128, 256, 512, 1024]
        let depths = [3, 3, 3, 3, 3, 3, 8]
        for s in 0..<7 {
            let d = Double(widths[s])
            expected += 2 * d * Double(ins[s]) * Double(kernels[s]) / rates[s]
            expected += Double(depths[s]) * (2 * d * 7 + 16 * d * d) / rates[s]
        }
        expected += 2.0 * 64 * 2048 * 7 / 3200
        XCTAssertEqual(perSecond / 24_000, expected, accuracy: expected * 1e-9)
        let small = try SpeechEncoder(weights: Self.weights, prefix: "enc", config: Self.config)
        XCTAssertEqual(small.flops(samples: 64_000), SpeechEncoder.flops(config: Self.config, samples: 64_000))
        XCTAssertEqual(perSecond / 1e9, 27.2, accuracy: 0.1)
    }
}
