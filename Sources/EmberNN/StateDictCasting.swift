import EmberCore

/// How `Module.loadStateDict(_:strict:dtypes:)` treats a stored tensor whose dtype differs from the model's.
public enum StateDictDTypes: Sendable, Equatable {
    /// Every tensor must have the dtype of the parameter or buffer it loads into; a mismatch throws
    /// `StateDictDTypeError` naming the tensor and both dtypes, and nothing is loaded.
    case exact
    /// Floating-point tensors are converted to the model's float dtype as `Tensor.cast` converts (a float16 or
    /// bfloat16 checkpoint into a float32 model is exact, bit for bit PyTorch's `t.float()`). A mismatch that
    /// involves a non-float dtype (int64 ids into a float parameter, say) still throws.
    case convertFloats
}

/// A state dict entry whose dtype does not match the model's (see `StateDictDTypes`).
public struct StateDictDTypeError: Error, CustomStringConvertible, Equatable {
    /// The entry's name, e.g. `encoder.layers.0.attention.query.weight`.
    public let name: String
    /// The dtype of the model's parameter or buffer.
    public let expected: DType
    /// The dtype of the stored tensor.
    public let got: DType

    public var description: String {
        let hint = expected.isFloatingPoint && got.isFloatingPoint
            ? "; load with dtypes: .convertFloats (or read the file with SafeTensors.read(from:convertingTo:)) to convert"
            : ""
        return "state dict entry '\(name)': the model holds \(expected), the state \(got)\(hint)"
    }
}

extension Module {
    /// Copies values from `state` into this model's parameters and buffers, like `loadStateDict(_:strict:)`, with an
    /// explicit rule for dtypes: `.exact` refuses any mismatch, `.convertFloats` converts float tensors (a Hugging
    /// Face float16/bfloat16 checkpoint into a float32 model):
    ///
    /// ```swift
    /// let (weights, _) = try SafeTensors.read(from: url)          // as stored: float16
    /// try model.loadStateDict(weights, dtypes: .convertFloats)     // into float32 parameters
    /// ```
    ///
    /// Names, shapes and dtypes are all checked before anything is copied.
    /// - Throws: `ModelStateError` (names, shapes), `StateDictDTypeError` (dtypes).
    public func loadStateDict(_ state: [String: Tensor], strict: Bool = true, dtypes: StateDictDTypes) throws {
        try validateStateDictNamesAndShapes(state, strict: strict)
        try validateStateDictDTypes(state, dtypes)
        for (name, t) in stateDict() {
            if let src = state[name] { t.assign(src) }   // converts the dtype as `cast` does
        }
    }

    /// `validateStateDict` without its dtype rule (whichever it has), so that `.convertFloats` stays independent of it.
    private func validateStateDictNamesAndShapes(_ state: [String: Tensor], strict: Bool) throws {
        let mine = stateDict()
        if strict {
            let names = Set(mine.map(\.0))
            let missing = names.subtracting(state.keys).sorted(), unexpected = Set(state.keys).subtracting(names).sorted()
            if !missing.isEmpty || !unexpected.isEmpty {
                throw ModelStateError.keysMismatch(missing: missing, unexpected: unexpected)
            }
        }
        for (name, t) in mine {
            guard let src = state[name] else { continue }
            guard src.shape == t.shape else { throw ModelStateError.shapeMismatch(name: name, expected: t.shape, got: src.shape) }
        }
    }

    /// Throws `StateDictDTypeError` for the first entry (in `stateDict()` order) whose dtype `rule` does not accept.
    public func validateStateDictDTypes(_ state: [String: Tensor], _ rule: StateDictDTypes = .exact) throws {
        for (name, t) in stateDict() {
            guard let src = state[name], src.dtype != t.dtype else { continue }
            if rule == .convertFloats && src.dtype.isFloatingPoint && t.dtype.isFloatingPoint { continue }
            throw StateDictDTypeError(name: name, expected: t.dtype, got: src.dtype)
        }
    }
}
