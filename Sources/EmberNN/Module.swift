@_exported import EmberCore

/// Marks a tensor property of a `Module` as a buffer: state saved with the model (running statistics) that is not a
/// trainable parameter.
@propertyWrapper
public final class Buffer {
    /// The tensor.
    public var wrappedValue: Tensor
    /// Wraps a tensor.
    public init(wrappedValue: Tensor) { self.wrappedValue = wrappedValue }
}

/// The base class of every layer and model.
///
/// Parameters and submodules are found by reflection over stored properties and named by their path, so that a
/// model's state maps 1:1 onto PyTorch's `state_dict` names: a `Tensor` property is a parameter, a `@Buffer` tensor a
/// buffer, a `Module` property a child, and an array of modules gives children named "0", "1", ... Property-wrapper
/// underscores are dropped and camelCase names become PyTorch's snake_case (`runningMean` -> `running_mean`).
///
/// ```swift
/// final class Net: Module {
///     let fc1 = Linear(784, 128), fc2 = Linear(128, 10)
///     override func forward(_ x: Tensor) -> Tensor { fc2(fc1(x).relu()) }
/// }
/// ```
open class Module {
    /// Training mode (dropout active, batch norm using batch statistics) or evaluation mode.
    public private(set) var training = true

    public init() {}

    /// The computation. Subclasses override it.
    open func forward(_ x: Tensor) -> Tensor {
        preconditionFailure("\(type(of: self)) must override forward(_:)")
    }

