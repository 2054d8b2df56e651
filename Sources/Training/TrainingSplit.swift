import TransformerCore

/// Splits examples into training and validation by prompt, so that no prompt is in both:
/// records whose `split` says validation or test are held out; when none does, a seeded
/// share of the distinct prompts is.
public enum TrainingSplit {
    public static func split<Example>(_ examples: [Example], prompt: (Example) -> [ChatTemplate.Message], isHeldOut: (Example) -> Bool,
                               fraction: Double, seed: UInt64) -> (training: [Example], validation: [Example]) {
        if examples.contains(where: isHeldOut) {
            return (examples.filter { !isHeldOut($0) }, examples.filter(isHeldOut))
        }
        guard fraction > 0 else { return (examples, []) }
        var training: [Example] = [], validation: [Example] = []
        for example in examples {
            let key = prompt(example).map { $0.role + "\u{1}" + $0.content }.joined(separator: "\u{2}")
            if unitInterval(key, seed: seed) < fraction { validation.append(example) } else { training.append(example) }
        }
        return (training, validation)
    }

    public static func split(_ examples: [SupervisedExample], options: TrainingOptions) -> (training: [SupervisedExample], validation: [SupervisedExample]) {
        split(examples, prompt: \.prompt, isHeldOut: \.isHeldOut, fraction: options.validationFraction, seed: options.seed)
    }

    public static func split(_ examples: [RankingExample], options: TrainingOptions) -> (training: [RankingExample], validation: [RankingExample]) {
        split(examples, prompt: \.prompt, isHeldOut: \.isHeldOut, fraction: options.validationFraction, seed: options.seed)
    }

    /// A number in [0, 1) fixed by the text and the seed (FNV-1a, then a splitmix64 finish).
    static func unitInterval(_ text: String, seed: UInt64) -> Double {
        var hash: UInt64 = 0xcbf29ce484222325 ^ seed
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100000001b3
        }
        hash = (hash ^ (hash >> 30)) &* 0xbf58476d1ce4e5b9
        hash = (hash ^ (hash >> 27)) &* 0x94d049bb133111eb
        hash ^= hash >> 31
        return Double(hash >> 11) / Double(1 << 53)
    }

    /// A seeded permutation of 0..<count (Fisher-Yates).
    static func shuffledIndices(count: Int, seed: UInt64) -> [Int] {
        var random = SeededRandom(seed: seed)
        var indices = Array(0..<count)
        for i in stride(from: count - 1, to: 0, by: -1) {
            let j = Int(random.next() % UInt64(i + 1))
            indices.swapAt(i, j)
        }
        return indices
    }
}
