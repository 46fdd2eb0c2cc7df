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

/// A safetensors file whose F32 tensor was relabelled I32 (same bytes) is refused by a plain `loadStateDict`,
/// naming the tensor and both dtypes — it used to be converted value by value, silently loading garbage.
@Suite struct RelabelledDTypeTests {
    @Test func relabelledTensorIsRefusedByDefault() throws {
        let model = Linear(3, 2)
        var state = Dictionary(uniqueKeysWithValues: model.stateDict())
        let w = state["weight"]!
        // the same 4-byte patterns read as int32, as a hand-edited header would make the reader do
        let bits = w.scalars.map { Int32(bitPattern: $0.bitPattern) }
        state["weight"] = Tensor(bits, shape: w.shape)
        let before = model.weight.scalars
        #expect(throws: StateDictDTypeError.self) { _ = try model.loadStateDict(state) }
        do { _ = try model.loadStateDict(state) } catch {
            #expect("\(error)".contains("weight") && "\(error)".contains("int32") && "\(error)".contains("float32"), "\(error)")
        }
        #expect(model.weight.scalars == before, "nothing loaded")
    }
}