    /// Calls `forward`.
    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x) }

    enum Entry {
        case parameter(Tensor)
        case buffer(Tensor)
        case child(Module)
        case generator(Generator)
    }

    /// Direct entries of this module, in declaration order (superclass properties first).
    func entries() -> [(String, Entry)] {
        var mirrors: [Mirror] = []
        var m: Mirror? = Mirror(reflecting: self)
        while let cur = m {
            mirrors.append(cur)
            m = cur.superclassMirror
        }
        var out: [(String, Entry)] = []
        for mirror in mirrors.reversed() {
            for child in mirror.children {
                guard var label = child.label else { continue }
                if label.hasPrefix("_") { label.removeFirst() }
                if label == "training" { continue }
                label = snakeCase(label)
                switch child.value {
                case let t as Tensor: out.append((label, .parameter(t)))
                case let b as Buffer: out.append((label, .buffer(b.wrappedValue)))
                case let c as Module: out.append((label, .child(c)))
                case let g as Generator: out.append((label, .generator(g)))
                case let list as [Module]:
                    for (i, c) in list.enumerated() { out.append(("\(label).\(i)", .child(c))) }
                default: continue
                }
            }
        }
        return out
    }

    /// Names used for this module's direct children. `Sequential` overrides this to name layers "0", "1", ...
    open var flattensChildArrays: Bool { false }

    /// Direct submodules with their names.
    public var namedChildren: [(String, Module)] {
        entries().compactMap { name, e in
            if case .child(let c) = e { return (flattensChildArrays ? String(name.split(separator: ".").last!) : name, c) }
            return nil
        }
    }

    /// Every parameter with its dotted path (`features.0.weight`), each tensor once: a tensor held by two properties
    /// (weight tying) is listed under the first of its names, as PyTorch's `named_parameters()` does. `stateDict()`
    /// keeps every name.
    public func namedParameters(prefix: String = "") -> [(String, Tensor)] {
        var seen = Set<ObjectIdentifier>()
        return allNamedParameters(prefix: prefix).filter { seen.insert(ObjectIdentifier($0.1)).inserted }
    }

    /// Every parameter under every name it has (a tied tensor appears more than once).
    private func allNamedParameters(prefix: String) -> [(String, Tensor)] {
        var out: [(String, Tensor)] = []
        for (name, e) in entries() {
            let n = flattensChildArrays ? String(name.split(separator: ".").last!) : name
            switch e {
            case .parameter(let t): out.append((prefix + n, t))
            case .child(let c): out += c.allNamedParameters(prefix: prefix + n + ".")
            case .buffer, .generator: break
            }
        }
        return out
    }

    /// Every random generator owned by a layer (dropout), with its dotted path: checkpoints save their states.
    public func namedGenerators(prefix: String = "") -> [(String, Generator)] {
        var out: [(String, Generator)] = []
        for (name, e) in entries() {
            let n = flattensChildArrays ? String(name.split(separator: ".").last!) : name
            switch e {
            case .generator(let g): out.append((prefix + n, g))
            case .child(let c): out += c.namedGenerators(prefix: prefix + n + ".")
            default: break
            }
        }
        return out
    }

    /// Every buffer with its dotted path, each tensor once (as PyTorch's `named_buffers()`).
    public func namedBuffers(prefix: String = "") -> [(String, Tensor)] {
        var seen = Set<ObjectIdentifier>()
        return allNamedBuffers(prefix: prefix).filter { seen.insert(ObjectIdentifier($0.1)).inserted }
    }

    private func allNamedBuffers(prefix: String) -> [(String, Tensor)] {
        var out: [(String, Tensor)] = []
        for (name, e) in entries() {
            let n = flattensChildArrays ? String(name.split(separator: ".").last!) : name
            switch e {
            case .buffer(let t): out.append((prefix + n, t))
            case .child(let c): out += c.allNamedBuffers(prefix: prefix + n + ".")
            case .parameter, .generator: break
            }
        }
        return out
    }

    /// All parameters (frozen ones included), each tensor once (tied weights are one parameter), in
    /// `namedParameters()` order.
    public var parameters: [Tensor] { namedParameters().map(\.1) }

    /// Parameters that currently require gradients.
    public var trainableParameters: [Tensor] { parameters.filter(\.requiresGrad) }

    /// Number of parameter elements.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }

    /// Parameters and buffers by name, in PyTorch `state_dict` order (each module's parameters, then its buffers).
    /// A tensor held under two names (weight tying) appears under both, as in PyTorch.
    public func stateDict() -> [(String, Tensor)] {
        var out: [(String, Tensor)] = []
        collectState(prefix: "", into: &out)
        return out
    }

    private func collectState(prefix: String, into out: inout [(String, Tensor)]) {
        let es = entries()
        for (name, e) in es { if case .parameter(let t) = e { out.append((prefix + shortName(name), t)) } }
        for (name, e) in es { if case .buffer(let t) = e { out.append((prefix + shortName(name), t)) } }
        for (name, e) in es { if case .child(let c) = e { c.collectState(prefix: prefix + shortName(name) + ".", into: &out) } }
    }

    private func shortName(_ name: String) -> String {
        flattensChildArrays ? String(name.split(separator: ".").last!) : name
    }

    /// Copies values from `state` into this model's parameters and buffers (in place, shapes must match).
    /// With `strict`, missing or unexpected names are an error.
    public func loadStateDict(_ state: [String: Tensor], strict: Bool = true) throws {
        // Check every name and shape before copying anything, so a failed load leaves the model as it was.
        try validateStateDict(state, strict: strict)
        for (name, t) in stateDict() {
            if let src = state[name] { t.assign(src) }
        }
    }

    /// Throws what `loadStateDict` would throw for `state`, without changing anything.
    public func validateStateDict(_ state: [String: Tensor], strict: Bool = true) throws {
        let mine = stateDict()
        let names = Set(mine.map(\.0))
        if strict {
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

    /// Switches this module and its children to training (true) or evaluation (false) mode.
    public func train(_ on: Bool = true) {
        training = on
        for (_, c) in namedChildren { c.train(on) }
    }

    /// Evaluation mode: same as `train(false)`.
    public func eval() { train(false) }

    /// Stops gradients for every parameter (for transfer learning); `unfreeze` undoes it.
    public func freeze() { for p in parameters { p.requiresGrad = false } }
    /// Lets every parameter receive gradients again.
    public func unfreeze() { for p in parameters { p.requiresGrad = true } }

    /// Clears every parameter's gradient.
    public func zeroGrad() { for p in parameters { p.grad = nil } }

    /// A short description of this layer's configuration (used by `summary`).
    open var layerDescription: String { String(describing: type(of: self)) }
}

/// PyTorch's naming style for a Swift property name: `runningMean` -> `running_mean`, `fc1` -> `fc1`.
func snakeCase(_ name: String) -> String {
    var out = ""
    for ch in name {
        if ch.isUppercase {
            if !out.isEmpty { out.append("_") }
            out.append(contentsOf: ch.lowercased())
        } else {
            out.append(ch)
        }
    }
    return out
}

/// Errors from loading a model's state.
public enum ModelStateError: Error, CustomStringConvertible, Equatable {
    /// Names that the model has and the state lacks, and names in the state the model lacks.
    case keysMismatch(missing: [String], unexpected: [String])
    /// A tensor whose shape differs from the model's.
    case shapeMismatch(name: String, expected: [Int], got: [Int])

    public var description: String {
        switch self {
        case .keysMismatch(let m, let u):
            return "state dict does not match the model: missing \(m), unexpected \(u)"
        case .shapeMismatch(let n, let e, let g):
            return "state dict entry '\(n)': expected shape \(e), got \(g)"
        }
    }
}
