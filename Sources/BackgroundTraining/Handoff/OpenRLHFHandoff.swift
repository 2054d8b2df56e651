import Foundation
import Labeling
import Training
import TransformerCore

/// A job for OpenRLHF 0.11's command line, in its dotted option names: SFT, the reward model
/// and DPO through DeepSpeed (`openrlhf.cli.train_sft`, `train_rm`, `train_dpo`), PPO, RLOO and
/// GRPO through Ray (`openrlhf.cli.train_ppo_ray`, the advantage estimator `gae`, `rloo` or
/// `group_norm`), with Tally's values for what Tally's stage has and OpenRLHF's defaults for the
/// rest. The data is read with the model's chat template (`--data.apply_chat_template`).
struct OpenRLHFHandoff {
    static let pinnedVersion = "0.11.2"
    let stage: JobKind
    let parameters: JobParameters
    let modelPath: String
    let rewardModelPath: String?
    let hasTestSplit: Bool
    /// Records in the train split (PPO's episodes are passes over them).
    let trainCount: Int

    var module: String {
        switch stage {
        case .sft: "openrlhf.cli.train_sft"
        case .reward: "openrlhf.cli.train_rm"
        case .dpo: "openrlhf.cli.train_dpo"
        default: "openrlhf.cli.train_ppo_ray"
        }
    }

    /// The options, in order; "$GPUS" and "$TRAIN_BATCH" are the launch script's.
    func options() -> [(flag: String, value: String?)] {
        var options: [(flag: String, value: String?)] = []
        func set(_ flag: String, _ value: String? = nil) { options.append((flag, value)) }
        func number(_ value: Double) -> String { YAMLSettings.number(value) }
        if let training = parameters.training {
            set("--model.model_name_or_path", modelPath)
            set("--data.dataset", "data/train.jsonl")
            if hasTestSplit { set("--eval.dataset", "data/test.jsonl") }
            if stage == .sft {
                set("--data.input_key", "prompt")
                set("--data.output_key", "completion")
            } else {
                set("--data.prompt_key", "prompt")
                set("--data.chosen_key", "chosen")
                set("--data.rejected_key", "rejected")
            }
            set("--data.apply_chat_template")
            set("--data.max_len", "\(training.maximumLength)")
            set("--train.max_epochs", "\(training.epochs)")
            set("--train.micro_batch_size", "\(training.batchSize)")
            set("--train.batch_size", "\"$TRAIN_BATCH\"")
            set("--adam.lr", number(Double(training.learningRate)))
            set("--adam.weight_decay", number(Double(training.weightDecay)))
            set("--lr_scheduler", Self.scheduler(training.schedule))
            set("--lr_warmup_ratio", number(training.warmupFraction))
            set("--max_norm", number(Double(training.maximumGradientNorm)))
            set("--train.seed", "\(Int(truncatingIfNeeded: training.seed))")
            set("--logger.logging_steps", "\(training.loggingSteps)")
            if stage == .dpo, let beta = training.klCoefficient { set("--model.beta", number(Double(beta))) }
            set("--ds.zero_stage", "2")
            set("--ckpt.output_dir", "output")
        }
        if let policy = parameters.policy {
            set("--actor.model_name_or_path", modelPath)
            if let rewardModelPath { set("--reward.model_name_or_path", rewardModelPath) }
            let estimator = stage == .ppo ? "gae" : stage == .rloo ? "rloo" : "group_norm"
            set("--algo.advantage.estimator", estimator)
            if stage == .ppo, let rewardModelPath {
                // InstructGPT's value function starts from the reward model.
                set("--critic.model_name_or_path", rewardModelPath)
                set("--critic.value_clip", number(Double(policy.valueClipRange)))
                set("--critic.adam.lr", number(Double(policy.learningRate)))
                set("--algo.advantage.gamma", number(Double(policy.discount)))
                set("--algo.advantage.lambd", number(Double(policy.traceDecay)))
            }
            // OpenRLHF evaluates a policy only with a remote reward model or an agent, so the
            // held-out prompts stay in data/test.jsonl unused (its own check refuses them here).
            set("--data.prompt_dataset", "data/train.jsonl")
            set("--data.input_key", "prompt")
            set("--data.apply_chat_template")
            set("--data.max_len", "\(policy.maximumPromptLength + policy.maximumNewTokens)")
            set("--rollout.max_new_tokens", "\(policy.maximumNewTokens)")
            set("--rollout.n_samples_per_prompt", "\(policy.answersPerPrompt)")
            set("--rollout.batch_size", "\(policy.promptsPerIteration)")
            set("--rollout.temperature", number(Double(policy.temperature)))
            set("--rollout.top_p", "1.0")
            set("--train.batch_size", "\(policy.promptsPerIteration * policy.answersPerPrompt / max(1, policy.minibatches))")
            set("--train.micro_batch_size", "1")
            set("--train.max_epochs", "\(policy.updateEpochs)")
            let prompts = max(1, trainCount)
            set("--train.num_episodes", "\(max(1, (policy.iterations * policy.promptsPerIteration + prompts - 1) / prompts))")
            set("--algo.kl.init_coef", number(Double(policy.klCoefficient)))
            if let target = policy.klTarget {
                set("--algo.kl.target", number(Double(target)))
                set("--algo.kl.horizon", "\(policy.klHorizon)")
            }
            set("--actor.eps_clip", number(Double(policy.clipRange)))
            set("--actor.adam.lr", number(Double(policy.learningRate)))
            set("--actor.max_norm", number(Double(policy.maximumGradientNorm)))
            set("--train.seed", "\(Int(truncatingIfNeeded: policy.seed))")
            set("--logger.logging_steps", "\(policy.loggingSteps)")
            for role in ["actor", "ref", "reward", "critic"] where role != "critic" || stage == .ppo {
                set("--\(role).num_gpus_per_node", "\"$GPUS\"")
            }
            set("--train.colocate_all")
            set("--ckpt.output_dir", "output")
        }
        return options
    }

