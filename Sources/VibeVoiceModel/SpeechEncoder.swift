import Foundation
import VibeVoiceCompute

/// A σ-VAE speech encoder (acoustic or semantic): stem, six downsampling stages, head (SPEC.md section 3).
/// Hop = product of downsampling ratios (3200 for the released model).
///
/// How it runs: the narrow early stages (their layers packed for the fused kernel: up to 256 channels for the
/// released model, hop 16) go through each chunk in sub-chunks of about two seconds, so their activations stay
/// small and in cache; their output for the whole chunk is joined and the wide late stages (BLAS on the stored
/// weights, which need many rows per product) run over it. Every layer is causal and carries its state, so the
/// sub-chunks, like the chunks, do not change the result. Buffers live in the stream's `State` and are reused.
public final class SpeechEncoder: Sendable {
    public let config: SpeechEncoderConfig
    struct Stage: Sendable {
        let conv: CausalConv1d
        let blocks: [ConvNeXtBlock]
        var width: Int { conv.outChannels }
    }
    /// Convolutions in execution order, each followed by its blocks.
    private let stages: [Stage]
    private let head: CausalConv1d
    /// Stages `0..<earlyCount` run in sub-chunks of `subChunk` input rows; `earlyHop` is their total stride.
    let earlyCount: Int
    let earlyHop: Int
    let subChunk: Int

    /// Loads the encoder whose tensors start with `prefix` (e.g. `acoustic_tokenizer_encoder`).
    public init(weights: WeightSource, prefix: String, config: SpeechEncoderConfig) throws {
        self.config = config
        let f = config.numFilters
        var stages: [Stage] = []
        let stem = try CausalConv1d(weights: weights, prefix: prefix + ".stem.conv.conv",
                                    inChannels: config.channels, outChannels: f, kernel: config.kernelSize)
        let stemBlocks = try (0..<config.depths[0]).map {
            try ConvNeXtBlock(weights: weights, prefix: prefix + ".stem.stage.\($0)", dim: f, config: config)
        }
        stages.append(Stage(conv: stem, blocks: stemBlocks))
        for (i, r) in config.downsamplingRatios.enumerated() {
            let cin = f << i
            let cout = f << (i + 1)
            let conv = try CausalConv1d(weights: weights, prefix: prefix + ".conv_layers.\(i).conv.conv",
                                        inChannels: cin, outChannels: cout, kernel: 2 * r, stride: r)
            let blocks = try (0..<config.depths[i + 1]).map {
                try ConvNeXtBlock(weights: weights, prefix: prefix + ".conv_layers.\(i).stage.\($0)",
                                  dim: cout, config: config)
            }
            stages.append(Stage(conv: conv, blocks: blocks))
        }
        self.stages = stages
        head = try CausalConv1d(weights: weights, prefix: prefix + ".head.conv",
                                inChannels: f << config.downsamplingRatios.count,
                                outChannels: config.hiddenSize, kernel: config.kernelSize)
        var early = 0, hop = 1
        while early < stages.count, stages[early].conv.packed != nil,
              stages[early].blocks.allSatisfy({ $0.packed1 != nil }) {
            hop *= stages[early].conv.stride
            early += 1
        }
        earlyCount = early
        earlyHop = hop
        subChunk = hop * max(1, 51_200 / hop)
    }

    /// Streaming state: one padding cache per convolution (its last input rows) and one history per block (its
    /// last normed rows), plus the stream's working memory.
    public struct State: Sendable {
        var caches: [[Float]]
        let workspace: EncoderWorkspace
    }

    public func makeState() -> State {
        var caches: [[Float]] = []
        for s in stages {
            caches.append([Float](repeating: 0, count: s.conv.leftPad * s.conv.inChannels))
            for b in s.blocks { caches.append([Float](repeating: 0, count: b.historyRows * b.dim)) }
        }
        caches.append([Float](repeating: 0, count: head.leftPad * head.inChannels))
        return State(caches: caches, workspace: EncoderWorkspace())
    }

    /// The convolution after stage `i` (the next stage's, or the head).
    private func convAfter(_ i: Int) -> CausalConv1d { i + 1 < stages.count ? stages[i + 1].conv : head }

    /// Index of stage `i`'s convolution cache in `State.caches`.
    private func cacheIndex(_ i: Int) -> Int { stages[..<i].reduce(0) { $0 + 1 + $1.blocks.count } }

    /// Runs stage `i` over `rows` input rows at `src` (which starts with the convolution's free padding rows) and
    /// writes its output rows to `dst`. Returns the output row count.
    private func runStage(_ i: Int, _ src: UnsafeMutablePointer<Float>, rows: Int, into dst: UnsafeMutablePointer<Float>,
                          state: inout State, threads: Int) -> Int {
        let s = stages[i], ws = state.workspace
        let packed = SpeechEncoderKernels.packedEnabled
        var ci = cacheIndex(i)
        state.caches[ci].withUnsafeMutableBufferPointer { c in
            s.conv.forward(src, rows: rows, state: c.baseAddress!, into: dst, threads: threads, workspace: ws, usePacked: packed)
        }
        let t = s.conv.outputLength(rows)
        for b in s.blocks {
            ci += 1
            state.caches[ci].withUnsafeMutableBufferPointer { h in
                b.forward(dst, rows: t, history: h.baseAddress!, threads: threads, workspace: ws, usePacked: packed)
            }
        }
        return t
    }

