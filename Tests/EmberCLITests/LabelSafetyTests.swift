import Foundation
import Testing
import EmberTestSupport
@testable import EmberCLI

/// Writes 12 examples of 3 features and `labels` as .npy files plus a config training on them (the test part from
/// `testLabels` when given); returns the config path.
func labelledNPY(_ labels: [UInt8], descr: String, testLabels: [Int64]? = nil, in dir: URL) throws -> String {
    let n = labels.count / (descr.hasSuffix("8") ? 8 : 4)
    let x = (0..<(n * 3)).map { Float($0 % 7) - 3 }
    let xb = x.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
    try npyFile(descr: "<f4", shape: [n, 3], bytes: xb).write(to: dir.appendingPathComponent("x.npy"))
    try npyFile(descr: descr, shape: [n], bytes: labels).write(to: dir.appendingPathComponent("y.npy"))
    var test = ""
    if let testLabels {
        try npyFile(descr: "<f4", shape: [testLabels.count, 3], bytes: Array(xb.prefix(testLabels.count * 12))).write(to: dir.appendingPathComponent("tx.npy"))
        try npyFile(descr: "<i8", shape: [testLabels.count], bytes: testLabels.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) })
            .write(to: dir.appendingPathComponent("ty.npy"))
        test = ", test: {inputs: \(dir.path)/tx.npy, targets: \(dir.path)/ty.npy}"
    }
    return write("""
        data: {train: {inputs: \(dir.path)/x.npy, targets: \(dir.path)/y.npy}\(test), split: {\(testLabels == nil ? "test: 0.25, " : "")validation: 0}}
        model: {preset: mlp, options: {hidden: [4]}}
        training: {optimizer: {name: sgd, lr: 0.1}, batch_size: 4, epochs: 1}
        """, "labels.yaml", in: dir)
}


/// Class labels from files that a model cannot be trained on are clear errors (exit status 1 from the binary),
/// not a crash in a conversion, an overflow or a loss.
@Suite(.serialized) struct LabelSafetyTests {
    func trainError(_ config: String, _ dir: URL) -> String? {
        do {
            _ = try TrainRunner.run(trainOptions(config, dir: dir.appendingPathComponent("run")), console: CapturedConsole().console)
            return nil
        } catch { return "\(error)" }
    }

    @Test func labelsThatAreNotClassIndices() throws {
        let base: [Float] = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2]
        for (bad, shown) in [(Float(2.5), "2.5"), (1e30, "1.0000000150474662e+30"), (-.infinity, "-inf"), (.nan, "NaN")] {
            let dir = tempDirectory("labels")
            var v = base
            v[3] = bad
            let config = try labelledNPY(float32Bytes(v), descr: "<f4", in: dir)
            #expect(trainError(config, dir) == "\(dir.path)/y.npy, record 3: expected a class label: a whole number in 0..<100000, found \(shown)")
        }
        // integer labels far beyond any class count: refused before a class list of that size is made
        for big in [Int64.max, 1 << 40] {
            let dir = tempDirectory("labels")
            var v: [Int64] = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2]
            v[7] = big
            let config = try labelledNPY(int64Bytes(v), descr: "<i8", in: dir)
            #expect(trainError(config, dir) == "\(dir.path)/y.npy, record 7: expected a class label in 0..<100000, found \(big)")
        }
        // whole-number float labels are fine
        let dir = tempDirectory("labels")
        #expect(trainError(try labelledNPY(float32Bytes(base), descr: "<f4", in: dir), dir) == nil)
    }

    @Test(needs(emberBinary != nil, "the ember executable is not built next to the test bundle"))
    func binaryExitsWithTheMessage() throws {
        // a test-file label beyond the training classes, and a label that cannot be a class index
        let dir = tempDirectory("labels-bin")
        let config = try labelledNPY(int64Bytes([0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1]), descr: "<i8", testLabels: [0, 1, 5, 1], in: dir)
        let r = try runEmber(["train", "--quiet", "--run-dir", "run", config], in: dir)
        #expect(r.status == 1)
        #expect(r.err == "ember: error: \(dir.path)/ty.npy, record 2: expected one of the 2 training classes (0..<2), found 5\n")
        let dir2 = tempDirectory("labels-bin")
        let config2 = try labelledNPY(float32Bytes([0, 1, 0, 1, 0, 1, 0, 1e30, 0, 1, 0, 1]), descr: "<f4", in: dir2)
        let r2 = try runEmber(["train", "--quiet", "--run-dir", "run", config2], in: dir2)
        #expect(r2.status == 1)
        #expect(r2.err == "ember: error: \(dir2.path)/y.npy, record 7: expected a class label: a whole number in 0..<100000, found 1.0000000150474662e+30\n")
    }
}
