import Foundation

/// The loudness normalisation of the reference feature extractor (SPEC.md section 2):
/// `rms = sqrt(mean(x²))`; `x *= 10^(-25/20) / (rms + 1e-6)`; then, if `max|x| > 1`,
/// `x /= max|x| + 1e-6`.
public enum LoudnessNormalizer {
    /// Target level in dBFS.
    public static let targetDBFS: Double = -25
    /// The epsilon added to the rms and to the peak.
    public static let epsilon: Double = 1e-6

    /// Normalises `samples` in place. The rms is accumulated in Double; the gain is applied
    /// per sample in float32 as the reference does. An empty array is left unchanged.
    public static func normalize(_ samples: inout [Float]) {
        guard !samples.isEmpty else { return }
        let rms = self.rms(samples)
        let gain = Float(pow(10.0, targetDBFS / 20.0) / (rms + epsilon))
        var peak: Float = 0
        samples.withUnsafeMutableBufferPointer { x in
            for i in x.indices {
                let v = x[i] * gain
                x[i] = v
                peak = max(peak, abs(v))
            }
        }
        if peak > 1 {
            let divisor = Float(Double(peak) + epsilon)
            samples.withUnsafeMutableBufferPointer { x in
                for i in x.indices { x[i] /= divisor }
            }
        }
    }

    /// `sqrt(mean(x²))` accumulated in Double; 0 for an empty array.
    public static func rms(_ samples: [Float]) -> Double {
        guard !samples.isEmpty else { return 0 }
        var sum: Double = 0
        samples.withUnsafeBufferPointer { x in
            for v in x { let d = Double(v); sum += d * d }
        }
        return (sum / Double(samples.count)).squareRoot()
    }
}
