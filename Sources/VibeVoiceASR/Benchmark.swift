import Foundation
import VibeVoiceCompute
import CKernels

/// Measures the machine's own floors (memory read bandwidth, sgemm rate) and the engine's stages on a model,
/// and reports both, with ratios. Used by `vibevoice-asr bench`.
public enum Benchmark {
    /// Peak resident set size of this process, in bytes (Linux: VmHWM), or nil if unknown.
    public static func peakResidentBytes() -> Int? { statusField("VmHWM:") }

    /// Current resident set size (Linux: VmRSS).
    public static func residentBytes() -> Int? { statusField("VmRSS:") }

    private static func statusField(_ key: String) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix(key) {
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if parts.count >= 2, let kb = Int(parts[1]) { return kb * 1024 }
        }
        return nil
    }

    /// Memory read bandwidth in bytes/s: a threaded f32 mat-vec over a 512 MB buffer, best of 3.
    public static func memoryReadBandwidth() -> Double {
        matvecBandwidth(dtype: .f32)
    }

    /// A weight of `dtype` of about `bytes` bytes with `cols` = 3584 (the decoder's width), random values
    /// (block formats: one quantised 64-row block tiled over the buffer; kernel cost does not depend on values).
    static func syntheticWeight(dtype: DType, bytes: Int = 512 << 20, cols: Int = 3584) -> WeightTensor {
        if dtype.isBlockFormat {
            let rows = bytes / Int(Double(cols) * dtype.bitsPerWeight / 8) / 64 * 64
            var rng = SeededRandom(seed: 7)
            let source = OwnedWeightBuffer.tensor((0..<(64 * cols)).map { _ in rng.nextGaussian() * 0.02 }, shape: [64, cols])
            let block = try! WeightQuantizer.quantize(source, to: dtype)
            let payload = rows / 64 * block.payloadByteCount, scales = rows / 64 * block.scaleByteCount
            let buf = OwnedWeightBuffer(byteCount: payload + scales)
            for i in 0..<(rows / 64) {
                (buf.pointer + i * block.payloadByteCount).copyMemory(from: block.data, byteCount: block.payloadByteCount)
                (buf.pointer + payload + i * block.scaleByteCount).copyMemory(from: block.scales!, byteCount: block.scaleByteCount)
            }
            return WeightTensor(blockFormat: dtype, shape: [rows, cols], data: UnsafeRawPointer(buf.pointer),
                                scales: UnsafeRawPointer(buf.pointer + payload), owner: buf)
        }
        let size = dtype.elementSize!
        let rows = bytes / size / cols
        let buf = OwnedWeightBuffer(byteCount: rows * cols * size)
        buf.pointer.initializeMemory(as: UInt8.self, repeating: 0x3c, count: rows * cols * size)
        return WeightTensor(dtype: dtype, shape: [rows, cols], data: UnsafeRawPointer(buf.pointer), owner: buf)
    }

    /// Best-of-`repeats` seconds of `Linear.forwardRows` with `rows` activation rows over `weight`.
    static func matvecSeconds(_ weight: WeightTensor, rows: Int, repeats: Int = 3) -> Double {
        let linear = Linear(weight: weight, bias: nil)
        var rng = SeededRandom(seed: 9)
        let x = (0..<(rows * linear.inFeatures)).map { _ in rng.nextGaussian() }
        var y = [Float](repeating: 0, count: rows * linear.outFeatures)
        var best = Double.infinity
        for _ in 0..<repeats {
            let t = Date()
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { linear.forwardRows(xp.baseAddress!, rows: rows, into: $0.baseAddress!) }
            }
            best = min(best, Date().timeIntervalSince(t))
        }
        return best
    }

    /// Bytes/s a threaded mat-vec streams from a 512 MB weight of `dtype` ([rows, 3584]), best of 3. Block
    /// formats count payload and scales.
    public static func matvecBandwidth(dtype: DType) -> Double {
        let weight = syntheticWeight(dtype: dtype)
        return Double(weight.byteCount) / matvecSeconds(weight, rows: 1)
    }

    /// What `multiRowTimings` measured on one weight.
    public struct MultiRowTimings: Sendable {
        /// Cost of m rows relative to one row (1 for m = 1): the median of each m-row time over the one-row time
        /// taken just before it.
        public var costs: [Int: Double]
        /// Bytes/s of the one-row passes (the median over all of them): what the costs are relative to, so that
        /// runs under different settings (`--matvec-streams`) can be compared in absolute terms.
        public var oneRowBytesPerSecond: Double
    }

    /// The cost of `m` activation rows through the multi-row mat-vec kernels relative to one row, for each
    /// `m` in `rows`, on a 512 MB weight of `dtype`: the median over `rounds` of each m-row time against a one-row time taken
    /// just before it.
    public static func multiRowCosts(dtype: DType, rows: [Int] = [1, 2, 4, 8], rounds: Int = 5) -> [Int: Double] {
        multiRowTimings(dtype: dtype, rows: rows, rounds: rounds).costs
    }

    /// `multiRowCosts`, and the one-row rate they are relative to.
    public static func multiRowTimings(dtype: DType, rows: [Int] = [1, 2, 4, 8], rounds: Int = 5) -> MultiRowTimings {
        let weight = syntheticWeight(dtype: dtype)
        _ = matvecSeconds(weight, rows: 1, repeats: 2)   // warm the pages, the threads and the clock
        var ratios = [Int: [Double]]()
        var ones: [Double] = []
        for _ in 0..<rounds {
            for m in rows where m > 1 {
                // Each m-row time against a one-row time taken just before it: the host's load and clock drift
                // between measurements, and a ratio of neighbours cancels most of that.
                let one = matvecSeconds(weight, rows: 1, repeats: 1)
                let many = matvecSeconds(weight, rows: m, repeats: 1)
                ratios[m, default: []].append(many / one)
                ones.append(one)
            }
        }
        if ones.isEmpty { ones = [matvecSeconds(weight, rows: 1, repeats: rounds)] }
        var costs = ratios.mapValues { r in r.sorted()[r.count / 2] }
        if rows.contains(1) { costs[1] = 1 }
        return MultiRowTimings(costs: costs, oneRowBytesPerSecond: Double(weight.byteCount) / ones.sorted()[ones.count / 2])
    }

    /// A prompt of the real shape without a tokenizer: 26 text ids before the audio slots and 37 after, as in
    /// the released prompt without context (the text id is any valid one; its value does not change the cost).
    public static func syntheticPrompt(config: VibeVoiceConfig, audioFrames: Int) -> [Int] {
        let text = min(1000, config.decoder.vocabSize - 1)
        return [Int](repeating: text, count: 26) + [Int](repeating: syntheticAudioSlot(config: config), count: audioFrames)
            + [Int](repeating: text, count: 37)
    }

    /// The id that marks audio positions in `syntheticPrompt`: the config's audio token where the vocabulary holds it,
    /// else an id inside the vocabulary other than the prompt's text id. (A checkpoint in the original layout leaves the
    /// speech token ids to its tokenizer, so a small model's config can name the released model's id, 151648.)
    public static func syntheticAudioSlot(config: VibeVoiceConfig) -> Int {
        let vocab = config.decoder.vocabSize
        if config.audioTokenID < vocab { return config.audioTokenID }
        return min(1000, vocab - 1) - 1
    }

    /// sgemm rate in FLOP/s for M×N×K = 512×2048×2048, best of 3.
    public static func sgemmRate() -> Double {
        let m = 512, n = 2048, k = 2048
        let a = [Float](repeating: 0.5, count: m * k)
        let b = [Float](repeating: 0.25, count: n * k)
        var c = [Float](repeating: 0, count: m * n)
        var best = 0.0
        for _ in 0..<3 {
            let t = Date()
            a.withUnsafeBufferPointer { ap in
                b.withUnsafeBufferPointer { bp in
                    c.withUnsafeMutableBufferPointer { cp in
                        BLAS.gemmNT(m: m, n: n, k: k, a: ap.baseAddress!, lda: k, b: bp.baseAddress!, ldb: k,
                                    c: cp.baseAddress!, ldc: n)
                    }
                }
            }
            best = max(best, 2.0 * Double(m * n * k) / Date().timeIntervalSince(t))
        }
        return best
    }
}

