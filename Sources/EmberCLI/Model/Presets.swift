import Foundation

/// The model presets: `mlp`, `lenet` and `cnn-small`, each a list of layers built for the data's input shape and
/// number of outputs.
public enum ModelPreset {
    /// Preset names.
    public static let names = ["mlp", "lenet", "cnn-small"]

    /// Options each preset reads.
    static let options: [String: [String]] = [
        "mlp": ["hidden", "dropout", "batch_norm", "activation"],
        "lenet": ["activation", "dropout"],
        "cnn-small": ["channels", "kernel", "hidden", "dropout", "batch_norm", "activation"],
    ]

    /// The layers of preset `name` for examples of `input` shape and `outputs` output units.
    /// - Throws: `LayerShapeError` when the preset cannot take that input (a CNN given flat features).
    static func layers(_ name: String, options o: PresetOptions, input: [Int], outputs: Int) throws(LayerShapeError) -> [LayerSpec] {
        let act = LayerSpec(o.activation ?? "relu")
        func linear(_ n: Int) -> LayerSpec { var l = LayerSpec("linear"); l.out = n; return l }
        func conv(_ n: Int, _ k: Int, pad: Int) -> LayerSpec {
            var l = LayerSpec("conv2d"); l.out = n; l.kernel = [k, k]; l.padding = [pad, pad]; return l
        }
        func pool() -> LayerSpec { var l = LayerSpec("maxpool2d"); l.kernel = [2, 2]; return l }
        func dropout(_ p: Double) -> LayerSpec { var l = LayerSpec("dropout"); l.p = p; return l }
        switch name {
        case "mlp":
            var out: [LayerSpec] = input.count > 1 ? [LayerSpec("flatten")] : []
            for h in o.hidden ?? [128, 64] {
                out.append(linear(h))
                if o.batchNorm ?? false { out.append(LayerSpec("batchnorm1d")) }
                out.append(act)
                if let p = o.dropout, p > 0 { out.append(dropout(p)) }
            }
            return out + [linear(outputs)]
        case "lenet":
            guard input.count == 3 else {
                throw LayerShapeError("lenet needs image inputs [channels, height, width], got \(input) per example (set data.shape, e.g. [1, 8, 8])")
            }
            // LeNet-5 with "same" padding on the first convolution (28x28 -> 28x28), as usually run on MNIST; the
            // second convolution is padded too when the image is small (8x8 digits).
            let secondPad = input[1] / 2 >= 10 ? 0 : 2
            var out = [conv(6, 5, pad: 2), act, pool(), conv(16, 5, pad: secondPad), act, pool(), LayerSpec("flatten"),
                       linear(120), act, linear(84), act]
            if let p = o.dropout, p > 0 { out.append(dropout(p)) }
            return out + [linear(outputs)]
        default:   // cnn-small
            guard input.count == 3 else {
                throw LayerShapeError("cnn-small needs image inputs [channels, height, width], got \(input) per example "
                                      + "(set data.shape, e.g. [1, 8, 8])")
            }
            let k = o.kernel ?? 3
            var out: [LayerSpec] = []
            var side = Swift.min(input[1], input[2])
            for c in o.channels ?? [32, 64] {
                out.append(conv(c, k, pad: k / 2))
                if o.batchNorm ?? true { out.append(LayerSpec("batchnorm2d")) }
                out.append(act)
                if side >= 2 { out.append(pool()); side /= 2 }
            }
            out += [LayerSpec("flatten"), linear(o.hidden?.first ?? 128), act]
            let p = o.dropout ?? 0.25
            if p > 0 { out.append(dropout(p)) }
            return out + [linear(outputs)]
        }
    }
}

// MARK: - parsing the model section

func parseModel(_ v: ConfigValue) throws -> ModelConfig {
    let m = try v.mapping()
    var model = ModelConfig()
    let preset = m.optional("preset"), layers = m.optional("layers")
    if let p = m.optional("pretrained") {
        if let x = preset ?? layers { throw x.error("model.pretrained takes its architecture from the pretrained run: leave out preset and layers") }
        model.transfer = try parseTransfer(p, in: m)
        try m.finish()
        return model
    }
    switch (preset, layers) {
    case (let p?, nil):
        let all = ModelPreset.names + SequencePreset.names + GANPreset.names + TextPreset.names
        let name = try p.choice(all, what: "a preset (\(all.joined(separator: ", ")))")
        model.preset = name
        if TextPreset.names.contains(name) {
            model.text = try parseTextTransformer(m.optional("options"))
        } else if GANPreset.names.contains(name) {
            model.gan = try parseGANModel(name, options: m.optional("options"))
        } else if SequencePreset.names.contains(name) {
            model.sequence = try parseSequenceModel(name, options: m.optional("options"))
        } else if let o = m.optional("options") { model.options = try parsePresetOptions(o, preset: name) }
    case (nil, let l?):
        let items = try l.list()
        guard !items.isEmpty else { throw l.mismatch("a non-empty list of layers") }
        model.layers = try items.map(parseLayer)
        model.layerPaths = items.map(\.path)
        if let o = m.optional("options") { throw o.error("options apply to presets only") }
    case (nil, nil):
        let names = ModelPreset.names.joined(separator: ", ")
        throw ConfigError(path: join(v.path, "preset"), message: "missing; expected a preset (\(names)) or `layers`",
                          file: v.file, line: v.node.mark?.line)
    case (_, let l?):
        throw l.error("give either model.preset or model.layers, not both")
    }
    try m.finish()
    return model
}

