import Foundation
import Labeling
import Training
import TransformerCore

/// The model's check of the labels, at the end of a reward job (RLTHF's idea, arXiv 2502.13417):
/// each ranking of the snapshot is judged by a reward model that never saw its labeler's labels.
/// Training a full reward model per labeler, or per fold, would multiply the job's hours, so the
/// check uses the job's base trunk, frozen (it has not seen these labels either: the trained
/// reward model has, and would mostly agree with what it memorised): every answer's final hidden
/// state is computed once, the labelers are dealt into at most `foldCount` folds, and each fold's
/// rankings are scored by a linear Bradley-Terry head fitted on the other folds' comparisons
/// (`FrozenTrunkPreferenceHead`). A preference counts as confidently disputed when that head
/// gives its reverse a probability of at least `LabelCheck.confidence`.
extension JobRun {
    static let labelCheckFoldCount = 5
    /// The head's L2 penalty, as in `make bench-active`.
    static let labelCheckPenalty = 10.0

    func labelChecks(base: ModelVersion, options: TrainingOptions) throws -> [LabelCheck]? {
        var filter = RankingFilter()
        filter.snapshotJobId = job.id
        var rankings: [StoredRanking] = []
        try read { database in
            try RankingRepository().forEachRanking(projectID: self.job.projectId, filter: filter, in: database) { ranking in
                if !RankingExample.preferences(ranks: ranking.entries.map(\.rank)).isEmpty { rankings.append(ranking) }
            }
        }
        let labelers = Array(Set(rankings.map(\.labelerID))).sorted()
        guard labelers.count >= 2 else {
            try note("The labels were not checked by the model: that needs rankings from two labelers or more (a head fitted without each labeler's labels).")
            return nil
        }
        let started = Date()
        let model = try RewardModel(base: try PretrainedModel.load(base.checkpointPath), seed: 1)
        let encoder = try ExampleEncoder(model: model.base, maximumLength: options.maximumLength)
        let encoded = try rankings.map { ranking in
            try encoder.encode(RankingExample(prompt: SnapshotExamples.messages(ranking.content), answers: ranking.entries.map(\.text),
                                              ranks: ranking.entries.map(\.rank), source: SourceLine(file: "ranking", line: ranking.id)))
        }
        let features = try model.answerFeatures(of: encoded, sharesPrompt: options.sharesPrompt)
        let scale = FrozenTrunkPreferenceHead.scale(of: features.flatMap { $0 })
        let foldCount = min(Self.labelCheckFoldCount, labelers.count)
        let foldOfLabeler = Dictionary(uniqueKeysWithValues: labelers.enumerated().map { ($1, $0 % foldCount) })
        let preferences = encoded.map(\.preferences)
        var checks: [LabelCheck] = []
        for fold in 0..<foldCount {
            let inFold = rankings.indices.filter { foldOfLabeler[rankings[$0].labelerID] == fold }
            let training = rankings.indices.filter { foldOfLabeler[rankings[$0].labelerID] != fold }.flatMap { index in
                preferences[index].map { (better: features[index][$0.winner], worse: features[index][$0.loser]) }
            }
            let head = FrozenTrunkPreferenceHead.fit(comparisons: training, scale: scale, penalty: Self.labelCheckPenalty)
            for index in inFold {
                let scores = features[index].map(head.score)
                // The probability of the reverse: sigmoid(score(loser) - score(winner)).
                let reverses = preferences[index].map { 1 / (1 + exp(scores[$0.winner] - scores[$0.loser])) }
                checks.append(LabelCheck(rankingID: rankings[index].id, pairs: reverses.count,
                                         confidentDisagreements: reverses.filter { $0 >= LabelCheck.confidence }.count,
                                         strongestDisagreement: reverses.max()!))
            }
        }
        let disputed = checks.reduce(0) { $0 + $1.confidentDisagreements }, pairs = checks.reduce(0) { $0 + $1.pairs }
        try note(String(format: "Checked the labels with the model: %d rankings of %d labelers in %d folds, %d of %d preferences confidently disputed (%.1f s).",
                        checks.count, labelers.count, foldCount, disputed, pairs, Date().timeIntervalSince(started)))
        return checks
    }
}
