import Foundation
import Testing
import EmberTestSupport
@testable import EmberCLI

/// The message of the error `body` throws (nil when it throws none).
func errorMessage(_ body: () throws -> Void) -> String? {
    do { try body(); return nil } catch { return "\(error)" }
}

/// What the tester's hostile configs, data files and model files now get: errors naming the file and the place,
/// never a trap.
@Suite(.serialized) struct HostileInputTests {
    /// One small finished run whose model.json the tests below tamper with (each in a copy).
    static let finished: Result<URL, Error> = Result {
        let dir = tempDirectory("hostile")
        let config = write(tinyDigitsConfig, "tiny.yaml", in: dir)
        return try TrainRunner.run(trainOptions(config, dir: dir.appendingPathComponent("run")), console: CapturedConsole().console).runDirectory
    }

    /// A copy of the finished run with `edit` applied to its model.json (as a JSON object).
    func tampered(_ edit: (inout [String: Any]) -> Void) throws -> URL {
        let src = try Self.finished.get()
        let dir = tempDirectory("tampered").appendingPathComponent("run")
        try FileManager.default.copyItem(at: src, to: dir)
        let url = dir.appendingPathComponent("model.json")
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        edit(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: url)
        return dir
    }

    @Test func modelFilesAreValidatedBeforeUse() throws {
        func layers(_ l: [[String: Any]], input: [Int] = [64]) -> (inout [String: Any]) -> Void {
            { j in j["architecture"] = ["inputShape": input, "layers": l] }
        }
        let linear10: [String: Any] = ["type": "linear", "in": 64, "out": 10]
        let cases: [(String, (inout [String: Any]) -> Void, String)] = [
            ("negative size", layers([["type": "linear", "in": 64, "out": -5]]),
             "architecture.layers[0]: linear `out` must be an integer in 1...16777216, got -5"),
            ("stride 0", layers([["type": "maxpool2d", "kernel": [2, 2], "stride": [0, 0]], ["type": "flatten"], ["type": "linear", "in": 16, "out": 10]], input: [1, 8, 8]),
             "architecture.layers[0]: maxpool2d `stride` must be an integer in 1...16777216, got 0"),
            ("empty kernel", layers([["type": "conv2d", "in": 1, "out": 2, "kernel": [Int]()], ["type": "flatten"]], input: [1, 8, 8]),
             "architecture.layers[0]: conv2d `kernel` must be two integers [height, width], got []"),
            ("dropout 2", layers([["type": "dropout", "p": 2], linear10]),
             "architecture.layers[0]: dropout `p` must be a probability in [0, 1), got 2.0"),
            ("unknown layer", layers([["type": "transformer"], linear10]),
             "architecture.layers[0]: unknown layer type \"transformer\""),
            ("sizes that do not fit", layers([["type": "linear", "in": 63, "out": 10]]),
             "architecture.layers[0]: `in` is 63 but the input has 64 (shape [64])"),
            ("too many classes", { j in j["classes"] = (0...10).map(String.init) },
             "classes: 11 class names, but the model outputs [10] per example"),
            ("too few classes", { j in j["classes"] = ["0", "1"] }, "classes: 2 class names, but the model outputs [10] per example"),
            ("version 99", { j in j["version"] = 99 }, "version: this ember reads model files of version 1, got 99 (written by a newer ember)"),
            ("huge model", layers([["type": "linear", "in": 64, "out": 16_000_000], ["type": "linear", "in": 16_000_000, "out": 10]]),
             "architecture.layers[0]: the model would have more than 268,435,456 parameters"),
            ("overflowing shape", layers([["type": "flatten"], linear10], input: [1 << 40, 1 << 40]), "architecture.inputShape: expected an input shape"),
        ]
        for (name, edit, message) in cases {
            let dir = try tampered(edit)
            let json = dir.appendingPathComponent("model.json").path
            for action in [{ _ = try SavedModel.load(from: dir.path) },
                           { _ = try InspectRunner.run(model: dir.path, json: true, console: CapturedConsole().console) }] {
                let got = errorMessage(action)
                #expect(got?.hasPrefix("\(json): \(message)") == true, "\(name): \(got ?? "no error")")
            }
        }
    }