private func parsePresetOptions(_ v: ConfigValue, preset: String) throws -> PresetOptions {
    let m = try v.mapping()
    var o = PresetOptions()
    let known = ModelPreset.options[preset] ?? []
    for key in m.keys where !known.contains(key) {
        let bad = m.optional(key)!
        throw bad.error("not an option of \(preset) (its options: \(known.joined(separator: ", ")))")
    }
    if let x = m.optional("hidden") { o.hidden = try x.intList() }
    if let x = m.optional("channels") { o.channels = try x.intList() }
    if let x = m.optional("kernel") {
        let k = try x.int(atLeast: 1)
        guard k % 2 == 1 else { throw x.mismatch("an odd kernel size") }
        o.kernel = k
    }
    if let x = m.optional("dropout") { o.dropout = try x.double(in: 0...0.95, "a probability in [0, 0.95]") }
    if let x = m.optional("batch_norm") { o.batchNorm = try x.bool() }
    if let x = m.optional("activation") { o.activation = try x.choice(LayerSpec.activations, what: "an activation (\(LayerSpec.activations.joined(separator: ", ")))") }
    try m.finish()
    return o
}

/// One entry of `model.layers`: `relu`, `{linear: 10}`, `{conv2d: {out: 32, kernel: 3}}` or `{type: linear, out: 10}`.
private func parseLayer(_ v: ConfigValue) throws -> LayerSpec {
    let (_, opts, at) = try namedEntry(v, what: "a layer")
    let kind = try at.choice(LayerSpec.kinds, what: "a layer kind (\(LayerSpec.kinds.joined(separator: ", ")))")
    var spec = LayerSpec(kind)
    // The option a bare value sets: `{linear: 10}`, `{dropout: 0.3}`, `{maxpool2d: 2}`.
    if let o = opts, o.isScalar {
        switch kind {
        case "linear", "conv2d": spec.out = try o.int(atLeast: 1)
        case "maxpool2d", "avgpool2d": spec.kernel = try o.pair(atLeast: 1)
        case "adaptive_avgpool2d": spec.size = try o.pair(atLeast: 1)
        case "dropout": spec.p = try o.double(in: 0...0.95, "a probability in [0, 0.95]")
        case "leaky_relu", "elu": spec.slope = try o.double()
        default: throw o.error("\(kind) takes no options")
        }
        if kind == "conv2d" { throw o.error("conv2d needs a mapping with `out` and `kernel`") }
        return spec
    }
    guard let o = opts else {
        if ["linear", "conv2d", "maxpool2d", "avgpool2d", "adaptive_avgpool2d"].contains(kind) {
            throw v.error("\(kind) needs options (\(kind == "linear" ? "out" : kind == "conv2d" ? "out, kernel" : kind == "adaptive_avgpool2d" ? "size" : "kernel"))")
        }
        return spec
    }
    let m = try o.mapping()
    m.skipKind()
    switch kind {
    case "linear":
        spec.out = try m.required("out", expected: "the number of output features").int(atLeast: 1)
        if let x = m.optional("in") { spec.inFeatures = try x.int(atLeast: 1) }
        if let x = m.optional("bias") { spec.bias = try x.bool() }
    case "conv2d":
        spec.out = try m.required("out", expected: "the number of output channels").int(atLeast: 1)
        spec.kernel = try m.required("kernel", expected: "the kernel size").pair(atLeast: 1)
        if let x = m.optional("in") { spec.inFeatures = try x.int(atLeast: 1) }
        if let x = m.optional("stride") { spec.stride = try x.pair(atLeast: 1) }
        if let x = m.optional("padding") {
            if x.isScalar, x.kind == .str {
                _ = try x.choice(["same"], what: "an integer, a pair, or \"same\"")
                guard spec.kernel!.allSatisfy({ $0 % 2 == 1 }) else { throw x.error("\"same\" padding needs an odd kernel") }
                spec.padding = spec.kernel!.map { $0 / 2 }
            } else {
                spec.padding = try x.pair(atLeast: 0)
            }
        }
        if let x = m.optional("bias") { spec.bias = try x.bool() }
    case "maxpool2d", "avgpool2d":
        spec.kernel = try m.required("kernel", expected: "the pooling window").pair(atLeast: 1)
        if let x = m.optional("stride") { spec.stride = try x.pair(atLeast: 1) }
        if let x = m.optional("padding") { spec.padding = try x.pair(atLeast: 0) }
    case "adaptive_avgpool2d":
        spec.size = try m.required("size", expected: "the output size").pair(atLeast: 1)
    case "dropout":
        if let x = m.optional("p") { spec.p = try x.double(in: 0...0.95, "a probability in [0, 0.95]") }
    case "batchnorm1d", "batchnorm2d", "layernorm":
        if let x = m.optional("in") { spec.inFeatures = try x.int(atLeast: 1) }
    case "leaky_relu":
        if let x = m.optional("slope") { spec.slope = try x.double() }
    case "elu":
        if let x = m.optional("alpha") { spec.slope = try x.double() }
    default:
        break
    }
    try m.finish()
    return spec
}
