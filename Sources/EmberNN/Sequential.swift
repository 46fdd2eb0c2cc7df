/// Builds the layer list of a `Sequential` from statements, as in `Sequential { Linear(4, 8); ReLU() }`.
@resultBuilder
public enum ModuleBuilder {
    public static func buildExpression(_ m: Module) -> [Module] { [m] }
    public static func buildExpression(_ ms: [Module]) -> [Module] { ms }
    public static func buildBlock(_ parts: [Module]...) -> [Module] { parts.flatMap { $0 } }
    public static func buildOptional(_ part: [Module]?) -> [Module] { part ?? [] }
    public static func buildEither(first: [Module]) -> [Module] { first }
    public static func buildEither(second: [Module]) -> [Module] { second }
    public static func buildArray(_ parts: [[Module]]) -> [Module] { parts.flatMap { $0 } }
}

/// Layers applied in order; children are named "0", "1", ... as in `torch.nn.Sequential`.
public final class Sequential: Module, ModuleContainer {
    /// The layers (`replaceModule(at: "3", with: ...)` swaps one).
    public private(set) var layers: [Module]

    /// Layers from a list.
    public init(_ layers: [Module]) { self.layers = layers }
    /// Layers from a builder block.
    public convenience init(@ModuleBuilder _ build: () -> [Module]) { self.init(build()) }

    override public var flattensChildArrays: Bool { true }

    var containerChildren: [(String, Module)] { layers.enumerated().map { ("\($0.offset)", $0.element) } }

    func replaceContainerChild(_ name: String, with module: Module) -> Bool {
        guard let i = Int(name), layers.indices.contains(i) else { return false }
        layers[i] = module
        return true
    }

    override public func forward(_ x: Tensor) -> Tensor { layers.reduce(x) { $1($0) } }

    /// The layer at position i.
    public subscript(_ i: Int) -> Module { layers[i] }
}

extension Module {
    /// A table of layers, output shapes and parameter counts for an input of `inputShape` (batch included),
    /// computed by running the model once without gradients.
    public func summary(inputShape: [Int]) -> String {
        var rows: [(String, String, String, Int)] = []
        func walk(_ m: Module, _ name: String, _ x: Tensor, depth: Int) -> Tensor {
            if let seq = m as? Sequential {
                var y = x
                for (i, l) in seq.layers.enumerated() {
                    y = walk(l, name.isEmpty ? "\(i)" : "\(name).\(i)", y, depth: depth + 1)
                }
                return y
            }
            let y = m(x)
            let own = m.parameterCount
            rows.append((String(repeating: "  ", count: Swift.max(depth - 1, 0)) + (name.isEmpty ? "(model)" : name),
                         m.layerDescription, "\(y.shape)", own))
            return y
        }
        let wasTraining = training
        eval()
        _ = withoutGrad { walk(self, "", Tensor.zeros(inputShape), depth: 0) }
        train(wasTraining)
        let w0 = Swift.max(8, rows.map(\.0.count).max() ?? 0), w1 = Swift.max(5, rows.map(\.1.count).max() ?? 0)
        let w2 = Swift.max(12, rows.map(\.2.count).max() ?? 0)
        func pad(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: Swift.max(0, n - s.count)) }
        var lines = [pad("name", w0) + "  " + pad("layer", w1) + "  " + pad("output shape", w2) + "  params"]
        lines.append(String(repeating: "-", count: w0 + w1 + w2 + 14))
        for r in rows { lines.append(pad(r.0, w0) + "  " + pad(r.1, w1) + "  " + pad(r.2, w2) + "  \(r.3)") }
        lines.append(String(repeating: "-", count: w0 + w1 + w2 + 14))
        let trainable = trainableParameters.reduce(0) { $0 + $1.count }
        lines.append("total parameters: \(parameterCount) (trainable: \(trainable))")
        return lines.joined(separator: "\n")
    }
}
