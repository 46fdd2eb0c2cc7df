import Foundation

/// `ember inspect` for a sequence model: its kind and sizes, the vocabulary or the series settings, the state-dict
/// names with shapes, and the training provenance.
enum SequenceInspect {
    @discardableResult
    static func run(model path: String, json: Bool, console: Console) throws -> String {
        let (file, model) = try SequenceModelFile.load(from: path)
        let spec = file.spec, p = file.provenance
        let tensors = model.stateDict().map { ($0.0, $0.1.shape) }
        func num(_ v: Int) -> JSONValue { .number(Double(v)) }
        var details: [(String, JSONValue)] = [("kind", .string(spec.kind.rawValue)), ("cell", .string(spec.cell)),
                                              ("layers", num(spec.layers)), ("hidden", num(spec.hidden)), ("dropout", .number(spec.dropout))]
        var lines = ["\(file.name): \(spec.kind == .languageModel ? "character-level language model" : "multi-step forecaster") "
                     + "(\(spec.cell) x \(spec.layers), hidden \(spec.hidden)), \(grouped(model.parameterCount)) parameters"]
        if let tok = file.tokenizer {
            details += [("embedding", num(spec.embedding ?? 0)), ("vocabulary", .array(tok.symbols.map { .string($0) }))]
            let shown = tok.symbols.dropFirst().map { $0 == "\n" ? "\\n" : $0 == " " ? "␠" : $0 }.joined()
            lines.append("vocabulary: \(tok.count - 1) characters + unknown: \(shown)")
        }
        if let s = file.series {
            details += [("column", .string(s.column)), ("window", num(s.window)), ("horizon", num(s.horizon)), ("season", num(s.season)),
                        ("scaling", .string(s.scaler.kind.rawValue)), ("log", .bool(s.scaler.log)), ("relative", .bool(spec.relative ?? false))]
            lines.append("series: \(s.column), \(s.horizon) steps from \(s.window); season \(s.season); scaling \(s.scaler.kind.rawValue)"
                         + (s.scaler.log ? " of the log" : "") + " (shift \(formatNumber(s.scaler.shift)), scale \(formatNumber(s.scaler.scale)))")
        }
        lines.append("state dict:")
        for (name, shape) in tensors { lines.append("  \(name) \(shape)") }
        lines.append("trained: \(p.epochs) epochs, \(p.steps) steps, \(String(format: "%.1f", p.seconds)) s, seed \(p.seed), on \(p.dataset)")
        lines.append("last epoch: " + p.lastEpoch.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.4g", $0.value))" }.joined(separator: ", "))
        let out: String
        if json {
            out = JSONValue.object([("name", .string(file.name)), ("format", .string(file.format)), ("parameters", num(model.parameterCount))] + details + [
                ("tensors", .array(tensors.map { .string("\($0.0) \($0.1)") })),
                ("provenance", .object([("epochs", num(p.epochs)), ("steps", num(p.steps)), ("seconds", .number(p.seconds)),
                                        ("dataset", .string(p.dataset)), ("seed", .number(Double(p.seed)))])),
            ]).rendered()
        } else {
            out = lines.joined(separator: "\n")
        }
        console.line(out)
        return out
    }
}
