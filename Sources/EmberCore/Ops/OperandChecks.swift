/// Checks shared by the ops that take several tensors. Mixing dtypes or backends inside tensor code is a programmer
/// error: the process stops with a message that names the op and every operand, e.g.
/// `linear: input float64, weight float32: dtypes differ` or `linear: input on cpu#1, weight on cpu#2: backends differ`
/// (backends are numbered in order of appearance, so two instances of one kind are told apart).
///
/// Elementwise arithmetic, comparisons, `where` and `concat` promote dtypes instead (PyTorch's rule); they check
/// backends only.

/// Stops unless the given operands (nil ones skipped) share one dtype (when `sameDType`) and one backend.
public func checkOperands(_ op: String, _ operands: KeyValuePairs<String, Tensor?>, sameDType: Bool = true) {
    var first: Tensor? = nil
    var dtypesAgree = true, backendsAgree = true
    for (_, t) in operands {
        guard let t else { continue }
        guard let f = first else { first = t; continue }
        if t.dtype != f.dtype { dtypesAgree = false }
        if t.backend !== f.backend { backendsAgree = false }
    }
    if sameDType && !dtypesAgree {
        let list = operands.compactMap { name, t in t.map { "\(name) \($0.dtype)" } }
        preconditionFailure("\(op): \(list.joined(separator: ", ")): dtypes differ")
    }
    if !backendsAgree { preconditionFailure(backendMessage(op, operands.compactMap { name, t in t.map { (name, $0) } })) }
}

/// Stops unless all `tensors` are on one backend; they are named "tensor 0", "tensor 1", ...
public func checkSameBackend(_ op: String, _ tensors: [Tensor]) {
    guard let f = tensors.first, !tensors.allSatisfy({ $0.backend === f.backend }) else { return }
    preconditionFailure(backendMessage(op, tensors.enumerated().map { ("tensor \($0.offset)", $0.element) }))
}

/// Stops unless `index` holds integers (int32 or int64); `what` names it in the message ("index", "indices").
public func checkIndexDType(_ op: String, _ index: Tensor, _ what: String = "index") {
    precondition(index.dtype == .int64 || index.dtype == .int32, "\(op): \(what) must be int32 or int64, got \(index.dtype)")
}

private func backendMessage(_ op: String, _ named: [(String, Tensor)]) -> String {
    var seen: [ObjectIdentifier] = []
    let parts = named.map { name, t -> String in
        let id = ObjectIdentifier(t.backend)
        if !seen.contains(id) { seen.append(id) }
        return "\(name) on \(t.backend.name)#\(seen.firstIndex(of: id)! + 1)"
    }
    return "\(op): \(parts.joined(separator: ", ")): backends differ"
}

/// The operand `elements` elements further into the same memory (same strides, dtype and owner).
func offsetOperand(_ o: Operand, _ elements: Int) -> Operand {
    var r = o
    r.pointer += elements * o.dtype.byteSize
    return r
}
