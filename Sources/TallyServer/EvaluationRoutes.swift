import HTTP
import JSON
import Labeling
import Storage

/// Human evaluation (Docs/evaluation.md): blind pairs of model versions' answers to held-out
/// prompts, judged by labelers, and the leaderboard they make. Pairs are made by evaluation
/// jobs (`POST /api/projects/{id}/jobs` with kind `evaluation`).
///
/// | route | who |
/// |---|---|
/// | `GET /api/projects/{id}/next-evaluation` | labeler |
/// | `POST /api/evaluation-pairs/{id}/judgments` (`preference`: left, right or tie) | labeler |
/// | `GET /api/projects/{id}/leaderboard` | admin, researcher |
///
/// A labeler is shown the prompt and the two answers on the sides the pair was made with, and
/// never which versions wrote them.
struct EvaluationRoutes: Sendable {
    let database: DatabasePool
    let submissions: GroupCommit
    let authenticator: Authenticator

    struct PairView: Encodable {
        let id: Int
        let prompt: ProjectRoutes.PromptView
        let left: String
        let right: String
    }
    struct Task: Encodable {
        let project: Project
        let pair: PairView?
        /// Pairs of the project this labeler can still judge, this one included.
        let remaining: Int
    }
    struct Created: Encodable { let id: Int }
    /// The results with the names of the versions they speak of.
    struct Leaderboard: Encodable {
        let results: EvaluationResults
        let pairs: Int
        let models: [ModelName]
    }
    struct ModelName: Encodable { let id: Int; let name: String; let kind: String }

    func register(in router: inout Router) {
        let routes = self
        router.get("/api/projects/{id}/next-evaluation", authenticator.require([.labeler]) { request, signedIn in
            let projectID = try pathIdentifier(request)
            return try .json(try routes.database.read { database in
                guard let project = try ProjectRepository().find(id: projectID, in: database) else { throw HTTPError.notFound("There is no project \(projectID).") }
                let evaluations = EvaluationRepository()
                guard let task = try evaluations.next(project: project, labelerID: signedIn.user.id, in: database) else {
                    return Task(project: project, pair: nil, remaining: 0)
                }
                // The prompt's candidates are not shown: the pair's two answers are the task.
                return Task(project: project, pair: PairView(id: task.pairId, prompt: ProjectRoutes.view(task.prompt, candidates: []), left: task.left, right: task.right),
                            remaining: try evaluations.remaining(project: project, labelerID: signedIn.user.id, in: database))
            })
        })
        router.post("/api/evaluation-pairs/{id}/judgments", authenticator.require([.labeler]) { request, signedIn in
            let pairID = try pathIdentifier(request)
            let submission = try request.decodeJSON(JudgmentSubmission.self)
            let id = try routes.submissions.write { database in
                let id = try EvaluationRepository().judge(pairID: pairID, labelerID: signedIn.user.id, submission, in: database)
                // The reward-hacking watch against people: checked with each verdict, in its transaction.
                try RewardHumanGapWatch.afterVerdict(pairID: pairID, in: database)
                return id
            }
            return try .json(Created(id: id), status: .created)
        })
        router.get("/api/projects/{id}/leaderboard", authenticator.require([.admin, .researcher]) { request, _ in
            let projectID = try pathIdentifier(request)
            let (verdicts, rewards, pairs, versions) = try routes.database.read { database in
                guard try ProjectRepository().find(id: projectID, in: database) != nil else { throw HTTPError.notFound("There is no project \(projectID).") }
                let evaluations = EvaluationRepository()
                return (try evaluations.verdicts(projectID: projectID, in: database), try evaluations.rewards(projectID: projectID, in: database),
                        try evaluations.pairCount(projectID: projectID, in: database), try ModelVersionRepository().all(in: database))
            }
            // The fit and its bootstrap run outside the read: they need no connection.
            let results = EvaluationResults.compute(verdicts, rewards: rewards)
            let named = Set(results.leaderboard.map(\.modelId) + results.rewardModels.map(\.rewardModelId))
            return try .json(Leaderboard(results: results, pairs: pairs,
                                         models: versions.filter { named.contains($0.id) }.map { ModelName(id: $0.id, name: $0.name, kind: $0.kind) }))
        })
    }
}
