import EmberTestSupport
import Foundation
import Testing
@testable import EmberONNX
@testable import EmberCore

/// ONNX's own node conformance cases (Debian `libonnx-testdata`: model.onnx plus test_data_set_0/input_N.pb and
/// output_N.pb as TensorProtos). Every case is classified: passed, failed (a wrong result or an unexpected error),
/// or unsupported (an operator not in `ONNXModel.supportedOperators`, a dtype Ember lacks, or an attribute the
/// importer refuses with a "not supported" error). The test prints the counts and fails on any failed case, so every
/// case of every supported operator either passes or is refused with a clear error.
@Suite struct ONNXConformanceTests {
    static let root = URL(fileURLWithPath: "/usr/share/libonnx-testdata/data/node")

    enum Outcome: Equatable { case passed, failed(String), unsupported(String) }

    static func readTensor(_ url: URL) throws -> Tensor {
        let t = try Onnx_TensorProto(serializedBytes: try Data(contentsOf: url))
        return try ONNXModel.tensor(t, path: url.path, base: nil)
    }

    /// ONNX's backend-test tolerance: rtol 1e-3, atol 1e-7 for floats; exact for integers and bools.
    static func close(_ got: Tensor, _ want: Tensor) -> String? {
        guard got.shape == want.shape else { return "shape \(got.shape), expected \(want.shape)" }
        guard got.dtype == want.dtype else { return "dtype \(got.dtype), expected \(want.dtype)" }
        let a = got.toArray(Double.self), b = want.toArray(Double.self)
        for (i, (x, y)) in zip(a, b).enumerated() {
            if x.isNaN && y.isNaN { continue }
            let ok = want.dtype.isFloatingPoint ? abs(x - y) <= 1e-7 + 1e-3 * abs(y) || x == y : x == y
            if !ok { return "element \(i): \(x), expected \(y)" }
        }
        return nil
    }

    static func run(_ dir: URL) -> Outcome {
        let model: ONNXModel
        do { model = try ONNXModel(contentsOf: dir.appendingPathComponent("model.onnx")) } catch {
            return .unsupported("\(error)")
        }
        let data = dir.appendingPathComponent("test_data_set_0")
        var inputs: [String: Tensor] = [:], expected: [Tensor] = []
        do {
            // inputs are numbered in graph-input order (initializers excluded)
            let files = try FileManager.default.contentsOfDirectory(atPath: data.path)
            let nIn = files.filter { $0.hasPrefix("input_") }.count, nOut = files.filter { $0.hasPrefix("output_") }.count
            guard nIn == model.inputNames.count else { return .failed("\(nIn) input files for inputs \(model.inputNames)") }
            for (i, name) in model.inputNames.enumerated() { inputs[name] = try readTensor(data.appendingPathComponent("input_\(i).pb")) }
            for i in 0..<nOut { expected.append(try readTensor(data.appendingPathComponent("output_\(i).pb"))) }
        } catch {
            return .unsupported("data: \(error)")
        }
        do {
            let outs = try model.run(inputs)
            for (name, want) in zip(model.outputNames, expected) {
                guard let got = outs[name] else { return .failed("no output \(name)") }
                if let problem = close(got, want) { return .failed("\(name): \(problem)") }
            }
            return .passed
        } catch {
            let text = "\(error)"
            return text.contains("not supported") ? .unsupported(text) : .failed(text)
        }
    }

    @Test(needs(FileManager.default.fileExists(atPath: root.path), "needs Debian's libonnx-testdata (scripts/setup installs it)"))
    func nodeCasesPassOrAreRefusedClearly() throws {
        let cases = try FileManager.default.contentsOfDirectory(atPath: Self.root.path).sorted()
        try require(cases.count > 900, "libonnx-testdata holds \(cases.count) node cases; expected 932")
        var passed: [String] = [], failed: [(String, String)] = [], unsupported: [String: Int] = [:]
        for name in cases {
            if ProcessInfo.processInfo.environment["EMBER_ONNX_TRACE"] != nil { FileHandle.standardError.write(Data("case \(name)\n".utf8)) }
            switch Self.run(Self.root.appendingPathComponent(name)) {
            case .passed: passed.append(name)
            case .failed(let why): failed.append((name, why))
            case .unsupported(let why):
                let key = why.components(separatedBy: ": ").dropFirst().joined(separator: ": ").prefix(80)
                unsupported[String(key), default: 0] += 1
            }
        }
        let unsupportedCount = unsupported.values.reduce(0, +)
        print("ONNX node conformance: \(passed.count) passed, \(failed.count) failed, \(unsupportedCount) unsupported of \(cases.count)")
        for (name, why) in failed { print("  failed \(name): \(why)") }
        for (why, n) in unsupported.sorted(by: { $0.value > $1.value }).prefix(40) { print("  unsupported \(n)x: \(why)") }
        #expect(failed.isEmpty, "\(failed.count) conformance cases failed: \(failed.map(\.0).joined(separator: ", "))")
        // the operators the exporter writes and the issue names must be among those that pass
        for op in ["test_gemm_default_no_bias", "test_conv_with_strides_padding", "test_maxpool_2d_default",
                   "test_averagepool_2d_default", "test_relu", "test_softmax_axis_1", "test_reshape_reordered_all_dims",
                   "test_transpose_default", "test_concat_2d_axis_0", "test_matmul_2d", "test_lstm_defaults", "test_gru_defaults"] {
            #expect(passed.contains(op), "\(op) does not pass")
        }
    }
}
