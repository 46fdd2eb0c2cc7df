import Foundation

/// `ember inspect`: a saved model's layers, shapes, parameter counts, preparation and training provenance.
public enum InspectRunner {
    /// One row of the layer table.
    public struct Row: Sendable, Equatable {
        /// Position in the `Sequential` (the state-dict prefix).
        public var index: Int
        /// The layer (`conv2d 1->32 k3 s1 p1`).
        public var layer: String
        /// Output shape per example.
        public var outputShape: [Int]
        /// Parameters.
        public var parameters: Int
        /// State-dict entries with shapes (`0.weight [32, 1, 3, 3]`).
        public var tensors: [String]
    }

    /// The layer table of a loaded model.
    public static func rows(_ m: LoadedModel) -> [Row] {
        let shapes = m.saved.architecture.shapes
        let state = m.model.stateDict()
        return m.saved.architecture.layers.enumerated().map { i, spec in
            let prefix = "\(i)."
            let tensors = state.filter { $0.0.hasPrefix(prefix) }.map { "\($0.0) \($0.1.shape)" }
            return Row(index: i, layer: spec.summary, outputShape: shapes[i], parameters: m.model.layers[i].parameterCount, tensors: tensors)
        }
    }

    /// Prints the summary (or JSON) and returns it.
    @discardableResult
    public static func run(model path: String, json: Bool, console: Console) throws -> String {
        if SequenceModelFile.isSequenceModel(URL(fileURLWithPath: path).appendingPathComponent(SavedModel.jsonFile)) {
            return try SequenceInspect.run(model: path, json: json, console: console)
        }
        let m = try SavedModel.load(from: path)
        let s = m.saved, p = s.provenance
        let table = rows(m)
        let metricsURL = m.directory.appendingPathComponent(SavedModel.metricsFile)
        let metrics = (try? Data(contentsOf: metricsURL)).flatMap { try? JSONValue.parse($0) }
        if json {
            let out = JSONValue.object([
                ("name", .string(s.name)), ("task", .string(s.task.rawValue)),
                ("input_shape", .array(s.architecture.inputShape.map { .number(Double($0)) })),
                ("classes", .array(s.classes.map { .string($0) })),
                ("parameters", .number(Double(s.parameters))),
                ("layers", .array(table.map { r in
                    .object([("index", .number(Double(r.index))), ("layer", .string(r.layer)),
                             ("output_shape", .array(r.outputShape.map { .number(Double($0)) })),
                             ("parameters", .number(Double(r.parameters))), ("tensors", .array(r.tensors.map { .string($0) }))])
                })),
                ("preparation", .array(s.input.steps.map { .string($0) })),
                ("provenance", .object([
                    ("created", .string(p.created)), ("dataset", .string(p.dataset)), ("epochs", .number(Double(p.epochs))),
                    ("steps", .number(Double(p.steps))), ("seed", .number(Double(p.seed))), ("seconds", .number(p.seconds)),
                    ("resumed", .bool(p.resumed)), ("stopped_early", .bool(p.stoppedEarly)),
                    ("train_examples", .number(Double(p.trainExamples))), ("validation_examples", .number(Double(p.validationExamples))),
                    ("test_examples", .number(Double(p.testExamples))), ("host", .string(p.host)), ("threads", .number(Double(p.threads))),
                    ("last_epoch", .object(p.lastEpoch.keys.sorted().map { ($0, .number(p.lastEpoch[$0]!)) })),
                ])),
                ("metrics", metrics ?? .null),
            ]).rendered() + "\n"
            console.write(out)
            return out
        }
        var lines = ["model \(s.name) (\(m.directory.path))"]
        lines.append("  task: \(s.task.rawValue)" + (s.task == .classification ? ", \(s.classes.count) classes: \(abbreviated(s.classes))" : ""))
        lines.append("  input: \(s.input.rawShape) -> \(s.architecture.inputShape); preparation: \(s.input.steps.joined(separator: "; "))")
        lines.append("")
        let w1 = Swift.max(5, table.map(\.layer.count).max() ?? 0), w2 = Swift.max(12, table.map { "\($0.outputShape)".count }.max() ?? 0)
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        lines.append("  " + pad("#", 4) + pad("layer", w1) + "  " + pad("output shape", w2) + "  " + pad("params", 9) + "  tensors")
        for r in table {
            lines.append("  " + pad("\(r.index)", 4) + pad(r.layer, w1) + "  " + pad("\(r.outputShape)", w2) + "  "
                         + pad(grouped(r.parameters), 9) + "  " + r.tensors.joined(separator: ", "))
        }
        let trainable = m.model.trainableParameters.reduce(0) { $0 + $1.count }
        lines.append("  total parameters: \(grouped(s.parameters)) (trainable \(grouped(trainable)))")
        lines.append("")
        lines.append("training:")
        lines.append("  data: \(p.dataset) - train \(p.trainExamples), validation \(p.validationExamples), test \(p.testExamples)")
        lines.append(String(format: "  %d epochs, %d steps, seed %llu, %.1f s%@%@", p.epochs, p.steps, p.seed, p.seconds,
                            p.resumed ? ", resumed from a checkpoint" : "", p.stoppedEarly ? ", stopped early" : ""))
        if !p.lastEpoch.isEmpty {
            lines.append("  last epoch: " + p.lastEpoch.keys.sorted().map { String(format: "%@ %.4g", $0, p.lastEpoch[$0]!) }.joined(separator: ", "))
        }
        lines.append("  created \(p.created) on \(p.host) (\(p.threads) threads)" + (p.configFile.map { ", config \($0)" } ?? ""))
        if case .object(let kv)? = metrics {
            let scalars = kv.compactMap { k, v in v.number.map { String(format: "%@ %.4g", k, $0) } }.filter { !$0.hasPrefix("examples") }
            lines.append("  test metrics: " + scalars.joined(separator: ", "))
        }
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: m.directory.path)) ?? []).sorted().map { f -> String in
            let size = (try? FileManager.default.attributesOfItem(atPath: m.directory.appendingPathComponent(f).path)[.size] as? Int) ?? 0
            return "\(f) (\(byteCount(size)))"
        }
        lines.append("files: " + files.joined(separator: ", "))
        let text = lines.joined(separator: "\n") + "\n"
        console.write(text)
        return text
    }
}

/// The first few names, then "...".
func abbreviated(_ names: [String], limit: Int = 10) -> String {
    names.count <= limit ? names.joined(separator: ", ") : names.prefix(limit).joined(separator: ", ") + ", ..."
}

/// 1536 -> "1.5 KB".
func byteCount(_ n: Int) -> String {
    if n < 1024 { return "\(n) B" }
    if n < 1 << 20 { return String(format: "%.1f KB", Double(n) / 1024) }
    return String(format: "%.1f MB", Double(n) / Double(1 << 20))
}