extension Benchmark {
    public struct Report: Sendable {
        /// "stored" (the checkpoint's own dtypes) or the block format the decoder was loaded in.
        public var weights: String
        public var threads: Int
        public var bandwidth: Double
        /// Bytes/s the decode mat-vec streams for the decoder's main weight format.
        public var matvecBandwidth: Double
        public var sgemm: Double
        public var loadSeconds: Double
        public var audioSeconds: Double
        public var encodeSeconds: Double
        public var encodeFLOPs: Double
        public var promptTokens: Int
        public var prefillSeconds: Double
        public var decodeTokens: Int
        public var decodeSeconds: Double
        public var weightBytesPerToken: Int
        public var matrixParameters: Int
        public var peakResidentBytes: Int?
        public var kernelsUseSIMD: Bool
        /// The fraction of the decoder's stored bytes that were in the page cache at load (below 1, load or prefill
        /// includes reading the rest from the disk: compare speeds only between runs near 1).
        public var decoderCachedFraction = 1.0
        /// The block-format kernels' instruction-set path (scalar, avx2, avxvnni, avx512vnni).
        public var quantKernels = QuantKernelPath.current.rawValue
        /// OpenBLAS's kernel set for sgemm (`BLASCore.current`; nil for another BLAS).
        public var blasCore = BLASCore.current
        /// Memory streams per thread of the x8 one-row mat-vecs (`vv_x8_set_matvec_streams`).
        public var matvecStreams = MatvecStreams.perThread
        /// What `prefillDetail` and the long-audio figures add (attention time, exact FLOP count, the cache).
        public var prefillDetail = PrefillDetail()

