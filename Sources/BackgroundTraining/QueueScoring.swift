import Foundation
import Labeling
import Training

/// Active selection's scoring, at the end of a reward job in a project whose ranking queue is
/// ordered by uncertainty: the new reward model scores every candidate of the prompts still
/// waiting for rankings. Projects in import order pay nothing.
extension JobRun {
    func scoresForTheQueue(rewardModelFolder: String) throws -> [(promptID: Int, candidateScores: [(candidateID: Int, score: Double)])]? {
        let (project, prompts) = try read { database in
            (try ProjectRepository().find(id: self.job.projectId, in: database), try QueueUncertainty().promptsToScore(projectID: self.job.projectId, in: database))
        }
        guard project?.queueOrder == .uncertainty else { return nil }
        let model: RewardModel
        do { model = try RewardModel(contentsOf: rewardModelFolder) } catch {
            try note("The new reward model could not be loaded to order the queue, which keeps its last order: \(error)")
            return nil
        }
        let started = Date()
        var scored: [(promptID: Int, candidateScores: [(candidateID: Int, score: Double)])] = []
        for prompt in prompts {
            let messages = SnapshotExamples.messages(prompt.content)
            let rewards = try model.rewards(of: prompt.candidates.map { (messages, $0.text) })
            scored.append((prompt.id, zip(prompt.candidates, rewards).map { ($0.id, Double($1)) }))
        }
        try note(String(format: "Scored the %d candidates of the %d prompts waiting for rankings in %.1f s, for the queue's order by uncertainty.",
                        scored.reduce(0) { $0 + $1.candidateScores.count }, scored.count, Date().timeIntervalSince(started)))
        return scored
    }
}
