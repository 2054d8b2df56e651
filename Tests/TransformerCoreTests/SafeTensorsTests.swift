import Foundation
import TallyTestSupport
import Testing
@testable import TransformerCore

@Suite("safetensors")
struct SafeTensorsTests {
    private func temporaryPath(_ name: String) -> String {
        TemporaryFiles.path("tally-safetensors") + "-" + name
    }

    @Test func roundTripsAModelCheckpoint() throws {
        let model = try GPT2Model(configuration: GPT2Configuration(vocabularySize: 11, contextLength: 8, width: 8, layerCount: 1, headCount: 2))
        model.initializeParameters(seed: 1)
        let path = temporaryPath("model.safetensors")
        let tensors = model.layout.tensors.map { tensor in
            SafeTensorsWriter.Tensor(name: tensor.name, shape: tensor.shape, values: UnsafeBufferPointer(model.parameters[tensor.range]))
        }
        try SafeTensorsWriter.write(tensors, metadata: ["format": "pt"], to: path)
        let file = try SafeTensorsFile(path: path)
        #expect(file.metadata == ["format": "pt"])
        for tensor in model.layout.tensors {
            #expect(file.tensors[tensor.name]?.shape == tensor.shape)
            #expect(try file.floats(tensor.name) == Array(model.parameters[tensor.range]))
        }
        // The data section starts 8-byte aligned.
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let headerLength = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect((8 + headerLength) % 8 == 0)
    }

    private func file(header: String, dataBytes: Int = 0) -> Data {
        var data = Data()
        var length = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &length) { data.append(contentsOf: $0) }
        data.append(contentsOf: header.utf8)
        data.append(contentsOf: [UInt8](repeating: 0, count: dataBytes))
        return data
    }

    @Test(arguments: [
        (#"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}"#, 4, "outside the file"),
        (#"{"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}"#, 8, "needs 12 bytes"),
        (#"{"a": {"dtype": "Q4", "shape": [2], "data_offsets": [0, 8]}}"#, 8, "does not read"),
        (#"{"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}"#, 8, "invalid shape"),
        (#"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#, 8, "overlap"),
        (#"{"a": "#, 0, "not valid JSON"),
        (#"[1, 2]"#, 0, "not a JSON object"),
    ])
    func refusesCorruptFilesWithAClearError(header: String, dataBytes: Int, reason: String) {
        #expect {
            try SafeTensorsFile(data: file(header: header, dataBytes: dataBytes), path: "model.safetensors")
        } throws: { error in
            "\(error)".contains(reason) && "\(error)".contains("model.safetensors")
        }
    }

    @Test func refusesTruncatedFiles() throws {
        #expect { try SafeTensorsFile(data: Data([1, 2, 3]), path: "tiny.safetensors") } throws: { "\($0)".contains("too short") }
        var data = file(header: #"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}"#, dataBytes: 8)
        data = data.prefix(20)
        #expect { try SafeTensorsFile(data: data, path: "cut.safetensors") } throws: { "\($0)".contains("truncated") }
    }

    @Test func readsHalfPrecisionAndBFloat16() throws {
        // 1.5 in float16 is 0x3E00; in bfloat16 it is 0x3FC0.
        var data = file(header: #"{"h": {"dtype": "F16", "shape": [1], "data_offsets": [0, 2]}, "b": {"dtype": "BF16", "shape": [1], "data_offsets": [2, 4]}}"#)
        data.append(contentsOf: [0x00, 0x3E, 0xC0, 0x3F])
        let file = try SafeTensorsFile(data: data, path: "half.safetensors")
        #expect(try file.floats("h") == [1.5])
        #expect(try file.floats("b") == [1.5])
    }

    @Test func missingTensorIsNamed() throws {
        let file = try SafeTensorsFile(data: file(header: "{}"), path: "empty.safetensors")
        #expect { try file.floats("transformer.wte.weight") } throws: { "\($0)".contains("no tensor named 'transformer.wte.weight'") }
    }
}
