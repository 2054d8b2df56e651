import Foundation
import JSON
import TransformerCore

/// What resuming needs beside the model's weights: the optimizer's moments and step, and where
/// in the seeded data order the run stopped. Written to `checkpoint/` inside the output folder
/// when a run is interrupted; `--resume` continues from it exactly (same data order, same
/// learning rate, same moments).
/// `Options` is the stage's options (`TrainingOptions` or `PolicyOptions`): a run resumes only
/// with the options it began with.
struct TrainingCheckpoint<Options: Codable & Equatable> {
    var step: Int
    var bestValidationLoss: Double?
    var options: Options
    /// What else a stage carries from step to step (the adaptive KL coefficient), by name.
    var scalars: [String: Double] = [:]

    /// Writes the optimizer state and trainer state into `folder` (the weights go beside them).
    static func save(_ state: TrainingCheckpoint, optimizers: [(name: String, optimizer: AdamW)], to folder: String) throws {
        var tensors: [SafeTensorsWriter.Tensor] = []
        var metadata: [String: String] = [:]
        for (name, optimizer) in optimizers {
            tensors.append(SafeTensorsWriter.Tensor(name: name + ".first_moment", shape: [optimizer.firstMoment.count], values: UnsafeBufferPointer(optimizer.firstMoment.buffer)))
            tensors.append(SafeTensorsWriter.Tensor(name: name + ".second_moment", shape: [optimizer.secondMoment.count], values: UnsafeBufferPointer(optimizer.secondMoment.buffer)))
            metadata[name + ".step"] = String(optimizer.step)
        }
        try SafeTensorsWriter.write(tensors, metadata: metadata, to: folder + "/" + CheckpointFolder.optimizerFile)
        var fields: [(String, JSONValue)] = [("step", .integer(Int64(state.step)))]
        if let best = state.bestValidationLoss { fields.append(("best_validation_loss", .double(best))) }
        let options = try JSONValueEncoder().encodeToValue(state.options)
        fields.append(("options", options))
        if !state.scalars.isEmpty { fields.append(("scalars", .object(state.scalars.sorted { $0.key < $1.key }.map { ($0.key, .double($0.value)) }))) }
        var bytes: [UInt8] = []
        JSONWriter.write(.object(fields), into: &bytes)
        do { try Data(bytes).write(to: URL(fileURLWithPath: folder + "/" + CheckpointFolder.stateFile), options: .atomic) } catch {
            throw CheckpointError("\(folder)/\(CheckpointFolder.stateFile): cannot write (\(error.localizedDescription))")
        }
    }

    /// Reads a checkpoint's state and restores each optimizer's moments.
    static func load(from folder: String, optimizers: [(name: String, optimizer: AdamW)]) throws -> TrainingCheckpoint {
        let path = folder + "/" + CheckpointFolder.stateFile
        guard let data = FileManager.default.contents(atPath: path) else { throw CheckpointError("\(path): cannot read the trainer state; is this a checkpoint folder?", kind: .unreadable) }
        guard let value = try? JSONParser.parse(Array(data)), case .integer(let step)? = value["step"], let optionsValue = value["options"] else {
            throw CheckpointError("\(path): not a trainer state (step and options)")
        }
        let options: Options
        do { options = try JSONValueDecoder().decode(Options.self, from: optionsValue) } catch { throw CheckpointError("\(path): options: \(error)") }
        var best: Double?
        switch value["best_validation_loss"] {
        case .double(let number)?: best = number
        case .integer(let number)?: best = Double(number)
        default: best = nil
        }
        var scalars: [String: Double] = [:]
        if case .object(let members)? = value["scalars"] {
            for (name, member) in members {
                switch member {
                case .double(let number): scalars[name] = number
                case .integer(let number): scalars[name] = Double(number)
                default: throw CheckpointError("\(path): scalars.\(name) must be a number")
                }
            }
        }
        let file = try SafeTensorsFile(path: folder + "/" + CheckpointFolder.optimizerFile)
        for (name, optimizer) in optimizers {
            guard let stepText = file.metadata[name + ".step"], let optimizerStep = Int(stepText) else { throw CheckpointError("\(file.path): no step for '\(name)'") }
            try optimizer.restore(step: optimizerStep, firstMoment: try file.floats(name + ".first_moment"), secondMoment: try file.floats(name + ".second_moment"))
        }
        return TrainingCheckpoint(step: Int(step), bestValidationLoss: best, options: options, scalars: scalars)
    }
}

/// Where an interrupted run's checkpoint lies inside its output folder, and its files.
public enum CheckpointFolder {
    public static let name = "checkpoint"
    public static let stateFile = "trainer_state.json"
    static let optimizerFile = "optimizer.safetensors"

    public static func path(in output: String) -> String { output + "/" + name }
}
