import Foundation
import Testing
@testable import EmberNN

// Forward and backward of every EmberNN layer against PyTorch 2.13 (Fixtures/nn_layers.json). Each case: the layer
// (Ember's arguments in `config`), PyTorch's state dict loaded through loadStateDict (so the names are checked too),
// the input, the output, and the gradients of sum(out * upstream) w.r.t. the input and every parameter; then the
// state dict after the forward, which checks BatchNorm's running statistics and num_batches_tracked (a case with
// `pre_input` runs one extra forward without gradients first, so the running update compounds).
//
// Tolerance: |ember - torch| <= 1e-5 + 1e-5 |torch|. One layer is one op over O(1) inputs with reductions of at
// most ~100 products; two correct float32 implementations that differ in summation order or in the last ulps of
// exp/erf/tanh agree to a few 1e-7 absolute and well under 1e-5 relative (~84 ulps; softmax and normalization
// chain a few roundings). The 1e-5 absolute floor covers sums that cancel to near zero (a gradient entry of
// 1e-4 built from O(1) terms carries O(1e-7) absolute error, which is a large relative error). Any real bug (wrong
// index, stride, padding, biased vs. unbiased variance, missing term) is off by far more.
private let atol = 1e-5, rtol = 1e-5

func makeLayer(_ c: J) -> Module {
    func pair(_ key: String, _ def: Int) -> Pair { c[key].exists ? Pair(c[key]) : Pair(def, def) }
    switch c["type"].string {
    case "Linear": return Linear(c["in"].int, c["out"].int, bias: c["bias"].bool)
    case "Embedding": return Embedding(c["count"].int, c["dim"].int)
    case "Flatten": return Flatten(start: c["start"].intOrNil ?? 1, end: c["end"].intOrNil ?? -1)
    case "Dropout": return Dropout(c["p"].double)
    case "Identity": return Identity()
    case "Conv2d":
        return Conv2d(c["in"].int, c["out"].int, kernel: pair("kernel", 1), stride: pair("stride", 1),
                      padding: pair("padding", 0), dilation: pair("dilation", 1), groups: c["groups"].int,
                      bias: c["bias"].bool)
    case "Conv1d":
        return Conv1d(c["in"].int, c["out"].int, kernel: c["kernel"].int, stride: c["stride"].int,
                      padding: c["padding"].int, dilation: c["dilation"].int, groups: c["groups"].int,
                      bias: c["bias"].bool)
    case "ConvTranspose2d":
        return ConvTranspose2d(c["in"].int, c["out"].int, kernel: pair("kernel", 1), stride: pair("stride", 1),
                               padding: pair("padding", 0), outputPadding: pair("outputPadding", 0),
                               dilation: pair("dilation", 1), groups: c["groups"].int, bias: c["bias"].bool)
    case "MaxPool2d":
        return MaxPool2d(Pair(c["kernel"]), stride: c["stride"].exists ? Pair(c["stride"]) : nil,
                         padding: pair("padding", 0))
    case "AvgPool2d":
        return AvgPool2d(Pair(c["kernel"]), stride: c["stride"].exists ? Pair(c["stride"]) : nil,
                         padding: pair("padding", 0), countIncludePad: c["countIncludePad"].boolOrNil ?? true)
    case "AdaptiveAvgPool2d": return AdaptiveAvgPool2d(Pair(c["output"]))
    case "BatchNorm1d":
        return BatchNorm1d(c["features"].int, eps: c["eps"].doubleOrNil ?? 1e-5,
                           momentum: c["momentum"].doubleOrNil ?? 0.1, affine: c["affine"].boolOrNil ?? true)
    case "BatchNorm2d":
        return BatchNorm2d(c["features"].int, eps: c["eps"].doubleOrNil ?? 1e-5,
                           momentum: c["momentum"].doubleOrNil ?? 0.1, affine: c["affine"].boolOrNil ?? true)
    case "LayerNorm":
        return LayerNorm(c["shape"].ints, eps: c["eps"].doubleOrNil ?? 1e-5, affine: c["affine"].boolOrNil ?? true)
    case "GroupNorm":
        return GroupNorm(groups: c["groups"].int, channels: c["channels"].int, eps: c["eps"].doubleOrNil ?? 1e-5,
                         affine: c["affine"].boolOrNil ?? true)
    case "ReLU": return ReLU()
    case "LeakyReLU": return LeakyReLU(c["slope"].double)
    case "ELU": return ELU(c["alpha"].double)
    case "GELU": return GELU(approximate: c["approximate"].bool)
    case "SiLU": return SiLU()
    case "Tanh": return Tanh()
    case "Sigmoid": return Sigmoid()
    case "Softmax": return Softmax(axis: c["axis"].int)
    case let t: preconditionFailure("unknown layer type \(t) in fixture")
    }
}

@Suite struct LayerGoldenTests {
    static let cases = Fixtures.named(Fixtures.layers["cases"])
    static let names = Fixtures.layers["case_names"].array.map(\.string)

    @Test(arguments: names)
    func layerMatchesPyTorch(_ name: String) throws {
        let c = try #require(Self.cases[name])
        let layer = makeLayer(c["config"])
        #expect(layer.stateDict().map(\.0) == c["initial"].stateOrder, "\(name): state-dict names")
        try layer.loadStateDict(c["initial"].stateDict)
        layer.train(c["train"].bool)
        if c["pre_input"].exists { _ = withoutGrad { layer(c["pre_input"].tensor) } }

        let x = c["input"].tensor
        if x.dtype.isFloatingPoint { x.requiresGrad = true }
        let out = layer(x)
        expectClose(out, c["output"].tensor, atol: atol, rtol: rtol, "\(name) output")
        (out * c["upstream"].tensor).sum().backward()
        if c["input_grad"].exists {
            expectClose(x.grad, c["input_grad"].tensor, atol: atol, rtol: rtol, "\(name) input grad")
        }
        let expectedGrads = c["param_grads"].dict
        let params = layer.namedParameters()
        #expect(Set(params.map(\.0)) == Set(expectedGrads.keys), "\(name): parameter names")
        for (pname, p) in params {
            guard let g = expectedGrads[pname] else { continue }
            expectClose(p.grad, g.tensor, atol: atol, rtol: rtol, "\(name) grad \(pname)")
        }
        _ = expectStateClose(layer, c["after"], atol: atol, rtol: rtol, "\(name) state after forward")
    }

    /// Init.gain equals torch.nn.init.calculate_gain (deterministic constants, compared to double precision).
    @Test func gainsMatchPyTorch() {
        let g = Fixtures.layers["gains"]
        for key in ["linear", "sigmoid", "tanh", "relu", "selu"] {
            #expect(Swift.abs(Init.gain(key) - g[key].double) < 1e-12, "gain \(key)")
        }
        #expect(Swift.abs(Init.gain("leaky_relu") - g["leaky_relu"].double) < 1e-12)
        #expect(Swift.abs(Init.gain("leaky_relu", param: 0.2) - g["leaky_relu_0.2"].double) < 1e-12)
    }
}
