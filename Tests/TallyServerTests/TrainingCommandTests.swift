import Foundation
import Glibc
import TallyTestSupport
import Testing
import TransformerCore

/// `tally train`, `tally eval reward`, `tally sample` and `tally score` end to end: a real
/// process on real files, with a tiny Llama-family model saved as a Hugging Face folder.
@Suite("tally training commands", .serialized)
struct TrainingCommandTests {
    /// A tiny ChatML model folder, its tokenizer trained on a small corpus.
    static func tinyModelFolder() throws -> String {
        let corpus = String(repeating: "the cat sat on the mat. name a fruit: an apple, a pear or a banana. the sky is blue. ", count: 10)
        let tokenizer = try BytePairTrainer.train(corpus: corpus, vocabularySize: 300, specialTokens: ["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
        var configuration = LlamaConfiguration()
        (configuration.vocabularySize, configuration.contextLength, configuration.width, configuration.intermediateSize) = (tokenizer.vocabularySize, 256, 32, 64)
        (configuration.layerCount, configuration.headCount, configuration.keyValueHeadCount, configuration.headSize) = (2, 4, 2, 8)
        let model = try LlamaModel(configuration: configuration)
        model.initializeParameters(seed: 4)
        let folder = TemporaryFiles.path("tiny-base")
        try PretrainedModel(model: model, tokenizer: tokenizer, chatTemplate: .chatML(defaultSystemPrompt: nil), stopTokens: [tokenizer.specialTokens["<|im_end|>"]!]).save(to: folder)
        return folder
    }

    static func write(_ lines: [String], name: String) throws -> String {
        let path = TemporaryFiles.path(name)
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func pairs(_ count: Int) -> [String] {
        (0..<count).map { #"{"prompt": "name a fruit \#($0).", "chosen": "a banana", "rejected": "the cat sat on the mat"}"# }
    }

    @Test func trainsEvaluatesAndScoresARewardModel() throws {
        let base = try Self.tinyModelFolder()
        let data = try Self.write(Self.pairs(24), name: "pairs.jsonl")
        let output = TemporaryFiles.path("reward-out")
        let train = try CommandLineTests.tally(["train", "reward", "--model", base, "--data", data, "--output", output, "--learning-rate", "3e-3",
                                                "--epochs", "2", "--validation-fraction", "0.25"])
        #expect(train.status == 0, "\(train.errorOutput)")
        #expect(train.errorOutput.contains("held out for validation") && train.errorOutput.contains("Wrote the reward model"))
        for file in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "tally_training.json", "training_log.jsonl"] {
            #expect(FileManager.default.fileExists(atPath: output + "/" + file), "\(file) missing")
        }
        #expect(!FileManager.default.fileExists(atPath: output + ".partial"))
        let evaluation = try CommandLineTests.tally(["eval", "reward", "--model", output, "--data", data, "--json"])
        #expect(evaluation.status == 0, "\(evaluation.errorOutput)")
        let report = try JSONSerialization.jsonObject(with: Data(evaluation.output.utf8)) as? [String: Any]
        #expect(report?["pairs"] as? Int == 24 && (report?["accuracy"] as? Double ?? 0) > 0.9, "\(evaluation.output)")
        #expect(report?["length_baseline_accuracy"] as? Double == 0, "the longer answer loses every one of these pairs")
        let human = try CommandLineTests.tally(["eval", "reward", "--model", output, "--data", data])
        #expect(human.output.contains("longer answer wins") && human.output.contains("chance"))
        let good = try CommandLineTests.tally(["score", "--model", output, "--prompt", "name a fruit 3.", "--response", "a banana"])
        let bad = try CommandLineTests.tally(["score", "--model", output, "--prompt", "name a fruit 3.", "--response", "the cat sat on the mat"])
        #expect(good.status == 0 && bad.status == 0)
        #expect((Double(good.output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1) > (Double(bad.output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 1))
        // A policy is not a reward model.
        let wrongKind = try CommandLineTests.tally(["score", "--model", base, "--prompt", "hi", "--response", "hello"])
        #expect(wrongKind.status != 0 && wrongKind.errorOutput.contains("not a reward model"))
    }

    @Test func fineTunesAndSamples() throws {
        let base = try Self.tinyModelFolder()
        let demonstrations = (0..<16).map { #"{"messages": [{"role": "user", "content": "name a fruit \#($0)."}, {"role": "assistant", "content": "a banana"}], "split": "\#($0 % 4 == 0 ? "validation" : "train")"}"# }
        let data = try Self.write(demonstrations, name: "demos.jsonl")
        let output = TemporaryFiles.path("sft-out")
        let train = try CommandLineTests.tally(["train", "sft", "--model", base, "--data", data, "--output", output, "--learning-rate", "1e-2", "--epochs", "3", "--json"])
        #expect(train.status == 0, "\(train.errorOutput)")
        let losses = train.output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }.compactMap { $0["eval_loss"] as? Double }
        #expect(losses.count == 4 && losses.last! < losses.first!, "\(losses)")
        let sample = try CommandLineTests.tally(["sample", "--model", output, "--prompt", "name a fruit 99.", "--temperature", "0", "--max-tokens", "8"])
        #expect(sample.status == 0 && sample.output.contains("banana"), "\(sample.output) \(sample.errorOutput)")
    }

    /// Bad input is refused with a message naming what is wrong, and nothing is written.
    @Test func refusesBadInputAndWritesNothing() throws {
        let base = try Self.tinyModelFolder()
        let output = TemporaryFiles.path("never-written")
        let malformed = try Self.write(Self.pairs(3) + [#"{"prompt": "q", "chosen": 7, "rejected": "x"}"#], name: "bad.jsonl")
        let cases: [([String], String)] = [
            (["--data", malformed], "bad.jsonl:4: chosen: must be a string"),
            (["--data", "/nonexistent.jsonl"], "/nonexistent.jsonl: cannot read the file"),
            (["--data", try Self.write([""], name: "empty.jsonl")], "holds no comparisons"),
            (["--data", try Self.write(Self.pairs(4), name: "ok.jsonl"), "--max-length", "100000"], "exceeds the model's context length"),
            (["--data", try Self.write(Self.pairs(4), name: "ok2.jsonl"), "--trained-blocks", "9"], "--trained-blocks"),
            (["--data", try Self.write(Self.pairs(4), name: "ok3.jsonl"), "--learning-rate", "-1"], "--learning-rate"),
        ]
        for (arguments, message) in cases {
            let result = try CommandLineTests.tally(["train", "reward", "--model", base, "--output", output] + arguments)
            #expect(result.status != 0 && result.errorOutput.contains(message), "\(arguments): \(result.errorOutput)")
            #expect(!FileManager.default.fileExists(atPath: output) && !FileManager.default.fileExists(atPath: output + ".partial"))
        }
        let notAModel = try CommandLineTests.tally(["train", "reward", "--model", "/nonexistent-model", "--data", try Self.write(Self.pairs(2), name: "p.jsonl"), "--output", output])
        #expect(notAModel.status != 0 && notAModel.errorOutput.contains("no such file or folder"))
        // An output folder that already holds something is never overwritten.
        let occupied = TemporaryFiles.path("occupied")
        try FileManager.default.createDirectory(atPath: occupied, withIntermediateDirectories: true)
        try "keep".write(toFile: occupied + "/mine.txt", atomically: true, encoding: .utf8)
        let refused = try CommandLineTests.tally(["train", "sft", "--model", base, "--data", "x.jsonl", "--output", occupied])
        #expect(refused.status != 0 && refused.errorOutput.contains("already exists"))
        #expect(try String(contentsOfFile: occupied + "/mine.txt", encoding: .utf8) == "keep")
    }

    /// Ctrl+C saves a checkpoint; --resume continues and finishes the model.
    @Test func interruptedRunResumes() throws {
        let base = try Self.tinyModelFolder()
        let data = try Self.write(Self.pairs(400), name: "many-pairs.jsonl")
        let output = TemporaryFiles.path("interrupted")
        let arguments = ["train", "reward", "--model", base, "--data", data, "--output", output, "--batch-size", "1", "--logging-steps", "1",
                         "--json", "--validation-fraction", "0"]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLineTests.executable)
        process.arguments = arguments
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        // The first report means training has begun.
        _ = readFirstLine(of: stdout.fileHandleForReading)
        kill(process.processIdentifier, SIGINT)
        _ = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 130)
        #expect(FileManager.default.fileExists(atPath: output + "/checkpoint/trainer_state.json"))
        #expect(!FileManager.default.fileExists(atPath: output + "/config.json"))
        let resumed = try CommandLineTests.tally(arguments + ["--resume"])
        #expect(resumed.status == 0, "\(resumed.errorOutput)")
        let steps = resumed.output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }.compactMap { $0["step"] as? Int }
        #expect(steps.first.map { $0 > 1 } ?? false, "the resumed run starts past the first step: \(steps.prefix(3))")
        #expect(steps.last == 400)
        #expect(FileManager.default.fileExists(atPath: output + "/config.json") && !FileManager.default.fileExists(atPath: output + "/checkpoint"))
    }

    /// The second half of the pipeline on the command line: a reward model, then RLOO and PPO
    /// against it, DPO on the same comparisons, and best-of-n sampling; each writes a policy that
    /// samples. Bad input is refused with what is wrong.
    @Test func policyStagesEndToEnd() throws {
        let base = try Self.tinyModelFolder()
        let pairs = try Self.write(Self.pairs(16), name: "policy-pairs.jsonl")
        let rewardModel = TemporaryFiles.path("policy-reward")
        let reward = try CommandLineTests.tally(["train", "reward", "--model", base, "--data", pairs, "--output", rewardModel, "--learning-rate", "3e-3", "--validation-fraction", "0"])
        #expect(reward.status == 0, "\(reward.errorOutput)")
        let prompts = try Self.write((0..<10).map { #"{"prompt": "name a fruit \#($0)."}"# } + [#"{"prompt": "name a fruit 0."}"#], name: "prompts.jsonl")
        let common = ["--policy", base, "--reward", rewardModel, "--prompts", prompts, "--iterations", "2", "--prompts-per-iteration", "2",
                      "--max-new-tokens", "6", "--learning-rate", "1e-3", "--json"]
        for (stage, extra) in [("rloo", ["--answers-per-prompt", "2"]), ("ppo", ["--value-model", "separate", "--update-epochs", "2"]), ("rloo", ["--advantage", "grpo", "--answers-per-prompt", "3"])] {
            let output = TemporaryFiles.path("policy-\(stage)-\(extra.count)")
            let run = try CommandLineTests.tally(["train", stage, "--output", output] + common + extra)
            #expect(run.status == 0, "\(stage) \(extra): \(run.errorOutput)")
            #expect(run.errorOutput.contains("8 prompts to train on, 2 held out") && run.errorOutput.contains("1 repeated prompts left out"), "\(run.errorOutput)")
            let reports = run.output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            let training = reports.filter { $0["phase"] as? String == "train" }, evaluations = reports.filter { $0["phase"] as? String == "eval" }
            #expect(training.count == 2 && evaluations.count == 2, "\(reports)")
            let names = stage == "ppo" ? ["objective/kl", "objective/scores", "policy/clipfrac_avg", "loss/value_avg", "val/ratio"] : ["reward", "kl", "entropy", "completions/mean_length", "clip_ratio/region_mean"]
            for name in names + ["kl_per_answer", "answer_length", "ended_fraction", "episodes_per_second"] {
                #expect(training.allSatisfy { $0[name] is Double }, "\(stage): \(name) missing")
            }
            #expect((evaluations.last?["samples"] as? [[String: Any]])?.first?["answer"] is String)
            let sample = try CommandLineTests.tally(["sample", "--model", output, "--prompt", "name a fruit.", "--max-tokens", "4"])
            #expect(sample.status == 0, "\(sample.errorOutput)")
        }
        let dpoOutput = TemporaryFiles.path("policy-dpo")
        let dpo = try CommandLineTests.tally(["train", "dpo", "--policy", base, "--data", pairs, "--output", dpoOutput, "--learning-rate", "1e-3", "--validation-fraction", "0.25", "--json", "--logging-steps", "1"])
        #expect(dpo.status == 0, "\(dpo.errorOutput)")
        let dpoReports = dpo.output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(abs((dpoReports.first?["loss"] as? Double ?? 0) - log(2)) < 1e-3 && dpoReports.contains { $0["eval_rewards/accuracies"] is Double }, "\(dpoReports)")
        let best = try CommandLineTests.tally(["sample", "--model", base, "--prompt", "name a fruit.", "--best-of", "4", "--reward", rewardModel, "--max-tokens", "6", "--json"])
        let rewards = best.output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }.compactMap { $0["reward"] as? Double }
        #expect(best.status == 0 && rewards.count == 4 && rewards == rewards.sorted(by: >), "\(best.output) \(best.errorOutput)")

        let never = TemporaryFiles.path("policy-never")
        let badPrompts = try Self.write([#"{"prompt": "ok"}"#, #"{"prompt": ""}"#], name: "bad-prompts.jsonl")
        let cases: [([String], String)] = [
            (["rloo", "--policy", base, "--reward", rewardModel, "--prompts", prompts, "--answers-per-prompt", "1"], "--answers-per-prompt: must be from 2"),
            (["rloo", "--policy", base, "--reward", rewardModel, "--prompts", badPrompts], "bad-prompts.jsonl:2: prompt: is empty"),
            (["rloo", "--policy", base, "--reward", base, "--prompts", prompts], "--reward:"),
            (["ppo", "--policy", base, "--reward", rewardModel, "--prompts", prompts, "--ptx-data", pairs], "--ptx-data: given without --ptx-coefficient"),
            (["ppo", "--policy", base, "--reward", rewardModel, "--prompts", prompts, "--minibatches", "3"], "--minibatches: must divide"),
            (["rloo", "--policy", base, "--reward", rewardModel, "--prompts", prompts, "--max-new-tokens", "1000"], "--max-new-tokens: must be from 1 to below the model's context"),
        ]
        for (arguments, message) in cases {
            let result = try CommandLineTests.tally(["train"] + arguments + ["--output", never])
            #expect(result.status != 0 && result.errorOutput.contains(message), "\(arguments): \(result.errorOutput)")
            #expect(!FileManager.default.fileExists(atPath: never) && !FileManager.default.fileExists(atPath: never + ".partial"))
        }
        let noReward = try CommandLineTests.tally(["sample", "--model", base, "--prompt", "hi", "--best-of", "4"])
        #expect(noReward.status != 0 && noReward.errorOutput.contains("--best-of: needs --reward"))
    }
}
