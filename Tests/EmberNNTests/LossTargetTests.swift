import Foundation
import Testing
import EmberTestSupport
@testable import EmberNN

/// Class targets a loss cannot use stop the process with a message naming the loss, the target and its batch row,
/// never an out-of-bounds read or a trap deep in gather; `validateClassTargets`, for targets from outside, throws the
/// same message.
@Suite struct LossTargetTests {
    @Test func nllLossWithFloatClassTargets() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = nllLoss(Tensor.zeros([2, 3]), Tensor([0, 1] as [Float]))
        }
        expectMessage(r, "nllLoss: class targets must be int32 or int64, got float32")
    }

    @Test func crossEntropyTargetOutOfRange() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = crossEntropy(Tensor.zeros([3, 4]), Tensor([0, 4, 1] as [Int64]))
        }
        expectMessage(r, "crossEntropy: target 4 is out of range for 4 classes (batch row 1)")
    }

    @Test func crossEntropyNegativeTarget() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = crossEntropy(Tensor.zeros([3, 4]), Tensor([0, 1, -1] as [Int64]))
        }
        expectMessage(r, "crossEntropy: target -1 is out of range for 4 classes (batch row 2)")
    }

    @Test func nllLossTargetOutOfRangeWithSpatialDimensions() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            // [N=2, C=3, L=2]: the bad target is at row 1, position 0
            _ = nllLoss(Tensor.zeros([2, 3, 2]), Tensor([0, 1, 7, 2] as [Int32], shape: [2, 2]))
        }
        expectMessage(r, "nllLoss: target 7 is out of range for 3 classes (batch row 1)")
    }

    // MARK: the throwing check for targets from outside

    func message(_ body: () throws -> Void) -> String? {
        do { try body(); return nil } catch { return "\(error)" }
    }

    @Test func classTargets() throws {
        try validateClassTargets(Tensor([0, 9, 3] as [Int64]), classes: 10, ignoreIndex: -100, op: "cross-entropy")
        try validateClassTargets(Tensor([0, -100, 3] as [Int32]), classes: 10, ignoreIndex: -100, op: "cross-entropy")
        try validateClassTargets(Tensor.zeros([0], dtype: .int64), classes: 10, ignoreIndex: nil, op: "cross-entropy")
        let labels: [Int64] = [1, 2, 3, 4, 0, 12, 3]
        #expect(message { try validateClassTargets(Tensor(labels), classes: 10, ignoreIndex: -100, op: "cross-entropy") }
                == "cross-entropy: target 12 is out of range for 10 classes (batch row 5)")
        #expect(message { try validateClassTargets(Tensor([0, -1] as [Int64]), classes: 10, ignoreIndex: -100, op: "cross-entropy") }
                == "cross-entropy: target -1 is out of range for 10 classes (batch row 1)")
        #expect(message { try validateClassTargets(Tensor([0, -100] as [Int64]), classes: 10, ignoreIndex: nil, op: "nll") }
                == "nll: target -100 is out of range for 10 classes (batch row 1)")
        // [N, d]: the batch row is the position along axis 0
        #expect(message { try validateClassTargets(Tensor([0, 1, 2, 3, 4, 5] as [Int64], shape: [3, 2]), classes: 4, ignoreIndex: nil,
                                                   op: "cross-entropy") }
                == "cross-entropy: target 4 is out of range for 4 classes (batch row 2)")
        #expect(message { try validateClassTargets(Tensor([0.0, 1] as [Float]), classes: 4, ignoreIndex: nil, op: "cross-entropy") }
                == "cross-entropy: class targets must be int32 or int64, got float32")
        #expect(throws: ClassTargetError.outOfRange(op: "x", target: 5, classes: 5, row: 0)) {
            try validateClassTargets(Tensor([5] as [Int64]), classes: 5, ignoreIndex: nil, op: "x")
        }
    }
}
