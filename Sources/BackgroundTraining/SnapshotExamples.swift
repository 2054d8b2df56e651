import Labeling
import Storage
import Training
import TransformerCore

/// A job's snapshot as `Training`'s examples: the demonstrations, rankings or prompts it was
/// given when it first started, in id order, each named by its id in errors. Prompts marked
/// validation or test are held out, as in the exports.
enum SnapshotExamples {
    static func demonstrations(jobID: Int, projectID: Int, in database: Database) throws -> [SupervisedExample] {
        var filter = RankingFilter()
        filter.snapshotJobId = jobID
        var examples: [SupervisedExample] = [], after = 0
        while true {
            let page = try DemonstrationRepository().demonstrations(projectID: projectID, filter: filter, after: after, in: database)
            guard let last = page.last else { return examples }
            examples += page.map {
                SupervisedExample(prompt: messages($0.content), response: $0.text, isHeldOut: $0.split != "train",
                                  source: SourceLine(file: "demonstration", line: $0.id))
            }
            after = last.id
        }
    }

    static func rankings(jobID: Int, projectID: Int, in database: Database) throws -> [RankingExample] {
        var filter = RankingFilter()
        filter.snapshotJobId = jobID
        var examples: [RankingExample] = []
        try RankingRepository().forEachRanking(projectID: projectID, filter: filter, in: database) { ranking in
            guard ranking.entries.count >= 2 else { return }
            examples.append(RankingExample(prompt: messages(ranking.content), answers: ranking.entries.map(\.text), ranks: ranking.entries.map(\.rank),
                                           labelerGroup: ranking.labelerGroup, isHeldOut: ranking.split != "train",
                                           source: SourceLine(file: "ranking", line: ranking.id)))
        }
        return examples
    }

    static func prompts(jobID: Int, in database: Database) throws -> [(id: Int, example: PromptExample, candidates: [String])] {
        try JobRepository().snapshotIDs(jobID: jobID, itemKind: "prompt", in: database).compactMap { id in
            guard let prompt = try PromptRepository().find(id: id, in: database) else { return nil }
            return (id, PromptExample(prompt: messages(prompt.content), isHeldOut: prompt.split != "train", source: SourceLine(file: "prompt", line: id)),
                    prompt.candidates.map(\.text))
        }
    }

    static func messages(_ content: PromptContent) -> [ChatTemplate.Message] {
        content.turns.map { ChatTemplate.Message(role: $0.role, content: $0.content) }
    }
}
