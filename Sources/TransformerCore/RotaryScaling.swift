import Foundation

/// How a model stretches RoPE beyond the context it was pretrained on, by scaling the
/// frequencies its pairs rotate at (Hugging Face's `rope_scaling`, llama.cpp's `rope_freqs`).
/// Nil in a configuration means the plain rule, theta^(-2i / headSize).
public enum RotaryScaling: Sendable, Equatable, Codable {
    /// Every frequency divided by `factor` (position interpolation, Chen et al. 2023).
    case linear(factor: Double)
    /// Llama 3.1's rule (Llama 3.2 keeps it): pairs whose wavelength is shorter than
    /// `originalContextLength / highFrequencyFactor` keep their frequency, those longer than
    /// `originalContextLength / lowFrequencyFactor` are divided by `factor`, and the ones
    /// between move smoothly from one to the other.
    case llama3(factor: Double, lowFrequencyFactor: Double, highFrequencyFactor: Double, originalContextLength: Int)
    /// Each pair's frequency divided by its own number, as a GGUF file carries them in
    /// `rope_freqs.weight` (llama.cpp's converter writes Llama 3's rule this way).
    case frequencyDivisors([Double])

    /// The inverse frequencies of the `headSize / 2` pairs after scaling.
    func scaled(_ frequencies: [Double]) -> [Double] {
        switch self {
        case .linear(let factor):
            return frequencies.map { $0 / factor }
        case .llama3(let factor, let low, let high, let original):
            let longestKept = Double(original) / high, shortestDivided = Double(original) / low
            return frequencies.map { frequency in
                let wavelength = 2 * Double.pi / frequency
                if wavelength < longestKept { return frequency }
                if wavelength > shortestDivided { return frequency / factor }
                let smooth = (Double(original) / wavelength - low) / (high - low)
                return (1 - smooth) * frequency / factor + smooth * frequency
            }
        case .frequencyDivisors(let divisors):
            return zip(frequencies, divisors).map { $0 / $1 }
        }
    }

    /// Checks the numbers make a scaling for heads of `headSize`; the error names the one at fault.
    func validate(headSize: Int) throws {
        switch self {
        case .linear(let factor):
            guard factor.isFinite, factor > 0 else { throw CheckpointError("the linear RoPE scaling factor must be positive, not \(factor)") }
        case .llama3(let factor, let low, let high, let original):
            guard factor.isFinite, factor >= 1 else { throw CheckpointError("the llama3 RoPE scaling factor must be at least 1, not \(factor)") }
            guard low.isFinite, high.isFinite, low > 0, high > low else {
                throw CheckpointError("the llama3 RoPE scaling needs 0 < low_freq_factor < high_freq_factor, not \(low) and \(high)")
            }
            guard original > 0 else { throw CheckpointError("the llama3 RoPE scaling's original_max_position_embeddings must be positive, not \(original)") }
        case .frequencyDivisors(let divisors):
            guard divisors.count == headSize / 2 else {
                throw CheckpointError("the RoPE frequency factors number \(divisors.count), but heads of \(headSize) rotate \(headSize / 2) pairs")
            }
            if let bad = divisors.firstIndex(where: { !$0.isFinite || $0 <= 0 }) {
                throw CheckpointError("RoPE frequency factor \(bad) is \(divisors[bad]); each must be a positive number")
            }
        }
    }
}
