import Foundation
import Labeling
import Storage
import Training

/// Keeps each project's job checkpoints within a disk budget (a SmolLM2-135M checkpoint with its
/// optimizer state is about 1.6 GB). Only checkpoints nothing can resume from are pruned: those
/// of failed jobs (with what a save in progress left beside them), oldest first. A paused,
/// queued or running job keeps its checkpoint (it resumes from it), and a registered model
/// version's folder is never touched; when those alone exceed the budget, the worker says so in
/// its log. The worker prunes when it starts and after each job.
struct CheckpointPruner {
    let modelsDirectory: String
    let budgetBytes: Int64

    /// What the pruner did to one project's checkpoints.
    struct Pruned: Equatable {
        let jobID: Int
        let bytes: Int64
    }

    /// Prunes the project checkpoints over budget; returns what it removed, and the bytes the
    /// checkpoints that must stay still take when that is over budget.
    func prune(in database: DatabasePool) throws -> (removed: [Pruned], overBudget: [(projectID: Int, bytes: Int64)]) {
        let rows = try database.read { database in
            try database.query("SELECT id, project_id, status FROM jobs WHERE kind NOT IN ('sample', 'evaluation') ORDER BY id")
                .map { (id: try $0.int("id"), project: try $0.int("project_id"), status: try $0.string("status")) }
        }
        var removed: [Pruned] = [], overBudget: [(Int, Int64)] = []
        for (project, jobs) in Dictionary(grouping: rows, by: \.project).sorted(by: { $0.key < $1.key }) {
            var held = jobs.compactMap { job -> (id: Int, status: String, bytes: Int64)? in
                let bytes = checkpointBytes(of: job.id)
                return bytes > 0 ? (job.id, job.status, bytes) : nil
            }
            var total = held.reduce(0) { $0 + $1.bytes }
            // Failed jobs first, oldest first: nothing resumes from them.
            while total > budgetBytes, let index = held.firstIndex(where: { $0.status == "failed" }) {
                let victim = held.remove(at: index)
                removeCheckpoint(of: victim.id)
                total -= victim.bytes
                removed.append(Pruned(jobID: victim.id, bytes: victim.bytes))
                try database.write {
                    try JobRepository().log(jobID: victim.id, "Its checkpoint (\(Self.gigabytes(victim.bytes))) was pruned: the project's checkpoints "
                                            + "exceeded their budget of \(Self.gigabytes(budgetBytes)).", in: $0)
                }
            }
            if total > budgetBytes { overBudget.append((project, total)) }
        }
        return (removed, overBudget)
    }

    /// Bytes of a job's checkpoint and of what a save in progress or a crash left beside it.
    func checkpointBytes(of jobID: Int) -> Int64 {
        paths(of: jobID).reduce(0) { $0 + Self.size(of: $1) }
    }

    private func removeCheckpoint(of jobID: Int) {
        for path in paths(of: jobID) { try? FileManager.default.removeItem(atPath: path) }
    }

    private func paths(of jobID: Int) -> [String] {
        let folder = modelsDirectory + "/job-\(jobID)"
        let checkpoint = CheckpointFolder.path(in: folder)
        return [checkpoint, checkpoint + ".previous", folder + ".saving"]
    }

    static func size(of path: String) -> Int64 {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: path, isDirectory: &isDirectory) else { return 0 }
        guard isDirectory.boolValue else { return (try? manager.attributesOfItem(atPath: path)[.size] as? Int64) ?? 0 }
        return (manager.subpaths(atPath: path) ?? []).reduce(0) { total, child in
            total + ((try? manager.attributesOfItem(atPath: path + "/" + child)[.size] as? Int64) ?? 0)
        }
    }

    static func gigabytes(_ bytes: Int64) -> String {
        String(format: "%.2f GB", Double(bytes) / 1e9)
    }
}
