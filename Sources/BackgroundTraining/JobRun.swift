import Cryptography
import Datasets
import Foundation
import JSON
import Labeling
import Storage
import Training
import TransformerCore

/// One attempt at one job, on the worker's thread: reads its parameters and snapshot, trains
/// (or samples), reports, checkpoints, and ends the job as it should end. Every database write
/// is one short transaction, so labelers never wait on training.
final class JobRun: @unchecked Sendable {
    let job: Job
    let worker: Worker
    let jobs = JobRepository()
    private let lease = Lease()
    /// Seconds the job ran in earlier attempts, and when this one began.
    private let secondsBefore: Double
    let started = Date()
    private var lastCheckpoint = Date()
    private var checkpointInterval = 600.0
    /// Set by a report that cannot be stored as it is (a non-finite metric): the job fails with it.
    private(set) var failure: String?
    private var log: [JSONValue] = []

    init(job: Job, worker: Worker) {
        (self.job, self.worker) = (job, worker)
        secondsBefore = job.secondsRunning
    }

    func run() {
        let heartbeat = startHeartbeat()
        defer { heartbeat.cancel() }
        do {
            try execute()
        } catch {
            guard !lease.isLost else { return }
            let reason = "\(error)"
            worker.logger.warning("job failed", metadata: ["job": "\(job.id)", "error": "\(reason)"])
            try? write { try self.jobs.finish(id: self.job.id, status: .failed, error: reason, in: $0) }
        }
    }

    // MARK: The lease

    /// Renews the job's lease a few times per lease period on a timer of its own (a long
    /// optimizer step must not look like a crash), and picks up pause and cancel requests: at
    /// least every second, so that a person's request is acted on after the step under way.
    private func startHeartbeat() -> any DispatchSourceTimer {
        let timer = DispatchSource.makeTimerSource(queue: .global())
        let interval = max(0.05, min(1, worker.configuration.leaseSeconds / 4))
        timer.schedule(deadline: .now() + interval, repeating: interval)
        timer.setEventHandler { [self] in
            do {
                let requested = try write { try self.jobs.heartbeat(jobID: self.job.id, worker: self.worker.configuration.identity, now: Date().timeIntervalSince1970, in: $0) }
                lease.requested = requested
            } catch let error as LabelingError where error.kind == .conflict {
                lease.isLost = true
            } catch {
                worker.logger.warning("could not renew a job's lease", metadata: ["job": "\(job.id)", "error": "\(error)"])
            }
        }
        timer.resume()
        return timer
    }

    /// Asked by the trainer between optimizer steps.
    private func shouldStop() -> Bool {
        lease.requested != nil || lease.isLost || failure != nil || worker.isStopping || Date().timeIntervalSince(lastCheckpoint) >= checkpointInterval
    }

    // MARK: Running

