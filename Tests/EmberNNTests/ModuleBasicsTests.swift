import Testing
@testable import EmberNN

@Suite struct ModuleBasicsTests {
    final class Net: Module {
        let features = Sequential { Linear(4, 8); ReLU(); Linear(8, 3) }
        let head = Linear(3, 2, bias: false)
        override func forward(_ x: Tensor) -> Tensor { head(features(x)) }
    }

    @Test func namesFollowPyTorch() {
        let net = Net()
        #expect(net.namedParameters().map(\.0) == ["features.0.weight", "features.0.bias", "features.2.weight",
                                                   "features.2.bias", "head.weight"])
        #expect(net.parameterCount == 4 * 8 + 8 + 8 * 3 + 3 + 3 * 2)
        let bn = Sequential { Conv2d(1, 2, kernel: 3); BatchNorm2d(2) }
        #expect(bn.stateDict().map(\.0) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                                            "1.running_var", "1.num_batches_tracked"])
    }
}
