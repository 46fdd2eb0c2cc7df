import Testing
@testable import EmberNN

/// Loading a float16 / bfloat16 state into a float32 model: refused by `.exact` with a message naming the tensor and
/// both dtypes, converted exactly by `.convertFloats`.
@Suite struct StateDictCastingTests {
    func halfState(_ model: Linear, _ dt: DType) -> [String: Tensor] {
        var s: [String: Tensor] = [:]
        for (name, t) in model.stateDict() { s[name] = (t * 0.5 + 0.1).cast(dt) }
        return s
    }

    @Test func exactRefusesAMismatchAndLoadsNothing() throws {
        let model = Linear(4, 3)
        let before = model.weight.toArray(Float.self)
        #expect(throws: StateDictDTypeError(name: "weight", expected: .float32, got: .float16)) {
            try model.loadStateDict(halfState(model, .float16), dtypes: .exact)
        }
        #expect(model.weight.toArray(Float.self) == before)
        let e = StateDictDTypeError(name: "encoder.weight", expected: .float32, got: .bfloat16)
        #expect(e.description.hasPrefix("state dict entry 'encoder.weight': the model holds float32, the state bfloat16"))
    }

    @Test func convertFloatsLoadsHalfCheckpointsExactly() throws {
        for dt in [DType.float16, .bfloat16] {
            let model = Linear(4, 3)
            let state = halfState(model, dt)
            try model.loadStateDict(state, dtypes: .convertFloats)
            #expect(model.weight.dtype == .float32)
            #expect(model.weight.toArray(Float.self) == state["weight"]!.toArray(Float.self))
            #expect(model.bias!.toArray(Float.self) == state["bias"]!.toArray(Float.self))
        }
    }

    @Test func convertFloatsStillRefusesNonFloatMismatches() throws {
        let model = Linear(2, 1)
        var state = halfState(model, .float32)
        state["weight"] = Tensor([1, 2] as [Int64], shape: [1, 2])
        #expect(throws: StateDictDTypeError(name: "weight", expected: .float32, got: .int64)) {
            try model.loadStateDict(state, dtypes: .convertFloats)
        }
    }
}