    /// Encodes one chunk of mono samples (a multiple of the hop), continuing from `state`, on `threads` threads
    /// (default: all). Returns latents `[frames, hiddenSize]`.
    public func encodeChunk(_ samples: [Float], state: inout State, threads: Int? = nil) -> (latents: [Float], frames: Int) {
        let threads = max(1, threads ?? ComputeThreads.count)
        let ch = config.channels
        let n = samples.count / ch
        precondition(samples.count % ch == 0 && n % config.hopLength == 0,
                     "an encoder chunk holds a multiple of the hop (\(config.hopLength)) samples per channel")
        let ws = state.workspace
        // The late stages' input, for the whole chunk, after the free rows its first convolution pads with.
        let joinedConv = earlyCount < stages.count ? stages[earlyCount].conv : head
        let joinedWidth = earlyCount > 0 ? stages[earlyCount - 1].width : ch
        let joinedRows = n / earlyHop
        let joined = ws.joined.pointer((joinedConv.leftPad + joinedRows) * joinedWidth)
        let joinedData = joined + joinedConv.leftPad * joinedWidth
        samples.withUnsafeBufferPointer { sp in
            if earlyCount == 0 {
                joinedData.update(from: sp.baseAddress!, count: samples.count)
                return
            }
            var s0 = 0
            while s0 < n {
                let m = min(subChunk, n - s0)
                let pad0 = stages[0].conv.leftPad
                var src = ws.early[0].pointer((pad0 + m) * ch)
                (src + pad0 * ch).update(from: sp.baseAddress! + s0 * ch, count: m * ch)
                var rows = m
                for i in 0..<earlyCount {
                    let width = stages[i].width
                    let outRows = stages[i].conv.outputLength(rows)
                    let dst: UnsafeMutablePointer<Float>
                    let buffer: UnsafeMutablePointer<Float>
                    if i == earlyCount - 1 {
                        buffer = joined
                        dst = joinedData + (s0 / earlyHop) * width
                    } else {
                        let pad = convAfter(i).leftPad
                        buffer = ws.early[(i + 1) % 2].pointer((pad + outRows) * width)
                        dst = buffer + pad * width
                    }
                    rows = runStage(i, src, rows: rows, into: dst, state: &state, threads: threads)
                    src = buffer
                }
                s0 += m
            }
        }
        var src = joined
        var rows = joinedRows
        for i in earlyCount..<stages.count {
            let width = stages[i].width
            let pad = convAfter(i).leftPad
            let buffer = ws.late[(i - earlyCount) % 2].pointer((pad + stages[i].conv.outputLength(rows)) * width)
            rows = runStage(i, src, rows: rows, into: buffer + pad * width, state: &state, threads: threads)
            src = buffer
        }
        let frames = head.outputLength(rows)
        var out = [Float](repeating: 0, count: frames * config.hiddenSize)
        let last = state.caches.count - 1
        out.withUnsafeMutableBufferPointer { o in
            state.caches[last].withUnsafeMutableBufferPointer { c in
                head.forward(src, rows: rows, state: c.baseAddress!, into: o.baseAddress!, threads: threads, workspace: ws,
                             usePacked: SpeechEncoderKernels.packedEnabled)
            }
        }
        return (out, frames)
    }

    /// Floating-point operations (2 per multiply-add) of one pass over `samples` samples: the dense convolutions
    /// as im2col GEMMs (out × in·kernel per output frame), the depthwise mixers (kernel per channel and frame)
    /// and the feed-forwards (2 · 4d² per frame). Norms, GELU, biases and residual adds are left out (they are not
    /// multiply-adds of a matrix product; together under 1% of the count for the released model).
    public func flops(samples: Int) -> Double { Self.flops(config: config, samples: samples) }

    /// The same from the architecture alone: 27.2 GFLOP per second of 24 kHz audio for each released encoder.
    public static func flops(config c: SpeechEncoderConfig, samples: Int) -> Double {
        var t = samples / c.channels
        var total = 0.0
        func conv(_ cin: Int, _ cout: Int, _ kernel: Int, _ stride: Int) {
            let span = (kernel - 1) - (stride - 1) + t - kernel
            let out = span < 0 ? 0 : span / stride + 1
            total += 2 * Double(out) * Double(cout) * Double(cin) * Double(kernel)
            t = out
        }
        func blocks(_ n: Int, _ d: Int) {
            total += Double(n) * Double(t) * (2 * Double(d) * Double(c.kernelSize) + 4 * Double(d) * Double(c.ffnExpansion * d))
        }
        conv(c.channels, c.numFilters, c.kernelSize, 1)
        blocks(c.depths[0], c.numFilters)
        for (i, r) in c.downsamplingRatios.enumerated() {
            conv(c.numFilters << i, c.numFilters << (i + 1), 2 * r, r)
            blocks(c.depths[i + 1], c.numFilters << (i + 1))
        }
        conv(c.numFilters << c.downsamplingRatios.count, c.hiddenSize, c.kernelSize, 1)
        return total
    }

    /// Encodes a whole signal in chunks of `chunkSize` samples (the result does not depend on it).
    public func encode(_ samples: [Float], chunkSize: Int, threads: Int? = nil) -> (latents: [Float], frames: Int) {
        var state = makeState()
        var all: [Float] = []
        var frames = 0
        var start = 0
        let step = max(1, chunkSize)
        while start < samples.count {
            let end = min(samples.count, start + step)
            let (l, f) = encodeChunk(Array(samples[start..<end]), state: &state, threads: threads)
            all.append(contentsOf: l)
            frames += f
            start = end
        }
        return (all, frames)
    }
}