        public var prefillTokensPerSecond: Double { Double(promptTokens) / prefillSeconds }
        public var decodeSecondsPerToken: Double { decodeSeconds / Double(max(1, decodeTokens)) }
        /// Decode floor: the weights streamed once per token at the measured bandwidth.
        public var decodeFloorSecondsPerToken: Double { Double(weightBytesPerToken) / bandwidth }
        /// Prefill ceiling: 2 FLOP per matrix parameter per token at the measured sgemm rate.
        public var prefillCeilingTokensPerSecond: Double { sgemm / (2 * Double(matrixParameters)) }
        public var encodeFLOPsPerSecond: Double { encodeSeconds > 0 ? encodeFLOPs / encodeSeconds : 0 }

        /// The stable keys of `bench --json` (SI units; later versions add keys, never rename these).
        public var json: [String: Any] {
            var out: [String: Any] = [
                "weights": weights, "threads": threads,
                "bandwidth_gbps": bandwidth / 1e9, "matvec_stream_gbps": matvecBandwidth / 1e9,
                "sgemm_gflops": sgemm / 1e9, "load_s": loadSeconds, "audio_s": audioSeconds,
                "encode_s": encodeSeconds, "encode_s_per_audio_s": encodeSeconds / audioSeconds,
                "encode_gflops_per_s": encodeFLOPsPerSecond / 1e9,
                "encode_ratio_to_sgemm": encodeFLOPsPerSecond / sgemm,
                "prefill_tokens": promptTokens, "prefill_s": prefillSeconds,
                "prefill_tokens_per_s": prefillTokensPerSecond,
                "prefill_ratio_to_sgemm": prefillTokensPerSecond / prefillCeilingTokensPerSecond,
                "decode_tokens": decodeTokens, "decode_s_per_token": decodeSecondsPerToken,
                "decode_bytes_per_token": weightBytesPerToken,
                "decode_floor_s_per_token": decodeFloorSecondsPerToken,
                "decode_ratio_to_floor": decodeSecondsPerToken / decodeFloorSecondsPerToken,
                "simd_kernels": kernelsUseSIMD, "quant_kernels": quantKernels,
            ]
            out["peak_resident_bytes"] = peakResidentBytes ?? NSNull()
            out["blas_core"] = blasCore ?? NSNull()
            out["matvec_streams"] = matvecStreams
            out["decoder_cached_fraction"] = decoderCachedFraction
            for (k, v) in prefillDetail.json(report: self) { out[k] = v }
            return out
        }
    }

