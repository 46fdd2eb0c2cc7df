import Foundation
import Testing
import EmberTestSupport
@testable import EmberCLI

/// A NumPy .npy file (version 1.0) with raw little-endian `bytes`.
func npyFile(descr: String, shape: [Int], bytes: [UInt8]) -> Data {
    let dims = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(dims), }"
    while (10 + header.count + 1) % 64 != 0 { header += " " }
    header += "\n"
    var d = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.count & 255), UInt8(header.count >> 8)])
    d.append(Data(header.utf8))
    d.append(Data(bytes))
    return d
}

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

func float32Bytes(_ v: [Float]) -> [UInt8] { v.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) } }
func int64Bytes(_ v: [Int64]) -> [UInt8] { v.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) } }

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
        for (bad, shown) in [(Float(2.5), "2.5"), (1e30, "1.0000000150474662e+30"), (-.infinity, "-inf"), (.nan, "nan")] {
            let dir = tempDirectory("labels")
            var v = base
            v[3] = bad
            let config = try labelledNPY(float32Bytes(v), descr: "<f4", in: dir)
            #expect(trainError(config, dir) == "\(dir.path)/y.npy: expected whole-number class labels, found \(shown) (example 3)")
        }
        // integer labels far beyond any class count: refused before a class list of that size is made
        for big in [Int64.max, 1 << 40] {
            let dir = tempDirectory("labels")
            var v: [Int64] = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2]
            v[7] = big
            let config = try labelledNPY(int64Bytes(v), descr: "<i8", in: dir)
            #expect(trainError(config, dir)
                    == "\(dir.path)/y.npy: label \(big) is too large: class labels are numbered 0, 1, 2, ... (at most 1048576)")
        }
        // whole-number float labels are fine
        let dir = tempDirectory("labels")
        #expect(trainError(try labelledNPY(float32Bytes(base), descr: "<f4", in: dir), dir) == nil)
    }

    @Test(.enabled(if: emberBinary != nil, "the ember executable is not built next to the test bundle"))
    func binaryExitsWithTheMessage() throws {
        // a test-file label beyond the training classes, and a label that cannot be a class index
        let dir = tempDirectory("labels-bin")
        let config = try labelledNPY(int64Bytes([0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1]), descr: "<i8", testLabels: [0, 1, 5, 1], in: dir)
        let r = try runEmber(["train", "--quiet", "--run-dir", "run", config], in: dir)
        #expect(r.status == 1)
        #expect(r.err == "ember: error: \(dir.path)/ty.npy: label 5 is not one of the 2 training classes\n")
        let dir2 = tempDirectory("labels-bin")
        let config2 = try labelledNPY(float32Bytes([0, 1, 0, 1, 0, 1, 0, 1e30, 0, 1, 0, 1]), descr: "<f4", in: dir2)
        let r2 = try runEmber(["train", "--quiet", "--run-dir", "run", config2], in: dir2)
        #expect(r2.status == 1)
        #expect(r2.err == "ember: error: \(dir2.path)/y.npy: expected whole-number class labels, found 1.0000000150474662e+30 (example 7)\n")
    }
}
