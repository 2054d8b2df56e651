import Labeling
import Training

/// A job for TRL 1.16's command line (`trl sft|reward|dpo|rloo|grpo --config config.yaml`):
/// one YAML file of TRL's own option names (its `ModelConfig`, `ScriptArguments` and the
/// stage's `*Config`), with Tally's values for what Tally's stage has (learning rate, epochs,
/// batch, lengths, schedule, KL coefficient, ...) and TRL's defaults for the rest. TRL has no PPO
/// command, so PPO goes to OpenRLHF.
struct TRLHandoff {
    static let pinnedVersion = "1.16.0"
    let stage: JobKind
    let parameters: JobParameters
    let modelPath: String
    let rewardModelPath: String?
    let hasTestSplit: Bool
    /// For a reward model: a pad token that is not the end of turn (`RewardModel.padToken`).
    /// TRL pads with the end-of-sequence token when the tokenizer names no pad, and the
    /// classifier then reads each score one token early, which Tally refuses to import.
    var padToken: String?

    static func refusal(for stage: JobKind) -> String? {
        stage == .ppo ? "TRL has no ppo command (its PPO trainer is experimental and has no CLI): hand PPO to OpenRLHF (--engine openrlhf), or use rloo or grpo with TRL" : nil
    }

    var command: String { stage == .reward ? "reward" : stage.rawValue }

    func files() -> [HandoffFile] {
        var yaml = YAMLSettings()
        yaml.comment("TRL \(Self.pinnedVersion): trl \(command) --config config.yaml (written by tally export-job; Tally's option names in tally-job.json)")
        yaml.set("model_name_or_path", modelPath)
        yaml.set("dataset_name", "data")
        yaml.set("dataset_train_split", "train")
        if hasTestSplit {
            yaml.set("dataset_test_split", "test")
            yaml.set("eval_strategy", "epoch")
        }
        yaml.set("output_dir", "output")
        yaml.set("report_to", "none")
        if let training = parameters.training {
            yaml.set("learning_rate", training.learningRate)
            yaml.set("num_train_epochs", training.epochs)
            yaml.set("per_device_train_batch_size", training.batchSize)
            yaml.set("gradient_accumulation_steps", training.gradientAccumulation)
            yaml.set("lr_scheduler_type", training.schedule.rawValue)
            // Transformers 5 reads a warmup below 1 as a share of the steps.
            yaml.set("warmup_steps", training.warmupFraction)
            yaml.set("weight_decay", training.weightDecay)
            yaml.set("max_grad_norm", training.maximumGradientNorm)
            yaml.set("seed", Int(truncatingIfNeeded: training.seed))
            yaml.set("logging_steps", training.loggingSteps)
            yaml.set("max_length", training.maximumLength)
            if stage == .dpo, let beta = training.klCoefficient { yaml.set("beta", beta) }
            // Deprecated in TRL 1.16 in favour of the tokenizer's own pad token, but read.
            if let padToken { yaml.set("pad_token", padToken) }
            // The loss on the answer only, as Tally's SFT.
            if stage == .sft { yaml.set("completion_only_loss", true) }
        }
        if let policy = parameters.policy {
            yaml.set("learning_rate", policy.learningRate)
            yaml.set("max_grad_norm", policy.maximumGradientNorm)
            yaml.set("seed", Int(truncatingIfNeeded: policy.seed))
            yaml.set("logging_steps", policy.loggingSteps)
            yaml.set("max_steps", policy.iterations)
            // One optimizer step per iteration: each sees every answer to its prompts.
            yaml.set("per_device_train_batch_size", policy.promptsPerIteration * policy.answersPerPrompt)
            yaml.set("gradient_accumulation_steps", 1)
            yaml.set("num_generations", policy.answersPerPrompt)
            yaml.set("max_completion_length", policy.maximumNewTokens)
            yaml.set("temperature", policy.temperature)
            yaml.set("top_p", 1.0)
            yaml.set("beta", policy.klCoefficient)
            yaml.set("epsilon", policy.clipRange)
            yaml.set("num_iterations", policy.updateEpochs)
            if let rewardModelPath { yaml.set("reward_model_name_or_path", rewardModelPath) }
        }
        let launch = """
            #!/bin/sh
            # One machine, every GPU it has (TRL launches through Accelerate). Extra options pass through,
            # for example --num_processes 4 or --accelerate_config zero2.
            set -e
            cd "$(dirname "$0")"
            \(shellCommand(["trl", command], [("--config", "config.yaml")])) "$@"

            """
        let cluster = """
            #!/bin/sh
            # Several machines: run this on each, with the rank of the machine and the address of the first.
            #   MACHINE_RANK=0 MAIN_ADDRESS=10.0.0.1 NUM_MACHINES=2 GPUS_PER_MACHINE=8 ./train-multi-node.sh
            set -e
            cd "$(dirname "$0")"
            trl \(command) --config config.yaml \\
              --num_machines "${NUM_MACHINES:?}" --machine_rank "${MACHINE_RANK:?}" \\
              --main_process_ip "${MAIN_ADDRESS:?}" --main_process_port "${MAIN_PORT:-29500}" \\
              --num_processes "$(( ${NUM_MACHINES} * ${GPUS_PER_MACHINE:-8} ))" "$@"

            """
        return [HandoffFile(path: "config.yaml", contents: yaml.text), HandoffFile(path: "train.sh", contents: launch, isExecutable: true),
                HandoffFile(path: "train-multi-node.sh", contents: cluster, isExecutable: true)]
    }

    /// The install line for the README.
    var install: String { "pip install 'trl==\(Self.pinnedVersion)'" }
}