    /// Loads the model (quantising the decoder to `weights` when given), encodes `audioSeconds` of a synthetic
    /// signal, prefills a prompt of the real shape (system and instruction text around the audio slots) and
    /// decodes `decodeTokens`.
    /// With `encode` false the encoders are skipped and the audio slots get random embeddings of the same
    /// shape (decoder-only figures; the encode keys then report 0).
    /// `kvCache` picks the cache's element format; `prefillSweep` adds prefills of the 60 s and 300 s prompt shapes
    /// (513 and 2313 tokens, random audio embeddings) for their ratios to the sgemm rate. `prefill` picks the
    /// prefill's products for block-format weights (`PrefillProducts`; the report's `int8_prefill` says which ran).
    public static func run(modelDirectory: URL, weights: DType? = nil, audioSeconds: Double, decodeTokens: Int,
                           encode: Bool = true, kvCache: KVCache.Format = .f32, prefillSweep: Bool = false,
                           prefill: PrefillProducts = .float, log: (String) -> Void) throws -> Report {
        // Read the config first, so a bad model fails before the seconds of machine measurements.
        _ = try VibeVoiceConfig.load(from: modelDirectory)
        log("measuring memory bandwidth and sgemm rate ...")
        let bandwidth = memoryReadBandwidth()
        let sgemm = sgemmRate()
        log("loading \(modelDirectory.path)\(weights.map { " (quantising the decoder to \($0.userName))" } ?? "") ...")
        // Before anything reads them: how much of the decoder the disk must still deliver.
        let cached = try Checkpoint(directory: modelDirectory).cachedFraction(prefix: "language_model.")
        var t = Date()
        // As `transcribe` does: the decoder is built (quantised with `weights`) after the encoding; its seconds
        // count in load_s.
        let model = try VibeVoiceASRModel(directory: modelDirectory, weights: weights, kvCache: kvCache,
                                          deferDecoder: true)
        var loadSeconds = Date().timeIntervalSince(t)
        let decoderFormat = model.decoderWeightFormat
        guard let int8Prefill = prefill.resolved(for: decoderFormat) else {
            throw BenchmarkError.int8PrefillNeedsBlockFormat(decoderFormat.userName)
        }
        Linear.int8GEMM = int8Prefill
        defer { Linear.int8GEMM = false }
        let streamRate = matvecBandwidth(dtype: decoderFormat)

        let n = Int(audioSeconds * 24000)
        var rng = SeededRandom(seed: 1)
        var samples = [Float](repeating: 0, count: n)
        for i in 0..<n {
            let s = Double(i) / 24000
            samples[i] = Float(0.3 * sin(2 * Double.pi * (220 + 40 * sin(s)) * s)) + 0.05 * rng.nextGaussian()
        }
        LoudnessNormalizer.normalize(&samples)
        let padded = (n + model.hopLength - 1) / model.hopLength * model.hopLength
        var encodeSeconds = 0.0, encodeFLOPs = 0.0
        var audio: AudioFeatures
        if encode {
            log(String(format: "encoding %.1f s of audio ...", audioSeconds))
            t = Date()
            audio = try model.encodeAudio(samples)
            samples = []                            // (an hour of audio is 346 MB; it is not needed again)
            encodeSeconds = Date().timeIntervalSince(t)
            model.releaseEncoderWeightPages()       // as `transcribe` does
            encodeFLOPs = model.acousticEncoder.flops(samples: padded) + model.semanticEncoder.flops(samples: padded)
        } else {
            let frames = padded / model.hopLength, h = model.config.decoder.hiddenSize
            audio = AudioFeatures(acousticLatents: [], semanticLatents: [],
                                  embeddings: (0..<(frames * h)).map { _ in rng.nextGaussian() * 0.02 }, frames: frames)
        }

        if !model.decoderIsLoaded {
            log(weights != nil ? "quantising the decoder to \(decoderFormat.userName) ..." : "building the decoder ...")
            t = Date()
            try model.loadDecoder()
            loadSeconds += Date().timeIntervalSince(t)
        }
        let prompt = syntheticPrompt(config: model.config, audioFrames: audio.frames)
        log("prefill of \(prompt.count) tokens and \(decodeTokens) decode steps ...")
        // One token per step: the plain decode cost (speculative drafts would mix in multi-row steps).
        var options = GenerationOptions(maxNewTokens: decodeTokens + 1, stopTokenIDs: [])
        options.maxDraftTokens = 0
        options.recordLogProbs = false
        Attention.Timing.reset()
        let session = try GenerationSession(model: model, promptIDs: prompt, audio: audio,
                                            audioTokenID: syntheticAudioSlot(config: model.config), options: options)
        audio = .none                               // the prompt's embeddings are in the cache now
        let attentionSeconds = Attention.Timing.seconds
        let result = session.generate(options: options)
        var detail = PrefillDetail(kvCache: kvCache, int8Prefill: int8Prefill, attentionSeconds: attentionSeconds,
                                   prefillFLOPs: prefillFLOPs(model.config.decoder, matrixParameters: model.decoder.matrixParameterCount,
                                                              tokens: prompt.count),
                                   finalContext: prompt.count + decodeTokens,
                                   kvCacheBytesPerPosition: kvCacheBytesPerPosition(model.config.decoder, kvCache))
        detail.points[prompt.count] = result.prefillSeconds
        if prefillSweep {
            for tokens in PrefillDetail.sweepLengths where detail.points[tokens] == nil {
                log("prefill of \(tokens) tokens (random audio embeddings) ...")
                detail.points[tokens] = try timePrefill(model: model, tokens: tokens, seed: UInt64(tokens))
            }
        }
        return Report(weights: weights?.userName ?? "stored", threads: ComputeThreads.count, bandwidth: bandwidth,
                      matvecBandwidth: streamRate, sgemm: sgemm, loadSeconds: loadSeconds, audioSeconds: audioSeconds,
                      encodeSeconds: encodeSeconds, encodeFLOPs: encodeFLOPs, promptTokens: prompt.count,
                      prefillSeconds: result.prefillSeconds, decodeTokens: decodeTokens, decodeSeconds: result.decodeSeconds,
                      weightBytesPerToken: model.decoder.weightBytesPerToken,
                      matrixParameters: model.decoder.matrixParameterCount,
                      peakResidentBytes: peakResidentBytes(), kernelsUseSIMD: vv_kernels_simd_enabled() != 0,
                      decoderCachedFraction: cached, prefillDetail: detail)
    }
}
