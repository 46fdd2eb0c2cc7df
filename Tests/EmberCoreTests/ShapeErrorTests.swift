import Foundation
import Testing
import EmberTestSupport
@testable import EmberCore

/// Shape mistakes are programmer errors: they stop the process with a message naming the op and the shapes.
/// Each case runs in a child process (Swift Testing exit tests) and checks what it printed.
@Suite struct ShapeErrorTests {
    @Test func matmulInnerDimensions() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = matmul(Tensor.zeros([3, 4]), Tensor.zeros([5, 6]))
        }
        expectMessage(r, "matmul: [3, 4] x [5, 6]: inner dimensions 4 and 5 differ")
    }

    @Test func broadcastMismatch() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]) + Tensor.zeros([4])
        }
        expectMessage(r, "add: shapes [2, 3] and [4] cannot be broadcast together")
    }

    @Test func reshapeCount() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]).reshaped([4, 2])
        }
        expectMessage(r, "reshape: cannot reshape [2, 3] (6 elements) to [4, 2]")
    }

    @Test func conv2dChannels() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = conv2d(Tensor.zeros([1, 3, 8, 8]), Tensor.zeros([4, 2, 3, 3]))
        }
        expectMessage(r, "conv2d: input [1, 3, 8, 8] and weight [4, 2, 3, 3] do not agree with groups=1")
    }

    @Test func axisOutOfRange() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]).sum(axis: 2)
        }
        expectMessage(r, "sum: axis 2 is out of range for a tensor of rank 2")
    }

    @Test func gatherIndexOutOfRange() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]).gather(axis: 1, index: Tensor([0, 5] as [Int64], shape: [2, 1]))
        }
        expectMessage(r, "gather: index 5 is out of range for a dimension of size 3")
    }

    @Test func backwardTwice() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let a = Tensor([1, 2] as [Float])
            a.requiresGrad = true
            let y = (a * a).sum()
            y.backward()
            y.backward()
        }
        expectMessage(r, "already freed by an earlier backward")
    }
}