    static func scheduler(_ decay: LearningRateSchedule.Decay) -> String {
        switch decay {
        case .cosine: "cosine"
        case .linear: "linear"
        case .constant: "constant_with_warmup"
        }
    }

    func files() -> [HandoffFile] {
        let command = shellCommand(parameters.policy != nil
                                   ? ["ray", "job", "submit", "--address", "\"$RAY_ADDRESS\"", "--runtime-env-json", #"{"working_dir": "."}"#, "--", "python3", "-m", module]
                                   : ["deepspeed", "--num_gpus", "\"$GPUS\"", "--module", module], options())
        guard parameters.policy != nil else {
            let batch = parameters.training.map { "$(( \($0.batchSize) * \($0.gradientAccumulation) * GPUS ))" } ?? "8"
            let local = """
                #!/bin/sh
                # One machine: DeepSpeed over its GPUs (GPUS=8 ./train.sh; default 1). The global batch is
                # Tally's batch times its gradient accumulation, per GPU.
                set -e
                cd "$(dirname "$0")"
                GPUS="${GPUS:-1}"
                TRAIN_BATCH="\(batch)"
                \(command) "$@"

                """
            let cluster = """
                #!/bin/sh
                # Several machines: DeepSpeed with a hostfile (one "host slots=N" line per machine), from the first.
                #   HOSTFILE=hosts GPUS=8 ./train-multi-node.sh
                set -e
                cd "$(dirname "$0")"
                GPUS="${GPUS:-8}"
                MACHINES="$(grep -c . "${HOSTFILE:?}")"
                TRAIN_BATCH="$(( \(parameters.training.map { "\($0.batchSize) * \($0.gradientAccumulation)" } ?? "8") * GPUS * MACHINES ))"
                \(command.replacingOccurrences(of: "deepspeed --num_gpus \"$GPUS\"", with: "deepspeed --hostfile \"$HOSTFILE\"")) "$@"

                """
            return [HandoffFile(path: "train.sh", contents: local, isExecutable: true), HandoffFile(path: "train-multi-node.sh", contents: cluster, isExecutable: true)]
        }
        let local = """
            #!/bin/sh
            # One machine: a Ray head of its own, the job submitted to it (GPUS=8 ./train.sh; default 1).
            set -e
            cd "$(dirname "$0")"
            GPUS="${GPUS:-1}"
            ray start --head --num-gpus "$GPUS" >/dev/null
            RAY_ADDRESS="http://127.0.0.1:8265"
            \(command) "$@"

            """
        let cluster = """
            #!/bin/sh
            # A Ray cluster that is running already: RAY_ADDRESS=http://head:8265 GPUS=8 ./train-ray.sh
            set -e
            cd "$(dirname "$0")"
            GPUS="${GPUS:-8}"
            RAY_ADDRESS="${RAY_ADDRESS:?the Ray dashboard address, such as http://head:8265}"
            \(command) "$@"

            """
        return [HandoffFile(path: "train.sh", contents: local, isExecutable: true), HandoffFile(path: "train-ray.sh", contents: cluster, isExecutable: true)]
    }

    var install: String { "pip install 'openrlhf[vllm]==\(Self.pinnedVersion)'" }
}
