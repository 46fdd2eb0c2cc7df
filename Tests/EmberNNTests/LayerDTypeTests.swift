import Foundation
import Testing
import EmberTestSupport
@testable import EmberNN

/// Layers refuse inputs whose dtype differs from their parameters (a message naming the layer and the dtypes, checked
/// in a child process); layers without parameters and the elementwise losses promote.
@Suite struct LayerDTypeTests {
    @Test func linearLayer() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Linear(3, 2)(Tensor.zeros([4, 3], dtype: .float64))
        }
        expectMessage(r, "linear: input float64, weight float32, bias float32: dtypes differ")
    }

    @Test func conv2dLayer() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Conv2d(2, 3, kernel: 3, bias: false)(Tensor.zeros([1, 2, 5, 5], dtype: .float64))
        }
        expectMessage(r, "conv2d: input float64, weight float32: dtypes differ")
    }

    @Test func conv1dLayer() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Conv1d(2, 3, kernel: 3)(Tensor.zeros([1, 2, 5], dtype: .float64))
        }
        expectMessage(r, "conv1d: input float64, weight float32, bias float32: dtypes differ")
    }

    @Test func convTranspose2dLayer() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = ConvTranspose2d(2, 3, kernel: 2)(Tensor.zeros([1, 2, 3, 3], dtype: .float64))
        }
        expectMessage(r, "convTranspose2d: input float64, weight float32, bias float32: dtypes differ")
    }

    @Test func batchNormLayer() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = BatchNorm2d(2)(Tensor.ones([2, 2, 3, 3], dtype: .float64))
        }
        expectMessage(r, "BatchNorm2d: input float64, weight float32, bias float32, running_mean float32, running_var float32: dtypes differ")
    }

    @Test func batchNormWithoutAffineInEvalMode() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let bn = BatchNorm1d(2, affine: false)
            bn.eval()
            _ = bn(Tensor.ones([4, 2], dtype: .float64))
        }
        expectMessage(r, "BatchNorm1d: input float64, running_mean float32, running_var float32: dtypes differ")
    }

    @Test func layerNormLayer() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = LayerNorm([3])(Tensor.ones([2, 3], dtype: .float64))
        }
        expectMessage(r, "LayerNorm: input float64, weight float32, bias float32: dtypes differ")
    }

    @Test func groupNormLayer() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = GroupNorm(groups: 2, channels: 4)(Tensor.ones([2, 4, 3], dtype: .float64))
        }
        expectMessage(r, "GroupNorm: input float64, weight float32, bias float32: dtypes differ")
    }

    @Test func embeddingWithFloatIndices() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Embedding(4, 2)(Tensor([1, 3] as [Float]))
        }
        expectMessage(r, "embedding: indices must be int32 or int64, got float32")
    }

    @Test func layersWithoutParametersAndLossesPromote() {
        let x = Tensor((0..<32).map { Double($0) * 0.25 - 3 }, shape: [1, 2, 4, 4])
        for (name, layer) in [("maxpool", MaxPool2d(2) as Module), ("avgpool", AvgPool2d(2)), ("adaptive", AdaptiveAvgPool2d(3)),
                              ("relu", ReLU()), ("flatten", Flatten())] {
            let y = layer(x), y32 = layer(x.cast(.float32))
            #expect(y.dtype == .float64, "\(name)")
            #expect(y.cast(.float32).toArray(Float.self) == y32.toArray(Float.self), "\(name)")
        }
        // elementwise losses: float32 input, float64 target -> the float64 computation; the input gradient is float32
        let input = Tensor([0.5, -1.25, 2, 0.75] as [Float]), target = Tensor([0.25, 1, 2.5, -0.5] as [Double])
        let losses: [(String, (Tensor, Tensor) -> Tensor)] = [
            ("mse", { mseLoss($0, $1) }), ("l1", { l1Loss($0, $1) }), ("smoothL1", { smoothL1Loss($0, $1) }),
            ("huber", { huberLoss($0, $1, delta: 0.5) }),
        ]
        for (name, f) in losses {
            input.grad = nil
            input.requiresGrad = true
            let l = f(input, target)
            #expect(l.dtype == .float64, "\(name)")
            #expect(l.item() == f(input.cast(.float64), target).item(), "\(name)")
            l.backward()
            #expect(input.grad?.dtype == .float32, "\(name)")
        }
        // binary cross-entropy converts its target to the input's dtype (class-probability targets of any dtype)
        let p = Tensor([0.2, 0.7, 0.9] as [Float]), t = Tensor([0, 1, 1] as [Int64])
        #expect(binaryCrossEntropy(p, t).item() == binaryCrossEntropy(p, t.cast(.float32)).item())
        #expect(binaryCrossEntropyWithLogits(p, t.cast(.float64)).item() == binaryCrossEntropyWithLogits(p, t.cast(.float32)).item())
        // ignore_index targets are allowed anywhere
        #expect(abs(crossEntropy(Tensor.zeros([2, 3]), Tensor([-100, 2] as [Int64])).item() - log(3)) < 1e-6)
    }
}