    private func execute() throws {
        let parameters = try JobParameters.parse(job.parameters, kind: job.kind)
        checkpointInterval = parameters.checkpointMinutes * 60
        let snapshotCount = try write { try self.jobs.takeSnapshot(jobID: self.job.id, in: $0) }
        if let endpointID = job.endpointId {
            if job.kind == .aiLabels {
                try labelWithEndpoint(endpointID, rubric: parameters.rubric)
            } else {
                try sampleCandidates(fromEndpoint: endpointID, sampling: parameters.sampling ?? CandidateSampling())
            }
            return
        }
        guard let baseModelID = job.baseModelId, let base = try read({ try ModelVersionRepository().find(id: baseModelID, in: $0) }) else {
            throw StorageError("model version \(job.baseModelId.map(String.init) ?? "?"), which the job starts from, is gone")
        }
        if job.kind == .sample || job.kind == .bestOfN {
            try sampleCandidates(from: base, sampling: parameters.sampling ?? CandidateSampling(), bestOf: job.kind == .bestOfN ? parameters.bestOf : 1)
            return
        }
        if job.kind == .rewardEvaluation {
            try evaluateRewardModel(base, maximumLength: parameters.evaluationMaximumLength)
            return
        }
        if job.kind == .aiLabels {
            try labelWithModel(base, rubric: parameters.rubric)
            return
        }
        if job.kind == .selfInstruct {
            try bootstrapPrompts(from: base, options: parameters.selfInstruct ?? SelfInstructOptions())
            return
        }
        if job.kind == .evaluation {
            try answerHeldOutPrompts(with: base, sampling: parameters.sampling ?? CandidateSampling(), opponents: parameters.opponents)
            return
        }
        let reward = try job.rewardModelId.flatMap { id in try read { try ModelVersionRepository().find(id: id, in: $0) } }
        let output = worker.folder(of: job.id)
        let resuming = Self.restoreCheckpoint(in: output)
        let run = try prepare(parameters: parameters, base: base, reward: reward, resumingIn: resuming ? output : nil)
        try note("Snapshot: \(snapshotCount) \(job.kind == .sft ? "demonstrations" : job.kind == .reward || job.kind == .dpo ? "rankings" : "prompts"). " + run.notes.joined(separator: " "))
        // A policy iteration is long: a cancellation, a lost lease or a stopping worker throws
        // the one under way away rather than waiting for its end (a pause waits: its work is kept).
        if let policy = run.trainer as? PolicyTrainer {
            let lease = self.lease, worker = self.worker
            policy.abandonsIteration = { lease.requested == "cancel" || lease.isLost || worker.isStopping }
        }
        if resuming {
            try run.trainer.resume(from: output)
            try note("Resumed from the checkpoint at step \(run.trainer.step) of \(run.trainer.totalSteps).")
        }
        while true {
            lastCheckpoint = Date()
            let finished = try run.trainer.train(progress: report, shouldStop: shouldStop)
            if let failure { throw JobFailure(failure) }
            if lease.isLost { return }
            if finished { break }
            if lease.requested == "cancel" {
                try? FileManager.default.removeItem(atPath: output)
                try write { try self.jobs.finish(id: self.job.id, status: .cancelled, in: $0) }
                return
            }
            try saveCheckpoint(run.trainer, in: output)
            if lease.requested == "pause" {
                try write { try self.jobs.finish(id: self.job.id, status: .paused, in: $0) }
                return
            }
            if worker.isStopping {
                try write { try self.jobs.release(jobID: self.job.id, worker: self.worker.configuration.identity, in: $0) }
                try note("The worker stopped; the checkpoint at step \(run.trainer.step) resumes it.")
                return
            }
        }
        try publish(run, base: base, reward: reward, parameters: parameters, output: output)
    }

    private func prepare(parameters: JobParameters, base: ModelVersion, reward: ModelVersion?, resumingIn output: String?) throws -> StageRun {
        switch job.kind {
        case .sft:
            let examples = try read { try SnapshotExamples.demonstrations(jobID: self.job.id, projectID: self.job.projectId, in: $0) }
            guard !examples.isEmpty else { throw JobFailure("the project has no demonstrations to fine-tune on") }
            return try StageRun.supervised(modelPath: base.checkpointPath, examples: examples, options: parameters.training!, fitsLength: parameters.fitsLength, resumingIn: output)
        case .reward, .dpo:
            let examples = try read { try SnapshotExamples.rankings(jobID: self.job.id, projectID: self.job.projectId, in: $0) }
            guard !examples.isEmpty else { throw JobFailure("the project has no rankings to train on") }
            return job.kind == .reward
                ? try StageRun.reward(modelPath: base.checkpointPath, examples: examples, options: parameters.training!, fitsLength: parameters.fitsLength, resumingIn: output)
                : try StageRun.directPreference(modelPath: base.checkpointPath, examples: examples, options: parameters.training!, fitsLength: parameters.fitsLength, resumingIn: output)
        case .rloo, .grpo, .ppo:
            guard let reward else { throw JobFailure("the reward model the job optimizes against is gone") }
            let prompts = try read { try SnapshotExamples.prompts(jobID: self.job.id, in: $0) }.map(\.example)
            guard !prompts.isEmpty else { throw JobFailure("the project has no prompts to sample answers to") }
            let demonstrations = try read { try SnapshotExamples.demonstrations(jobID: self.job.id, projectID: self.job.projectId, in: $0) }
            return try StageRun.policy(stage: job.kind.rawValue, policyPath: base.checkpointPath, rewardPath: reward.checkpointPath, prompts: prompts,
                                       validationFraction: parameters.validationFraction, options: parameters.policy!, fitsPromptLength: parameters.fitsLength,
                                       demonstrations: demonstrations, resumingIn: output)
        case .sample, .bestOfN, .evaluation, .rewardEvaluation, .selfInstruct, .aiLabels:
            preconditionFailure("sampling and evaluation jobs make no model")
        }
    }

