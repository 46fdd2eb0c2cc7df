import Foundation
import Testing
import EmberTestSupport
@testable import EmberCLI
@testable import EmberData

/// Seeded mutation fuzzing of every parser that reads input from outside: each of a few hundred mutated inputs must
/// give a value or a thrown error, never a trap (a trap would end the test process). Bounded and fast; no timing.
@Suite(.serialized) struct FuzzTests {
    static let rounds = 300

    @Test func csv() throws {
        let dir = tempDirectory("fuzz-csv")
        let seed = Array("a,b,label\n1.5,2,x\n\"3,4\",-1e3,y\n,nan,x\n7,8,\"q\"\"r\"\n".utf8)
        var m = Mutator(state: 1)
        let url = dir.appendingPathComponent("f.csv")
        for _ in 0..<Self.rounds {
            try Data(m.mutate(seed)).write(to: url)
            for task in [TaskKind.classification, .regression] {
                _ = try? DataReader.read(DataSource(format: .csv, path: url.path), task: task, classes: nil, missingAllowed: m.below(2) == 0)
            }
            if let t = try? CSVTable(path: url.path) { _ = try? t.tensor(); _ = try? t.classLabels(column: t.columnNames.last ?? "") }
        }
    }

    @Test func idx() throws {
        let dir = tempDirectory("fuzz-idx")
        var seeds: [[UInt8]] = [[0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2] + Array(0..<8),
                                [0, 0, 0x0D, 1, 0, 0, 0, 3]]
        for v: Float in [0, 1, 2] { seeds[1] += withUnsafeBytes(of: v.bitPattern.bigEndian, Array.init) }
        var m = Mutator(state: 2)
        let url = dir.appendingPathComponent("f-idx1-ubyte")
        let images = dir.appendingPathComponent("images-idx3-ubyte")
        writeIDX([UInt8](repeating: 1, count: 3 * 2 * 2), shape: [3, 2, 2], to: images)
        for i in 0..<Self.rounds {
            try Data(m.mutate(seeds[i % 2])).write(to: url)
            if let a = try? IDXReader.read(path: url.path) { _ = a.tensor(dtype: .float32); _ = a.doubles() }
            _ = try? DataReader.read(DataSource(format: .idx, path: images.path, targets: url.path), task: .classification, classes: nil)
            _ = try? DataReader.read(DataSource(format: .idx, path: url.path, targets: url.path), task: .regression, classes: nil)
        }
    }

    @Test func npy() throws {
        let dir = tempDirectory("fuzz-npy")
        let seeds = [Array(npyFile(descr: "<f8", shape: [3], bytes: float64Bytes([0, 1, 2]))),
                     Array(npyFile(descr: "<i8", shape: [3, 1], bytes: int64Bytes([0, 1, 1])))]
        var m = Mutator(state: 3)
        let url = dir.appendingPathComponent("f.npy"), xs = dir.appendingPathComponent("x.npy")
        try npyFile(descr: "<f8", shape: [3, 2], bytes: float64Bytes([0, 1, 2, 3, 4, 5])).write(to: xs)
        for i in 0..<Self.rounds {
            let bytes = m.mutate(seeds[i % 2])
            if let a = try? NPYArray(bytes: bytes, file: "fuzz.npy") { _ = try? a.tensor() }
            try Data(bytes).write(to: url)
            _ = try? DataReader.read(DataSource(format: .npy, path: xs.path, targets: url.path), task: .classification, classes: nil)
            _ = try? DataReader.read(DataSource(format: .npy, path: url.path, targets: xs.path), task: .regression, classes: nil)
        }
    }

    @Test func configs() throws {
        let seeds = [Array(quickDigitsConfig.utf8), Array(ResourceLimitTests.aliasBomb.utf8),
                     Array(#"{"data": {"dataset": "iris"}, "model": {"layers": [{"linear": {"out": 8}}, "relu", {"dropout": 0.1}, {"linear": 3}]}}"#.utf8)]
        var m = Mutator(state: 4)
        for i in 0..<Self.rounds {
            let text = String(decoding: m.mutate(seeds[i % seeds.count]), as: UTF8.self)
            if let c = try? ExperimentConfig.parse(text, file: "fuzz.yaml") {
                // What a run does with a config before training: resolve the model for the data's shape.
                _ = try? TrainRunner.makeArchitecture(c, input: c.data.shape ?? [64], outputs: 10)
            }
            _ = try? ExperimentConfig.parse(quickDigitsConfig, overrides: ["training.x=" + text])
        }
    }

    @Test func modelFiles() throws {
        let run = try HostileInputTests.finished.get()
        let dir = tempDirectory("fuzz-model").appendingPathComponent("run")
        try FileManager.default.copyItem(at: run, to: dir)
        let json = dir.appendingPathComponent("model.json")
        let seed = Array(try Data(contentsOf: json))
        var m = Mutator(state: 5)
        for _ in 0..<Self.rounds {
            try Data(m.mutate(seed)).write(to: json)
            if let loaded = try? SavedModel.load(from: dir.path) {
                _ = try? loaded.outputs(raw: Tensor.zeros([2] + loaded.saved.input.rawShape))
                _ = try? InspectRunner.run(model: dir.path, json: true, console: CapturedConsole().console)
            }
        }
    }
}
