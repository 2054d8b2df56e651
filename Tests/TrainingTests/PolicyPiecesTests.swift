import Foundation
import Testing
@testable import Training
import TransformerCore

/// The parts policy optimization is made of, each against a hand-computed value or a second way
/// of computing the same thing.
@Suite("Policy optimization: pieces")
struct PolicyPiecesTests {
    /// GAE by hand with gamma 1, lambda 0.5: rewards [0, 0, 1], values [0.5, 0.25, 0.5], V after
    /// the end 0. deltas: 0 + 0.25 - 0.5 = -0.25; 0 + 0.5 - 0.25 = 0.25; 1 + 0 - 0.5 = 0.5.
    /// A_2 = 0.5; A_1 = 0.25 + 0.5 * 0.5 = 0.5; A_0 = -0.25 + 0.5 * 0.5 = 0. Returns A + V.
    @Test func generalizedAdvantagesEqualTheHandValues() {
        let (advantages, returns) = Advantages.generalized(rewards: [0, 0, 1], values: [0.5, 0.25, 0.5], discount: 1, traceDecay: 0.5)
        #expect(advantages == [0, 0.5, 0.5])
        #expect(returns == [0.5, 0.75, 1])
        // gamma 0.9, lambda 1: A_1 = 1 - 0.5 = 0.5 (last); A_0 = 0 + 0.9 * 0.5 - 0.5 + 0.9 * 0.5 = 0.4.
        let discounted = Advantages.generalized(rewards: [0, 1], values: [0.5, 0.5], discount: 0.9, traceDecay: 1).advantages
        #expect(abs(discounted[0] - 0.4) < 1e-6 && abs(discounted[1] - 0.5) < 1e-6)
    }