    /// A trainer's report: the step and the metrics in one short write; the samples of an
    /// evaluation beside them.
    func report(_ progress: TrainingProgress) {
        log.append(progress.record)
        let metrics = progress.metrics.map { JobMetric(phase: progress.phase.rawValue, step: progress.step, name: $0.name, value: $0.value) }
        let samples = progress.samples.map { JobSample(step: progress.step, prompt: $0.prompt, answer: $0.answer, reward: Double($0.reward), ended: $0.ended) }
        let seconds = secondsBefore + Date().timeIntervalSince(started)
        do {
            try write { try self.jobs.report(jobID: self.job.id, worker: self.worker.configuration.identity, step: progress.step, totalSteps: progress.totalSteps,
                                              secondsRunning: seconds, metrics: metrics, samples: samples, in: $0) }
        } catch let error as LabelingError where error.kind == .conflict {
            lease.isLost = true
            return
        } catch {
            failure = "\(error)"
            return
        }
        watchForRewardHacking(progress)
    }

    // MARK: The reward-hacking watch

    /// The starting policy's values (the job's first training report), once read.
    private var watchBaseline: [String: Double]?

    /// Checks a policy job's iteration against the project's bounds (read at every iteration, so
    /// a bound set while the job runs applies at once): a crossed bound is raised once per kind,
    /// written to the job's log, and pauses the job when the project says so.
    private func watchForRewardHacking(_ progress: TrainingProgress) {
        guard [.rloo, .grpo, .ppo].contains(job.kind), progress.phase == .training else { return }
        do {
            let metrics = Dictionary(progress.metrics.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
            if watchBaseline == nil {
                // On a resumed job the first report is an earlier attempt's: the SFT policy's.
                let first = try read { try JobAlarmRepository().firstReport(jobID: self.job.id, in: $0) }
                watchBaseline = RewardHackingWatch.baseline(of: first.isEmpty ? metrics : first)
            }
            guard let bounds = try read({ try ProjectRepository().find(id: self.job.projectId, in: $0) })?.rewardHackingBounds, !bounds.isOff else { return }
            for alarm in RewardHackingWatch.alarms(step: progress.step, metrics: metrics, baseline: watchBaseline ?? [:], bounds: bounds) {
                let raised = try write { database -> Bool in
                    guard try JobAlarmRepository().raise(alarm, jobID: self.job.id, in: database) else { return false }
                    try self.jobs.log(jobID: self.job.id, "Reward-hacking alarm: \(alarm.message)" + (bounds.pausesJob ? " The project pauses the job on an alarm." : ""), in: database)
                    if bounds.pausesJob, self.lease.requested == nil { _ = try self.jobs.request("pause", jobID: self.job.id, in: database) }
                    return true
                }
                guard raised else { continue }
                worker.logger.warning("reward-hacking alarm", metadata: ["job": "\(job.id)", "kind": "\(alarm.kind.rawValue)", "step": "\(alarm.step)"])
                if bounds.pausesJob, lease.requested == nil { lease.requested = "pause" }
            }
        } catch {
            worker.logger.warning("the reward-hacking watch could not check an iteration", metadata: ["job": "\(job.id)", "error": "\(error)"])
        }
    }

    // MARK: Checkpoints

    /// Saves beside the job's folder first, then swaps it in, so a crash while saving leaves
    /// the previous checkpoint whole.
    private func saveCheckpoint(_ trainer: any Trainer, in output: String) throws {
        let manager = FileManager.default
        let staging = output + ".saving"
        try? manager.removeItem(atPath: staging)
        try manager.createDirectory(atPath: staging, withIntermediateDirectories: true)
        try trainer.saveCheckpoint(in: staging)
        try manager.createDirectory(atPath: output, withIntermediateDirectories: true)
        let current = CheckpointFolder.path(in: output), previous = current + ".previous"
        try? manager.removeItem(atPath: previous)
        if manager.fileExists(atPath: current) { try manager.moveItem(atPath: current, toPath: previous) }
        try manager.moveItem(atPath: CheckpointFolder.path(in: staging), toPath: current)
        try? manager.removeItem(atPath: previous)
        try? manager.removeItem(atPath: staging)
        try note("Checkpoint saved at step \(trainer.step) of \(trainer.totalSteps).")
    }

    /// Whether `output` holds a checkpoint to resume; one a crash left half swapped in is put back.
    static func restoreCheckpoint(in output: String) -> Bool {
        let manager = FileManager.default
        let current = CheckpointFolder.path(in: output), previous = current + ".previous"
        if !manager.fileExists(atPath: current + "/" + CheckpointFolder.stateFile), manager.fileExists(atPath: previous + "/" + CheckpointFolder.stateFile) {
            try? manager.removeItem(atPath: current)
            try? manager.moveItem(atPath: previous, toPath: current)
        }
        return manager.fileExists(atPath: current + "/" + CheckpointFolder.stateFile)
    }

    // MARK: The end

    /// Finishes the run, writes the model folder, registers the model version with its lineage
    /// and metrics, and closes the loop: a new policy's answers go to the prompts waiting for
    /// rankings.
    private func publish(_ run: StageRun, base: ModelVersion, reward: ModelVersion?, parameters: JobParameters, output: String) throws {
        let final = try run.finish()
        let summary = RunSummary(run: run, base: base.checkpointPath, data: ["job \(job.id) snapshot"], seconds: secondsBefore + Date().timeIntervalSince(started), final: final)
        let log = Data(self.log.map { JSONWriter.string($0) + "\n" }.joined().utf8)
        try OutputFolder.publish({ folder in
            try run.writeModel(to: folder)
            try summary.write(to: folder, log: log)
        }, to: output)
        let digest = try CheckpointDigest.ofFolder(output)
        let job = job
        // Active selection: the new reward model scores what waits in the queue, which is then
        // ordered by its uncertainty (stored with the version, in the same transaction).
        let queueScores = job.kind == .reward ? try scoresForTheQueue(rewardModelFolder: output) : nil
        // The model's check of the labels: a failure leaves the last check in place, never the job failed.
        var labelChecks: [LabelCheck]?
        if job.kind == .reward, parameters.checksLabels, let options = parameters.training {
            do { labelChecks = try self.labelChecks(base: base, options: options) } catch {
                try note("The labels could not be checked by the model, so the last check stays: \(error)")
            }
        }
        let version = try write { database -> ModelVersion in
            let project = try ProjectRepository().find(id: job.projectId, in: database)
            let name = parameters.versionName ?? job.defaultVersionName(projectName: project?.name)
            let counts = try ["demonstration", "ranking", "prompt"].map { kind in
                (kind + "s", JSONValue.integer(Int64(try self.jobs.snapshotIDs(jobID: job.id, itemKind: kind, in: database).count)))
            }
            var lineage: [(String, JSONValue)] = [("job", .integer(Int64(job.id))), ("stage", .string(run.stage)), ("base_model", .string(base.name)),
                                                  ("parameters", job.parameters), ("snapshot", .object(counts))]
            if let reward { lineage.append(("reward_model", .string(reward.name))) }
            let version = try ModelVersionRepository().registerTrained(
                name: name, kind: job.kind.resultKind!, parentID: base.id, projectID: job.projectId, jobID: job.id, architecture: base.architecture,
                checkpointPath: output, checkpointSha256: digest, parameterCount: base.parameterCount, lineage: .object(lineage),
                metrics: .object(final.map { ($0.name, $0.value.isFinite ? .double($0.value) : .null) }), in: database)
            if let queueScores {
                try QueueUncertainty().store(scores: queueScores, modelID: version.id, projectID: job.projectId, in: database)
            }
            if let labelChecks {
                try LabelCheckRepository().store(labelChecks, modelID: version.id, projectID: job.projectId, in: database)
            }
            try self.jobs.finish(id: job.id, status: .succeeded, resultModelID: version.id, in: database)
            if parameters.samplesAfter, version.kind != "reward" {
                _ = try self.jobs.enqueueAutomatic(projectID: job.projectId, kind: .sample, baseModelID: version.id, in: database)
            }
            return version
        }
        worker.logger.info("job succeeded", metadata: ["job": "\(job.id)", "model": "\(version.name)"])
    }

    private func sampleCandidates(from base: ModelVersion, sampling: CandidateSampling, bestOf: Int) throws {
        let project = try currentProject()
        let policy = try PretrainedModel.load(base.checkpointPath)
        guard policy.chatTemplate != nil else { throw JobFailure("model version '\(base.name)' has no chat template, so its answers cannot be sampled") }
        var sampler = CandidateSampler(policy: policy, sampling: sampling, rankingSize: project.rankingSize)
        if bestOf > 1 {
            guard let version = try job.rewardModelId.flatMap({ id in try read { try ModelVersionRepository().find(id: id, in: $0) } }) else {
                throw JobFailure("the reward model that chooses the answers is gone")
            }
            let rewardModel: RewardModel
            do { rewardModel = try RewardModel(contentsOf: version.checkpointPath) } catch { throw JobFailure("reward model '\(version.name)' could not be loaded: \(error)") }
            sampler.bestOf = bestOf
            sampler.rewards = { prompt, answers in try rewardModel.rewards(of: answers.map { (prompt, $0) }) }
        }
        let jobID = job.id
        try fillPrompts(with: sampler, from: base.name + (bestOf > 1 ? ", each the reward model's favourite of \(bestOf)" : "")) { answer in
            var candidate = PromptImporter.candidate(text: answer.text, model: base.name, version: "job-\(jobID)")
            candidate.modelVersionID = base.id
            return candidate
        }
    }

    /// Candidates from a registered OpenAI-compatible endpoint, named by the model it serves and
    /// the exact model its answers say they came from.
    private func sampleCandidates(fromEndpoint endpointID: Int, sampling: CandidateSampling) throws {
        let project = try currentProject()
        guard let (endpoint, apiKey) = try read({ database in
            try ModelEndpointRepository().find(id: endpointID, in: database).map { ($0, try ModelEndpointRepository().apiKey(endpointID: endpointID, in: database)) }
        }) else { throw JobFailure("the endpoint the job asks for answers is gone") }
        guard endpoint.removedAt == nil else { throw JobFailure("endpoint '\(endpoint.name)' was removed at \(endpoint.removedAt!)") }
        let client = ChatCompletionsClient(endpoint: endpoint, apiKey: apiKey, tls: try TLSClientContext())
        let sampler = CandidateSampler(answer: { rows, seed in
            try client.complete(rows, sampling: sampling, seed: seed).map {
                CandidateSampler.Answer(text: $0.text.trimmingCharacters(in: .whitespacesAndNewlines), servedModel: $0.servedModel)
            }
        }, sampling: sampling, rankingSize: project.rankingSize)
        try fillPrompts(with: sampler, from: "endpoint '\(endpoint.name)' (\(endpoint.model) at \(endpoint.baseUrl))") { answer in
            var candidate = PromptImporter.candidate(text: answer.text, model: endpoint.model, version: answer.servedModel ?? endpoint.model)
            candidate.endpointID = endpoint.id
            return candidate
        }
    }

    private func currentProject() throws -> Project {
        guard let project = try read({ try ProjectRepository().find(id: self.job.projectId, in: $0) }) else { throw JobFailure("the project is gone") }
        return project
    }

    /// Gives the snapshot's prompts their answers from `sampler`, eight prompts at a time, each
    /// batch written as it comes: what is written is kept, and on resume the prompts still short
    /// of candidates are sampled. Control characters Tally does not store are taken out of an
    /// answer, and an answer longer than a candidate may be is dropped; both are counted.
    private func fillPrompts(with sampler: CandidateSampler, from source: String, candidate: @escaping (CandidateSampler.Answer) -> NewCandidate) throws {
        let sampling = sampler.sampling
        var prompts = try read { try SnapshotExamples.prompts(jobID: self.job.id, in: $0) }
        if let maximum = sampling.maximumPrompts { prompts = Array(prompts.prefix(maximum)) }
        let batches = stride(from: 0, to: prompts.count, by: 8).map { Array(prompts[$0..<min(prompts.count, $0 + 8)]) }
        try note("Sampling up to \(sampling.answersPerPrompt ?? sampler.rankingSize) answers for each of \(prompts.count) prompts waiting for rankings, from \(source).")
        var added = 0, dropped = 0, unstorable = 0, cleanedCount = 0
        for (index, batch) in batches.enumerated() {
            if try stoppedBetweenBatches() { return }
            let waiting = batch.map { CandidateSampler.Prompt(id: $0.id, messages: $0.example.prompt, existingAnswers: $0.candidates) }
            let answers = try sampler.sample(waiting, seed: sampling.seed &+ UInt64(index))
            let wanted = waiting.reduce(0) { $0 + max(0, sampler.wanted($1)) }
            // A control character Tally does not store (`StoredText`) is taken out of the
            // answer; an answer longer than a candidate may be is dropped.
            let cleaned = answers.map { $0.map { answer in
                guard StoredText.forbiddenCharacter(in: answer.text) != nil else { return answer }
                cleanedCount += 1
                var clean = answer
                clean.text = String(String.UnicodeScalarView(answer.text.unicodeScalars.filter { !StoredText.isForbidden($0) }))
                return clean
            } }
            let storable = cleaned.map { $0.filter { !$0.text.isEmpty && TextLimits.problem($0.text, limit: TextLimits.content) == nil } }
            let kept = answers.reduce(0) { $0 + $1.count }, keptStorable = storable.reduce(0) { $0 + $1.count }
            let stored = try write { database in
                try zip(waiting, storable).reduce(0) { total, pair in total + (try PromptRepository().addCandidates(pair.1.map(candidate), promptID: pair.0.id, in: database)) }
            }
            added += stored
            dropped += wanted - kept
            unstorable += kept - keptStorable
            report(TrainingProgress(phase: .training, step: index + 1, totalSteps: batches.count, epoch: Double(index + 1) / Double(batches.count),
                                    elapsedSeconds: Date().timeIntervalSince(started),
                                    metrics: [("candidates_added", Double(added)), ("duplicates_dropped", Double(dropped))]))
            if let failure { throw JobFailure(failure) }
        }
        try note("Added \(added) candidates; dropped \(dropped) answers as exact or near duplicates (ROUGE-L of at least \(CandidateSampler.nearDuplicate))"
                 + (unstorable > 0 ? " and \(unstorable) longer than \(TextLimits.content) characters or empty once control characters were taken out" : "")
                 + (cleanedCount > 0 ? "; took control characters out of \(cleanedCount)." : "."))
        try write { try self.jobs.finish(id: self.job.id, status: .succeeded, in: $0) }
    }

    // MARK: Helpers

    /// Between two batches of a sampling or evaluation job (which keep what they have written,
    /// and on resume do only what is left): acts on a lost lease, a cancel or pause request or
    /// the worker stopping, and says whether the job must stop here.
    func stoppedBetweenBatches() throws -> Bool {
        if lease.isLost { return true }
        guard lease.requested == "cancel" || lease.requested == "pause" || worker.isStopping else { return false }
        let status: JobStatus = lease.requested == "cancel" ? .cancelled : .paused
        try write { database in
            if self.worker.isStopping, self.lease.requested == nil {
                try self.jobs.release(jobID: self.job.id, worker: self.worker.configuration.identity, in: database)
            } else {
                try self.jobs.finish(id: self.job.id, status: status, in: database)
            }
        }
        return true
    }

    func note(_ line: String) throws {
        try write { try self.jobs.log(jobID: self.job.id, line, in: $0) }
    }

    func write<T>(_ body: (Database) throws -> T) throws -> T { try worker.database.write(body) }
    func read<T>(_ body: (Database) throws -> T) throws -> T { try worker.database.read(body) }
}

/// What the heartbeat timer learns, read by the worker's thread between steps.
private final class Lease: @unchecked Sendable {
    private let lock = NSLock()
    private var requestedValue: String?
    private var lostValue = false
    var requested: String? {
        get { lock.withLock { requestedValue } }
        set { lock.withLock { requestedValue = newValue } }
    }
    var isLost: Bool {
        get { lock.withLock { lostValue } }
        set { lock.withLock { lostValue = newValue } }
    }
}

/// Why a job cannot go on, in words for the researcher.
struct JobFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
