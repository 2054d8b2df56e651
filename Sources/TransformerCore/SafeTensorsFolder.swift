import Foundation
import JSON

/// The weights of a Hugging Face folder: one `model.safetensors`, or the shards that
/// `model.safetensors.index.json` lists (models above a few gigabytes are saved so). The
/// index's `weight_map` names the shard of every tensor; each shard must hold the tensors the
/// map gives it, and a shard's name must be a file inside the folder.
struct SafeTensorsFolder {
    /// The shards by file name.
    private let shards: [String: SafeTensorsFile]
    /// Each tensor's shard file name.
    private let shardOfTensor: [String: String]
    /// The single file's or the index's path, for errors about the weights as a whole.
    let path: String

    static let singleFileName = "model.safetensors"
    static let indexFileName = "model.safetensors.index.json"

    init(directory: String) throws {
        let single = directory + "/" + Self.singleFileName, indexPath = directory + "/" + Self.indexFileName
        if FileManager.default.fileExists(atPath: single) {
            let file = try SafeTensorsFile(path: single)
            shards = [Self.singleFileName: file]
            shardOfTensor = Dictionary(uniqueKeysWithValues: file.tensors.keys.map { ($0, Self.singleFileName) })
            path = single
            return
        }
        guard let data = FileManager.default.contents(atPath: indexPath) else {
            throw CheckpointError("\(directory): has neither \(Self.singleFileName) nor \(Self.indexFileName)")
        }
        let index: JSONValue
        do { index = try JSONParser.parse(Array(data)) } catch { throw CheckpointError("\(indexPath): not valid JSON (\(error))") }
        guard case .object(let fields) = index, case .object(let map)? = fields.first(where: { $0.0 == "weight_map" })?.1 else {
            throw CheckpointError("\(indexPath): expected an object with a 'weight_map' of tensor name to shard file")
        }
        var shardOfTensor: [String: String] = [:]
        for (tensor, value) in map {
            guard case .string(let shard) = value else { throw CheckpointError("\(indexPath): weight_map['\(tensor)'] is not a file name") }
            guard !shard.isEmpty, !shard.contains("/"), shard != ".", shard != ".." else {
                throw CheckpointError("\(indexPath): weight_map['\(tensor)'] is '\(shard)', not the name of a file in the folder")
            }
            shardOfTensor[tensor] = shard
        }
        var shards: [String: SafeTensorsFile] = [:]
        for shard in Set(shardOfTensor.values).sorted() {
            let path = directory + "/" + shard
            guard FileManager.default.fileExists(atPath: path) else { throw CheckpointError("\(indexPath): lists the shard '\(shard)', which is missing") }
            shards[shard] = try SafeTensorsFile(path: path)
        }
        for (tensor, shard) in shardOfTensor.sorted(by: { $0.key < $1.key }) where shards[shard]?.tensors[tensor] == nil {
            throw CheckpointError("\(directory)/\(shard): holds no tensor '\(tensor)', which \(Self.indexFileName) places there")
        }
        self.shards = shards
        self.shardOfTensor = shardOfTensor
        path = indexPath
    }

    var tensorNames: Set<String> { Set(shardOfTensor.keys) }

    /// The file holding `name`; an error naming the weights when none does.
    func file(holding name: String) throws -> SafeTensorsFile {
        guard let shard = shardOfTensor[name], let file = shards[shard] else { throw CheckpointError("\(path): no tensor named '\(name)'") }
        return file
    }
}
