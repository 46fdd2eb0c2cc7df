import Foundation
import Testing
@testable import EmberNN

// The Ember twin of the model in scripts/golden/make_module_tree_golden.py: it must produce PyTorch's names, in
// PyTorch's order (Fixtures/nn_module_tree.json).

/// A sub-module whose parameters are registered directly (as `nn.MultiheadAttention`'s), one of them optional.
final class TreeAttention: Module {
    @Parameter var inProjWeight = Tensor.zeros([12, 4])
    @Parameter var inProjBias: Tensor? = nil
    let outProj = Linear(4, 4)
    init(bias: Bool) {
        super.init()
        if bias { inProjBias = Tensor.zeros([12]) }
    }
}

final class TreeBlock: Module {
    let norm = LayerNorm([4])
    let attn: TreeAttention
    let mlp = Sequential { Linear(4, 8); ReLU(); Dropout(0.1); Linear(8, 4) }
    init(bias: Bool) { attn = TreeAttention(bias: bias) }
}

/// An output projection that shares its weight with the embedding.
final class TiedHead: Module {
    @Parameter var weight: Tensor
    init(weight: Tensor) { _weight = Parameter(wrappedValue: weight) }
    override func forward(_ x: Tensor) -> Tensor { linear(x, weight) }
}

final class TreeNet: Module {
    let embed = Embedding(10, 4)
    @Buffer var pos = Tensor.zeros([5, 4])
    let blocks = ModuleList((0..<3).map { TreeBlock(bias: $0 != 1) })
    let heads: ModuleDict
    @Parameter var scale = Tensor.ones([1])
    @Buffer var steps = Tensor.zeros([], dtype: .int64)
    let lengths = Tensor([1, 2, 3] as [Int64])   // an integer tensor: neither parameter nor buffer
    override init() {
        heads = ModuleDict(["cls": Linear(4, 3), "lm": TiedHead(weight: embed.weight), "aux": BatchNorm1d(4)])
    }
}

@Suite struct ModuleTreeGoldenTests {
    let golden = Fixtures.load("nn_module_tree")

    func pairs(_ key: String) -> [String] {
        golden[key].array.map { "\($0[0].string) \($0[1].ints)" }
    }

    @Test func namesAndOrderMatchPyTorch() {
        let net = TreeNet()
        #expect(net.stateDict().map { "\($0.0) \($0.1.shape)" } == pairs("state_dict"))
        #expect(net.namedParameters().map { "\($0.0) \($0.1.shape)" } == pairs("named_parameters"))
        #expect(net.namedBuffers().map { "\($0.0) \($0.1.shape)" } == pairs("named_buffers"))
        #expect(net.namedModules().map(\.0) == golden["named_modules"].array.map(\.string))
        #expect(net.namedChildren.map(\.0) == golden["named_children"].array.map(\.string))
        #expect(net.parameters.count == golden["named_parameters"].array.count)
        #expect(net.heads["lm"]!.parameters[0] === net.embed.weight)
    }
}