    @Test func labelsMustBeWholeClassNumbers() throws {
        let dir = tempDirectory("labels")
        let xs = dir.appendingPathComponent("x.npy")
        try npyFile(descr: "<f8", shape: [4, 2], bytes: float64Bytes([0, 1, 1, 0, 0, 0, 1, 1])).write(to: xs)
        let bad: [(String, [UInt8], String)] = [
            ("<f8", float64Bytes([0, 1, .nan, 1]), "record 2: expected a class label: a whole number in 0..<100000, found NaN"),
            ("<f8", float64Bytes([0, .infinity, 0, 1]), "record 1: expected a class label: a whole number in 0..<100000, found inf"),
            ("<f8", float64Bytes([0, 1, 1e30, 1]), "record 2: expected a class label: a whole number in 0..<100000, found 1e+30"),
            ("<f8", float64Bytes([0, 2.5, 1, 1]), "record 1: expected a class label: a whole number in 0..<100000, found 2.5"),
            ("<i8", int64Bytes([0, 1, Int64.max, 1]), "record 2: expected a class label in 0..<100000, found 9223372036854775807"),
            ("<i8", int64Bytes([0, 100_000, 1, 1]), "record 1: expected a class label in 0..<100000, found 100000"),
            ("<i8", int64Bytes([0, -1, 1, 1]), "record 1: expected a class label in 0..<100000, found -1"),
        ]
        for (i, (descr, bytes, message)) in bad.enumerated() {
            let ys = dir.appendingPathComponent("y\(i).npy")
            try npyFile(descr: descr, shape: [4], bytes: bytes).write(to: ys)
            let source = DataSource(format: .npy, path: xs.path, targets: ys.path)
            let got = errorMessage { _ = try DataReader.read(source, task: .classification, classes: nil) }
            #expect(got == "\(ys.path), \(message)", "case \(i)")
        }
        // IDX float labels (type 0x0D, big-endian).
        let idx = dir.appendingPathComponent("labels-idx1-ubyte")
        var bytes: [UInt8] = [0, 0, 0x0D, 1, 0, 0, 0, 4]
        for v: Float in [0, 1, .nan, 1] { bytes += withUnsafeBytes(of: v.bitPattern.bigEndian, Array.init) }
        try Data(bytes).write(to: idx)
        let images = dir.appendingPathComponent("images-idx3-ubyte")
        writeIDX([UInt8](repeating: 7, count: 4 * 2 * 2), shape: [4, 2, 2], to: images)
        let got = errorMessage {
            _ = try DataReader.read(DataSource(format: .idx, path: images.path, targets: idx.path), task: .classification, classes: nil)
        }
        #expect(got == "\(idx.path), record 2: expected a class label: a whole number in 0..<100000, found NaN")
        // Good labels still read; a test file's label beyond the training classes names its record.
        let ok = dir.appendingPathComponent("ok.npy")
        try npyFile(descr: "<f8", shape: [4], bytes: float64Bytes([0, 1, 2, 1])).write(to: ok)
        let read = try DataReader.read(DataSource(format: .npy, path: xs.path, targets: ok.path), task: .classification, classes: nil)
        #expect(read.classNames == ["0", "1", "2"] && read.labels == [0, 1, 2, 1])
        #expect(errorMessage { _ = try DataReader.read(DataSource(format: .npy, path: xs.path, targets: ok.path), task: .classification, classes: ["a", "b"]) }
                == "\(ok.path), record 2: expected one of the 2 training classes (0..<2), found 2")
    }

    @Test func csvCellsAreCheckedAndNamed() throws {
        let dir = tempDirectory("csvcells")
        func read(_ text: String, task: TaskKind = .classification, missing: Bool = false) -> String? {
            let path = write(text, "d\(UUID().uuidString.prefix(6)).csv", in: dir)
            return errorMessage { _ = try DataReader.read(DataSource(format: .csv, path: path), task: task, classes: nil, missingAllowed: missing) }
                .map { $0.replacingOccurrences(of: path, with: "FILE") }
        }
        #expect(read("a,b,y\n1,2,0\n3,inf,1\n") == "FILE, line 3, column 'b': expected a finite number, found inf")
        #expect(read("a,b,y\n1,2,0\n3,4,1\n-inf,1,0\n") == "FILE, line 4, column 'a': expected a finite number, found -inf")
        #expect(read("a,b,y\n1,2,0\n3,,1\n")?.hasPrefix("FILE, line 3, column 'b': expected a value (missing values need an imputation step") == true)
        #expect(read("a,b,y\n1,2,0\n3,,1\n", missing: true) == nil)
        // One bad cell no longer drops the column silently; a NUL inside a number is not a shorter number.
        #expect(read("a,b,y\n1,2,0\n3,abc,1\n5,6,0\n") == "FILE, line 3, column 'b': expected a number (the column's other values are numbers), found \"abc\"")
        #expect(read("a,b,y\n1,2,0\n3,4\u{0}5,1\n") == "FILE, line 3, column 'b': expected a number (the column's other values are numbers), found \"4\\u00005\"")
        #expect(read("a,b,y\n1,2,0.5\n3,4,inf\n", task: .regression) == "FILE, line 3, column 'y': expected a finite target value, found inf")
        #expect(read("") == "FILE: no data rows")
        // Text columns that hold no numbers are still left out (an id or a name column).
        #expect(read("name,a,y\nx,1,0\nz,2,1\n") == nil)
    }

    @Test func evaluateWithAnEmptyFileIsAnError() throws {
        let run = try Self.finished.get()
        let empty = write("", "empty.csv", in: run.deletingLastPathComponent())
        var o = EvaluateOptions(model: run.path)
        o.data = empty
        #expect(throws: CLIError("--data \(empty): no data rows")) { try EvaluateRunner.run(o, console: CapturedConsole().console) }
    }

    @Test func hugeSizesInConfigsAreConfigErrors() throws {
        let base = "data: {dataset: digits}\nmodel: {preset: mlp}\n"
        #expect(configError(base, overrides: ["data.shape=[4611686018427387904, 1]"])?
            .hasSuffix("data.shape[0]: expected an integer of at most 16777216, got 4611686018427387904") == true)
        #expect(configError(base, overrides: ["data.shape=[16777216, 16777216]"])?
            .hasSuffix("data.shape: expected a shape of at most 268435456 values in all, got a list") == true)
        #expect(configError(base, overrides: ["training.epochs=9223372036854775807"])?
            .hasSuffix("training.epochs: expected an integer of at most 1000000, got 9223372036854775807") == true)
        #expect(configError(base, overrides: ["model.options.hidden=[4611686018427387904]"])?
            .hasSuffix("model.options.hidden[0]: expected an integer of at most 2147483647, got 4611686018427387904") == true)
        #expect(configError(base, overrides: ["training.seed=18446744073709551615"]) != nil)   // beyond Int: a clear error, not a trap
        // Sizes that parse but make a model too large: an error before anything is allocated.
        let dir = tempDirectory("huge")
        for (i, (model, message)) in [
            ("{preset: mlp, options: {hidden: [16000000]}}", "the model would have more than 268,435,456 parameters"),
            ("{layers: [{linear: 16777216}, {linear: 16777216}]}", "the model would have more than 268,435,456 parameters"),
            ("{layers: [{adaptive_avgpool2d: 16777216}, flatten, {linear: 10}]}", "adaptive_avgpool2d would output [1, 16777216, 16777216] per example"),
        ].enumerated() {
            let path = write("data: {dataset: digits, shape: [1, 8, 8]}\nmodel: \(model)\n", "h\(i).yaml", in: dir)
            let got = errorMessage { _ = try TrainRunner.run(trainOptions(path, dir: dir.appendingPathComponent("r\(i)")), console: CapturedConsole().console) }
            #expect(got?.contains(message) == true, "\(i): \(got ?? "no error")")
        }
    }

    @Test func aDirectoryGivenAsTheConfigIsNamedSo() throws {
        let dir = tempDirectory("cfgdir")
        var o = TrainOptions()
        o.configPath = dir.path
        #expect(throws: CLIError("config file \(dir.path) is a directory; expected a YAML or JSON file")) { try TrainRunner.loadConfig(o) }
    }
}

/// Command lines as users type them (the built binary).
@Suite(needs(emberBinary != nil, "the ember executable is not built next to the test bundle (`swift build --build-tests` builds it)"))
struct HostileCommandLineTests {
    @Test func negativeAndHugeNumbersNameTheOption() throws {
        let dir = tempDirectory("argv")
        for (args, message) in [(["train", "--epochs", "-5"], "Error: --epochs must be a positive integer, got -5"),
                                (["train", "--batch-size", "0"], "Error: --batch-size must be a positive integer, got 0"),
                                (["train", "--threads", "99999999999"], "Error: --threads must be at most 4096, got 99999999999"),
                                (["train", "--lr", "-0.1"], "Error: --lr must be a positive number, got -0.1"),
                                (["train", "--epochs", "9223372036854775807"], "Error: --epochs must be at most 1000000, got 9223372036854775807"),
                                (["train", "--run-dir", ""], "Error: --run-dir: expected a directory path, got an empty string"),
                                (["predict", "run", "x.csv", "--limit", "-3"], "Error: --limit must be a positive integer, got -3")] {
            let r = try runEmber(args, in: dir)
            #expect(r.status != 0 && r.err.hasPrefix(message), "\(args): \(r.err)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("runs").path))
    }
}