    /// Whitened: [1, 2, 3, 4] has mean 2.5 and unbiased variance 5/3.
    @Test func whitenedAdvantagesHaveMeanZeroAndUnitVariance() {
        let whitened = Advantages.whitened([1, 2, 3, 4])
        let scale = Float(1 / (5.0 / 3.0 + 1e-8).squareRoot())
        for (value, expected) in zip(whitened, [-1.5, -0.5, 0.5, 1.5] as [Float]) { #expect(abs(value - expected * scale) < 1e-6) }
        #expect(Advantages.whitened([7]) == [0])
    }

    /// RLOO: each answer's reward less the mean of the others of its prompt; GRPO: (r - mean) / (std + 1e-4).
    @Test func leaveOneOutAndGroupNormalizedBaselines() {
        #expect(Advantages.leaveOneOut([1, 2, 3, 10, 10, 10], groupSize: 3) == [-1.5, 0, 1.5, 0, 0, 0])
        #expect(Advantages.leaveOneOut([4, 0], groupSize: 2) == [4, -4])
        let grouped = Advantages.groupNormalized([1, 3, 5, 5], groupSize: 2)
        let std = Float(2).squareRoot()
        #expect(abs(grouped[0] + 1 / (std + 1e-4)) < 1e-6 && abs(grouped[1] - 1 / (std + 1e-4)) < 1e-6)
        #expect(grouped[2] == 0 && grouped[3] == 0)
    }

    /// The clipped objective's gradient is its derivative: inside the clip range -A r, outside
    /// (on the side the clip binds) 0; and the value loss likewise.
    @Test func clippedObjectiveGradientsMatchFiniteDifferences() {
        for (new, old, advantage) in [(0.05, 0.0, 1.0), (0.5, 0.0, 1.0), (0.5, 0.0, -1.0), (-0.5, 0.0, -2.0), (-0.5, 0.0, 2.0)] as [(Float, Float, Float)] {
            let term = ClippedObjective.policy(newLogProbability: new, oldLogProbability: old, advantage: advantage, clipRange: 0.2)
            let h: Float = 1e-3
            let plus = ClippedObjective.policy(newLogProbability: new + h, oldLogProbability: old, advantage: advantage, clipRange: 0.2).loss
            let minus = ClippedObjective.policy(newLogProbability: new - h, oldLogProbability: old, advantage: advantage, clipRange: 0.2).loss
            #expect(abs((plus - minus) / (2 * h) - term.gradient) < 1e-2, "new \(new) advantage \(advantage)")
        }
        #expect(ClippedObjective.policy(newLogProbability: 0.5, oldLogProbability: 0, advantage: 1, clipRange: 0.2).isClipped)
        #expect(!ClippedObjective.policy(newLogProbability: 0.5, oldLogProbability: 0, advantage: -1, clipRange: 0.2).isClipped)
        for (value, old) in [(0.1, 0.0), (1.0, 0.0), (-1.0, 0.0)] as [(Float, Float)] {
            let term = ClippedObjective.value(value, oldValue: old, target: 0.5, clipRange: 0.2)
            let h: Float = 1e-3
            let numeric = (ClippedObjective.value(value + h, oldValue: old, target: 0.5, clipRange: 0.2).loss - ClippedObjective.value(value - h, oldValue: old, target: 0.5, clipRange: 0.2).loss) / (2 * h)
            #expect(abs(numeric - term.gradient) < 1e-2, "value \(value)")
        }
    }

    /// lm-human-preferences' controller: a KL above target raises beta by at most 20% of
    /// episodes / horizon; below target lowers it.
    @Test func adaptiveKLControllerSteersTowardItsTarget() {
        var options = PolicyOptions.ppo
        (options.klCoefficient, options.klTarget, options.klHorizon) = (0.15, 6, 100)
        var controller = KLController(options: options)
        controller.update(klPerAnswer: 12, episodes: 10)
        #expect(abs(controller.coefficient - 0.15 * 1.02) < 1e-6)
        controller.update(klPerAnswer: 5.4, episodes: 10)
        #expect(abs(controller.coefficient - 0.15 * 1.02 * 0.99) < 1e-6)
        var fixed = KLController(options: .ppo)
        fixed.update(klPerAnswer: 100, episodes: 1000)
        #expect(fixed.coefficient == 0.02)
    }

    /// Sampling for RL keeps the whole distribution (no top-k, no top-p): a truncated sampler's
    /// KL estimate can go negative.
    @Test func samplingForPolicyOptimizationIsNotTruncated() {
        for options in [PolicyOptions.rloo, .grpo, .ppo] {
            #expect(options.sampling.topK == 0 && options.sampling.topP == 1 && options.sampling.temperature == options.temperature)
        }
    }

    /// The log-probabilities the sampler reports are those a forward pass over the same tokens
    /// gives, alone or in a padded batch with longer episodes, and the reference (a copy) gives
    /// the same: the policy and the reference see identical tokens at identical positions.
    @Test(arguments: ["llama", "gpt2"])
    func samplerForwardAndReferenceAgreeOnEveryAnswerToken(variant: String) throws {
        let policy = try variant == "llama" ? TinyModels.llama(seed: 4) : TinyModels.gpt2(seed: 4)
        let reference = try policy.copy()
        var sampling = PolicyOptions.rloo.sampling
        (sampling.maximumNewTokens, sampling.seed, sampling.temperature) = (12, 7, 0.8)
        let prompts = try ["name a fruit.", "tell me a story about a small fox in the woods, please."].map { text in
            (conversation: TinyModels.user(text), tokens: try policy.promptTokens(TinyModels.user(text)))
        }
        let episodes = try Episode.sample(policy: policy, prompts: prompts, answersPerPrompt: 3, options: sampling)
        #expect(episodes.map(\.group) == [0, 0, 0, 1, 1, 1])
        let together = try policy.answerLogProbabilities(of: episodes, temperature: 0.8)
        let fromReference = try reference.answerLogProbabilities(of: episodes, temperature: 0.8)
        for (index, episode) in episodes.enumerated() {
            let alone = try policy.answerLogProbabilities(of: [episode], temperature: 0.8)[0]
            #expect(alone.count == episode.answer.count)
            for t in alone.indices {
                #expect(abs(alone[t] - together[index][t]) < 1e-4)
                #expect(abs(alone[t] - episode.samplingLogProbabilities[t]) < 1e-3)
                #expect(abs(alone[t] - fromReference[index][t]) < 1e-6)
            }
        }
    }

    /// The reward is read at each answer's last real token: for an answer that ended, its end
    /// of turn; for one cut at the limit, its last sampled token; never a pad after a shorter
    /// answer of the same prompt (the answers share one pass). Each equals the reward model
    /// scoring that answer alone from text.
    @Test func rewardIsReadAtTheLastRealAnswerToken() throws {
        let base = try TinyModels.llama(seed: 5)
        let rewardModel = try RewardModel(base: base, seed: 11)
        let scorer = try RewardModelScorer(rewardModel: rewardModel, policy: base)
        #expect(scorer.sharesTokens)
        let endOfTurn = try base.endOfTurnToken()
        #expect(rewardModel.padToken != endOfTurn)
        let conversation = TinyModels.user("name a fruit.")
        let prompt = try base.promptTokens(conversation)
        let short = base.tokenizer.encode("a pear") + [endOfTurn], long = base.tokenizer.encode("an apple, a pear or a plum and a banana")
        let episodes = [Episode(conversation: conversation, prompt: prompt, answer: short, ended: true, samplingLogProbabilities: [], group: 0),
                        Episode(conversation: conversation, prompt: prompt, answer: long, ended: false, samplingLogProbabilities: [], group: 0)]
        let scores = try scorer.scores(of: episodes)
        #expect(abs(scores[0] - (try rewardModel.reward(prompt: conversation, answer: "a pear"))) < 1e-5)
        let cut = EncodedRanking(prompt: prompt, answers: [long], ranks: [1], answerCharacterCounts: [0], labelerGroup: nil, wasTruncated: false, source: TinyModels.source())
        #expect(abs(scores[1] - (try rewardModel.rewards(of: [cut], sharesPrompt: false))[0][0]) < 1e-5)
        // Scored one at a time, each alone in its pass, they are the same.
        for (episode, score) in zip(episodes, scores) { #expect(abs((try scorer.scores(of: [episode]))[0] - score) < 1e-5) }
    }

    /// A reward model with another tokenizer reads each answer in its own tokens and template.
    @Test func aRewardModelWithAnotherTokenizerReencodesTheAnswers() throws {
        let policy = try TinyModels.llama(seed: 5)
        let otherBase = try TinyModels.gpt2(seed: 6, tokenizer: try BytePairTrainer.train(corpus: TinyModels.corpus, vocabularySize: 300, specialTokens: TinyModels.specialTokens))
        let rewardModel = try RewardModel(base: otherBase, seed: 2)
        let scorer = try RewardModelScorer(rewardModel: rewardModel, policy: policy)
        #expect(!scorer.sharesTokens)
        let conversation = TinyModels.user("name a fruit.")
        let answer = policy.tokenizer.encode("a banana") + [try policy.endOfTurnToken()]
        let episode = Episode(conversation: conversation, prompt: try policy.promptTokens(conversation), answer: answer, ended: true, samplingLogProbabilities: [], group: 0)
        #expect(abs((try scorer.scores(of: [episode]))[0] - (try rewardModel.reward(prompt: conversation, answer: "a banana"))) < 1e-5)
    }

    /// An answer cut at the length limit (no end of turn) loses the penalty; one that ended
    /// keeps its score; no penalty set changes nothing.
    @Test func answersCutAtTheLimitArePenalized() {
        let ended = Episode(conversation: [], prompt: [1], answer: [2, 3], ended: true, samplingLogProbabilities: [], group: 0)
        let cut = Episode(conversation: [], prompt: [1], answer: [2, 2], ended: false, samplingLogProbabilities: [], group: 0)
        #expect(PolicyTrainer.penalized([0.5, 0.5], episodes: [ended, cut], missingEndPenalty: 1) == [0.5, -0.5])
        #expect(PolicyTrainer.penalized([0.5, 0.5], episodes: [ended, cut], missingEndPenalty: nil) == [0.5, 0.5])
    }

    /// The entropy the core reports is -sum p log p of the softmax at the temperature.
    @Test func tokenEntropiesEqualTheDefinition() throws {
        let model = try TinyModels.llama(seed: 2).model
        let tokens: [Int32] = [5, 9, 30, 41]
        try model.forward(tokens: tokens, targets: nil, attentionMask: nil, positionIDs: nil, batchSize: 1, sequenceLength: 4, forBackward: false)
        let entropies = try model.tokenEntropies(temperature: 0.7, positions: [1, 3])
        let V = model.vocabularySize
        for (index, position) in [1, 3].enumerated() {
            let row = (0..<V).map { Double(model.logits[position * V + $0]) / 0.7 }
            let maximum = row.max()!
            let total = row.reduce(0) { $0 + exp($1 - maximum) }
            let entropy = -row.reduce(0) { sum, z in let p = exp(z - maximum) / total; return sum + p * log(p) }
            #expect(abs(Double(entropies[index]) - entropy) < 1e-4)
        }
        #expect(throws: (any Error).self) { try model.tokenEntropies(temperature: 1, positions: [4]) }
    }
}
