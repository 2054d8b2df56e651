import JSON
import Labeling
import Storage
import Training
import TransformerCore

/// A handed-off job's snapshot as the records TRL and OpenRLHF both read, in TRL's
/// conversational forms: `prompt` (the conversation so far as messages) with `completion`
/// (SFT), `chosen` and `rejected` (reward, DPO: every untied pair of each ranking, as Tally's
/// own reward model trains), or alone (RLOO, GRPO, PPO); each answer an assistant message.
/// Held-out items (validation or test prompts) go to the test split, the rest to train.
struct HandoffRecords {
    var train: [String] = []
    var test: [String] = []

    static func read(stage: JobKind, jobID: Int, projectID: Int, in database: Database) throws -> HandoffRecords {
        var records = HandoffRecords()
        func add(_ members: [(key: String, value: JSONValue)], heldOut: Bool) {
            let line = JSONWriter.string(.object(members))
            if heldOut { records.test.append(line) } else { records.train.append(line) }
        }
        switch stage {
        case .sft:
            for example in try SnapshotExamples.demonstrations(jobID: jobID, projectID: projectID, in: database) {
                add([("prompt", messages(example.prompt)), ("completion", answer(example.response))], heldOut: example.isHeldOut)
            }
        case .reward, .dpo:
            for example in try SnapshotExamples.rankings(jobID: jobID, projectID: projectID, in: database) {
                for better in example.answers.indices {
                    for worse in example.answers.indices where example.ranks[better] < example.ranks[worse] {
                        add([("prompt", messages(example.prompt)), ("chosen", answer(example.answers[better])), ("rejected", answer(example.answers[worse]))],
                            heldOut: example.isHeldOut)
                    }
                }
            }
        case .rloo, .grpo, .ppo:
            for prompt in try SnapshotExamples.prompts(jobID: jobID, in: database) {
                add([("prompt", messages(prompt.example.prompt))], heldOut: prompt.example.isHeldOut)
            }
        case .sample, .bestOfN, .evaluation, .rewardEvaluation, .selfInstruct, .aiLabels:
            preconditionFailure("only training stages are handed off")
        }
        return records
    }

    private static func messages(_ turns: [ChatTemplate.Message]) -> JSONValue {
        .array(turns.map { .object([("role", .string($0.role)), ("content", .string($0.content))]) })
    }

    private static func answer(_ text: String) -> JSONValue {
        .array([.object([("role", .string("assistant")), ("content", .string(text))])])
    }
}
