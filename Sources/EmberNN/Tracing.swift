extension Module {
    /// The state-dict name of each parameter and buffer, keyed by tensor identity (a tied tensor keeps its first
    /// name, as `stateDict()` lists it first).
    public var tensorNames: [ObjectIdentifier: String] {
        var names: [ObjectIdentifier: String] = [:]
        for (name, t) in stateDict() where names[ObjectIdentifier(t)] == nil { names[ObjectIdentifier(t)] = name }
        return names
    }

    /// Records `forward` on `input` as a `Trace` of registry ops whose parameters and buffers are referenced by their
    /// state-dict names (`fc1.weight`, `bn.running_mean`). Put the module in the mode to export first (`eval()`).
    ///
    /// ```swift
    /// model.eval()
    /// let trace = try model.trace(Tensor.zeros([1, 1, 28, 28]))
    /// let y = trace.replay([x])[0]        // == model(x)
    /// ```
    public func trace(_ input: Tensor) throws -> Trace {
        try Trace.record(input: input, names: tensorNames) { self($0) }
    }
}
