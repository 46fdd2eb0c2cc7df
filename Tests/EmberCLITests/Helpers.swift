import Foundation
import Testing
import EmberTestSupport
@testable import EmberCLI

/// A fresh temporary directory.
func tempDirectory(_ tag: String = "cli") -> URL {
    let u = FileManager.default.temporaryDirectory.appendingPathComponent("ember-\(tag)-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
    return u
}

/// The repository root (for `examples/`).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Writes `text` to `name` in `dir` and returns the path.
@discardableResult
func write(_ text: String, _ name: String, in dir: URL) -> String {
    let url = dir.appendingPathComponent(name)
    try! text.write(to: url, atomically: true, encoding: .utf8)
    return url.path
}

/// The message of the `ConfigError` that parsing `yaml` throws (nil when it parses).
func configError(_ yaml: String, overrides: [String] = []) -> String? {
    do {
        _ = try ExperimentConfig.parse(yaml, file: nil, overrides: overrides)
        return nil
    } catch let e as ConfigError {
        return e.description
    } catch {
        return "unexpected error type \(type(of: error)): \(error)"
    }
}

/// Every float32 tensor of a model, as bit patterns by name.
func bits(_ m: Module) -> [String: [UInt32]] {
    var out: [String: [UInt32]] = [:]
    for (n, t) in m.stateDict() where t.dtype == .float32 { out[n] = t.scalars.map(\.bitPattern) }
    return out
}

/// Options for a quiet in-process run of `config` (nil: the default) into `dir`.
func trainOptions(_ config: String?, dir: URL, overrides: [String] = []) -> TrainOptions {
    var o = TrainOptions()
    o.configPath = config
    o.runDirectory = dir.path
    o.overrides = overrides
    o.quiet = true
    return o
}

/// A small, quick experiment on the bundled digits: an MLP with dropout and a cosine schedule.
let quickDigitsConfig = """
    data:
      dataset: digits
      scale: 0.0625
      split: {test: 0.2, validation: 0.1}
    model:
      preset: mlp
      options: {hidden: [32], dropout: 0.2}
    training:
      optimizer: {name: adamw, lr: 0.003}
      schedule: cosine
      batch_size: 64
      epochs: 2
      seed: 5
      callbacks:
        checkpoint: {every_batches: 5}
    """

/// Writes a big-endian IDX file: uint8 `values` of `shape`.
func writeIDX(_ values: [UInt8], shape: [Int], to url: URL) {
    var bytes: [UInt8] = [0, 0, 0x08, UInt8(shape.count)]
    for d in shape { bytes += [UInt8(d >> 24 & 255), UInt8(d >> 16 & 255), UInt8(d >> 8 & 255), UInt8(d & 255)] }
    bytes += values
    try! Data(bytes).write(to: url)
}

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

func float32Bytes(_ v: [Float]) -> [UInt8] { v.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) } }
func float64Bytes(_ v: [Double]) -> [UInt8] { v.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) } }
func int64Bytes(_ v: [Int64]) -> [UInt8] { v.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) } }
