@_exported import EmberCore

/// The base class of every layer and model.
///
/// Parameters and submodules are found by reflection over stored properties and named by their path, so that a
/// model's state maps 1:1 onto PyTorch's `state_dict` names (`blocks.3.attn.in_proj_weight`, `heads.cls.weight`):
///
/// - a `@Parameter` tensor (or a plain floating-point `Tensor` property) is a parameter; a `@Buffer` tensor a
///   buffer; an integer tensor that is neither is ignored, as a plain tensor attribute is in PyTorch;
/// - a `Module` property is a child; optional ones count while non-nil;
/// - an array of modules gives children "name.0", "name.1", ... (as `nn.ModuleList`); a `[String: Module]`
///   dictionary gives "name.key" in sorted key order (a Swift dictionary has no order; `ModuleDict` keeps insertion
///   order, as PyTorch's does); arrays and dictionaries of tensors are parameter lists and dictionaries;
/// - a `Generator` (dropout's) is saved in training checkpoints.
///
/// Property-wrapper underscores are dropped and camelCase names become PyTorch's snake_case (`runningMean` ->
/// `running_mean`); `@Parameter(key:)`, `@Buffer(key:)`, `@Child(key:)` or `stateKeys` override a name. A tensor
/// held under two names (weight tying) is one parameter. The order is PyTorch's: each module's own parameters and
/// buffers in declaration order, then its children.
///
/// ```swift
/// final class Net: Module {
///     let fc1 = Linear(784, 128), fc2 = Linear(128, 10)
///     override func forward(_ x: Tensor) -> Tensor { fc2(fc1(x).relu()) }
/// }
/// ```
///
/// A layer whose input or output is not a single tensor (a recurrent cell's state, attention's mask) also adopts
/// `Layer`; see the "Custom layers" article.
open class Module {
    /// Training mode (dropout active, batch norm using batch statistics) or evaluation mode.
    public private(set) var training = true

    public init() {}

    /// The computation of a layer that maps one tensor to one tensor. Subclasses override it; a layer with other
    /// input or output types adopts `Layer` instead.
    open func forward(_ x: Tensor) -> Tensor {
        preconditionFailure("\(type(of: self)) does not take a single tensor: override forward(_:) for a tensor-to-tensor layer, "
                            + "or call it with the input type of its Layer conformance")
    }

    /// Calls `forward`.
    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x) }

    enum Entry {
        case parameter(Tensor)
        case buffer(Tensor, persistent: Bool)
        case child(Module)
        case generator(Generator)
    }

    /// State-dict names for plain (unwrapped) properties, keyed by the Swift property name: `["wQ": "W_q"]`.
    /// Wrapped properties take `key:` instead.
    open var stateKeys: [String: String] { [:] }

    /// Parameters whose names are made at run time, as PyTorch's `register_parameter(name, ...)` in a loop
    /// (`weight_ih_l0`, `bias_hh_l1_reverse` in recurrent layers): listed after the properties' entries. A module
    /// that overrides this keeps the tensors in a property the reflection skips (e.g. a `[[Tensor]]`).
    open var generatedParameters: [(String, Tensor)] { [] }

    /// Direct entries of this module, in declaration order (superclass properties first).
    func entries() -> [(String, Entry)] {
        if let container = self as? ModuleContainer { return container.containerChildren.map { ($0.0, .child($0.1)) } }
        var mirrors: [Mirror] = []
        var m: Mirror? = Mirror(reflecting: self)
        while let cur = m {
            mirrors.append(cur)
            m = cur.superclassMirror
        }
        let keys = stateKeys
        var out: [(String, Entry)] = []
        for mirror in mirrors.reversed() {
            for child in mirror.children {
                guard var label = child.label else { continue }
                if label.hasPrefix("_") { label.removeFirst() }
                if label == "training" { continue }
                let name: String
                if let slot = child.value as? StateSlot {
                    name = slot.slotKey ?? keys[label] ?? snakeCase(label)
                    Self.collect(name, slot.slotValue, role: slot.slotRole, into: &out)
                } else {
                    name = keys[label] ?? snakeCase(label)
                    Self.collect(name, child.value, role: nil, into: &out)
                }
            }
        }
        for (name, t) in generatedParameters { out.append((name, .parameter(t))) }
        if flattensChildArrays {
            out = out.map { name, e in
                if case .child = e { return (String(name.split(separator: ".").last!), e) }
                return (name, e)
            }
        }
        return out
    }

    /// Adds the entries a property value gives; `role` is what its wrapper declared (nil: a plain property).
    private static func collect(_ name: String, _ value: Any, role: SlotRole?, into out: inout [(String, Entry)]) {
        switch value {
        case let t as Tensor:
            switch role {
            case .parameter: out.append((name, .parameter(t)))
            case .buffer(let persistent): out.append((name, .buffer(t, persistent: persistent)))
            case .child, nil: if t.dtype.isFloatingPoint { out.append((name, .parameter(t))) }
            }
        case let c as Module: out.append((name, .child(c)))
        case let g as Generator: out.append((name, .generator(g)))
        case let list as [Tensor]:
            for (i, t) in list.enumerated() { collect("\(name).\(i)", t, role: role, into: &out) }
        case let list as [Module]:
            for (i, c) in list.enumerated() { out.append(("\(name).\(i)", .child(c))) }
        case let dict as [String: Module]:
            for k in dict.keys.sorted() { out.append(("\(name).\(k)", .child(dict[k]!))) }
        case let dict as [String: Tensor]:
            for k in dict.keys.sorted() { collect("\(name).\(k)", dict[k]!, role: role, into: &out) }
        default: return
        }
    }

    /// Whether children held in an array property are named by position alone ("0", "1", ...) rather than
    /// "property.0". `ModuleList`, `ModuleDict` and `Sequential` name their children themselves.
    open var flattensChildArrays: Bool { false }

    /// Direct submodules with their names (PyTorch's `named_children()`).
    public var namedChildren: [(String, Module)] {
        entries().compactMap { name, e in
            if case .child(let c) = e { return (name, c) }
            return nil
        }
    }

    /// This module and every submodule, depth first, each once, with its dotted path (PyTorch's `named_modules()`):
    /// the first entry is this module, named `prefix` ("" by default; its children are then "prefix.child"). A module
    /// reachable under two paths is listed under the first. Arrays and dictionaries of modules held in a property are not modules themselves (use
    /// `ModuleList`/`ModuleDict` to have them listed, as in PyTorch).
    public func namedModules(prefix: String = "") -> [(String, Module)] {
        var seen = Set<ObjectIdentifier>()
        var out: [(String, Module)] = []
        func walk(_ m: Module, _ name: String) {
            guard seen.insert(ObjectIdentifier(m)).inserted else { return }
            out.append((name, m))
            for (n, c) in m.namedChildren { walk(c, name.isEmpty ? n : name + "." + n) }
        }
        walk(self, prefix)
        return out
    }

    /// The submodule at a dotted path (`"blocks.3.attn"`), or nil. The empty path is this module.
    public func module(at path: String) -> Module? {
        var m: Module = self
        for part in path.split(separator: ".", omittingEmptySubsequences: true) {
            guard let next = m.namedChildren.first(where: { $0.0 == part })?.1 else { return nil }
            m = next
        }
        return m
    }

    /// Replaces the submodule at a dotted path (`"heads.cls"`, `"features.3"`) with `module`: a new head for
    /// transfer learning. The slot must be replaceable: an element of `Sequential`, `ModuleList` or `ModuleDict`, or
    /// a `@Child` property whose type admits `module`. A path that does not exist or a slot that cannot change is a
    /// programmer error.
    public func replaceModule(at path: String, with module: Module) {
        let parts = path.split(separator: ".").map(String.init)
        precondition(!parts.isEmpty, "replaceModule: the path is empty")
        let parentPath = parts.dropLast().joined(separator: ".")
        guard let parent = self.module(at: parentPath) else {
            preconditionFailure("replaceModule(at: \"\(path)\"): \(type(of: self)) has no submodule \"\(parentPath)\"")
        }
        precondition(parent.replaceChild(named: parts.last!, with: module),
                     "replaceModule(at: \"\(path)\"): \(type(of: parent)) has no replaceable child \"\(parts.last!)\" that can hold a "
                     + "\(type(of: module)) (its children: \(parent.namedChildren.map(\.0)); declare it `@Child var` with a base type, "
                     + "or hold it in a ModuleList/ModuleDict/Sequential)")
    }

    /// Replaces the direct child `name`; false when there is none or it cannot change.
    func replaceChild(named name: String, with module: Module) -> Bool {
        if let container = self as? ModuleContainer { return container.replaceContainerChild(name, with: module) }
        let keys = stateKeys
        var m: Mirror? = Mirror(reflecting: self)
        while let cur = m {
            for child in cur.children {
                guard var label = child.label, let slot = child.value as? StateSlot, case .child = slot.slotRole else { continue }
                if label.hasPrefix("_") { label.removeFirst() }
                if (slot.slotKey ?? keys[label] ?? snakeCase(label)) == name { return slot.replaceSlot(with: module) }
            }
            m = cur.superclassMirror
        }
        return false
    }

    /// Every parameter with its dotted path (`features.0.weight`, after `prefix` as given, e.g. "enc."), each tensor
    /// once, in PyTorch's `named_parameters()` order: modules depth first, each module's own parameters before its children's. A tensor
    /// held by two properties (weight tying) is listed under the first of its names. `stateDict()` keeps every name.
    public func namedParameters(prefix: String = "") -> [(String, Tensor)] {
        var seen = Set<ObjectIdentifier>()
        var out: [(String, Tensor)] = []
        for (path, m) in namedModules() {
            for (name, e) in m.entries() {
                if case .parameter(let t) = e, seen.insert(ObjectIdentifier(t)).inserted { out.append((prefix + join(path, name), t)) }
            }
        }
        return out
    }

    /// Every random generator owned by a layer (dropout), with its dotted path: checkpoints save their states.
    public func namedGenerators(prefix: String = "") -> [(String, Generator)] {
        var out: [(String, Generator)] = []
        for (path, m) in namedModules() {
            for (name, e) in m.entries() { if case .generator(let g) = e { out.append((prefix + join(path, name), g)) } }
        }
        return out
    }

    /// Every buffer with its dotted path, each tensor once (as PyTorch's `named_buffers()`).
    public func namedBuffers(prefix: String = "") -> [(String, Tensor)] {
        var seen = Set<ObjectIdentifier>()
        var out: [(String, Tensor)] = []
        for (path, m) in namedModules() {
            for (name, e) in m.entries() {
                if case .buffer(let t, _) = e, seen.insert(ObjectIdentifier(t)).inserted { out.append((prefix + join(path, name), t)) }
            }
        }
        return out
    }

    private func join(_ path: String, _ name: String) -> String { path.isEmpty ? name : path + "." + name }

    /// All parameters (frozen ones included), each tensor once (tied weights are one parameter), in
    /// `namedParameters()` order.
    public var parameters: [Tensor] { namedParameters().map(\.1) }

    /// Parameters that currently require gradients.
    public var trainableParameters: [Tensor] { parameters.filter(\.requiresGrad) }

    /// Number of parameter elements.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }

    /// Parameters and persistent buffers by name, in PyTorch `state_dict` order (each module's parameters, then its
    /// buffers, then its children). A tensor held under two names (weight tying) appears under both, as in PyTorch.
    public func stateDict() -> [(String, Tensor)] {
        var out: [(String, Tensor)] = []
        collectState(prefix: "", into: &out)
        return out
    }

    private func collectState(prefix: String, into out: inout [(String, Tensor)]) {
        let es = entries()
        for (name, e) in es { if case .parameter(let t) = e { out.append((prefix + name, t)) } }
        for (name, e) in es { if case .buffer(let t, true) = e { out.append((prefix + name, t)) } }
        for (name, e) in es { if case .child(let c) = e { c.collectState(prefix: prefix + name + ".", into: &out) } }
    }

    /// Copies values from `state` into this model's parameters and buffers (in place) and reports what matched.
    ///
    /// With `strict` (the default), a name missing from `state` or unknown to the model is an error. Without it,
    /// what matches is loaded and the report lists the rest: loading a backbone into a model with a new head. An
    /// entry whose shape differs is an error unless `skipMismatchedShapes` is set (then it is skipped and reported).
    /// Everything is checked before anything is copied: a failed load leaves the model as it was.
    @discardableResult
    public func loadStateDict(_ state: [String: Tensor], strict: Bool = true,
                              skipMismatchedShapes: Bool = false) throws -> StateDictLoadReport {
        let report = try validateStateDict(state, strict: strict, skipMismatchedShapes: skipMismatchedShapes)
        let skip = Set(report.shapeMismatched.map(\.name))
        for (name, t) in stateDict() where !skip.contains(name) {
            if let src = state[name] { t.assign(src) }
        }
        return report
    }

    /// Throws what `loadStateDict` would throw for `state`, without changing anything; otherwise returns its report.
    @discardableResult
    public func validateStateDict(_ state: [String: Tensor], strict: Bool = true,
                                  skipMismatchedShapes: Bool = false) throws -> StateDictLoadReport {
        let report = compareStateDict(state)
        if strict && (!report.missing.isEmpty || !report.unexpected.isEmpty) {
            throw ModelStateError.keysMismatch(missing: report.missing, unexpected: report.unexpected)
        }
        if !skipMismatchedShapes, let m = report.shapeMismatched.first {
            throw ModelStateError.shapeMismatch(name: m.name, expected: m.expected, got: m.got)
        }
        // A tensor of another dtype is refused unless the caller asks for conversion (`loadStateDict(_:dtypes:)`):
        // a float16 checkpoint or an F32 tensor relabelled I32 must not load silently.
        try validateStateDictDTypes(state, .exact)
        return report
    }

    /// How `state` matches this model's state dict (missing, unexpected and shape-mismatched names), changing
    /// nothing and throwing nothing.
    public func compareStateDict(_ state: [String: Tensor]) -> StateDictLoadReport {
        let mine = stateDict()
        let names = Set(mine.map(\.0))
        var report = StateDictLoadReport()
        report.missing = names.subtracting(state.keys).sorted()
        report.unexpected = Set(state.keys).subtracting(names).sorted()
        for (name, t) in mine {
            guard let src = state[name] else { continue }
            if src.shape == t.shape {
                report.loaded.append(name)
            } else if !report.shapeMismatched.contains(where: { $0.name == name }) {
                report.shapeMismatched.append(.init(name: name, expected: t.shape, got: src.shape))
            }
        }
        return report
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

/// What `Module.loadStateDict` loaded and what it did not.
public struct StateDictLoadReport: Equatable, Sendable {
    /// A state entry whose shape is not the model's.
    public struct ShapeMismatch: Equatable, Sendable {
        public var name: String, expected: [Int], got: [Int]
    }
    /// Names copied into the model, in state-dict order.
    public var loaded: [String] = []
    /// Model names the state lacks (sorted).
    public var missing: [String] = []
    /// State names the model lacks (sorted).
    public var unexpected: [String] = []
    /// Names present in both whose shapes differ (state-dict order).
    public var shapeMismatched: [ShapeMismatch] = []
    /// Whether every model entry was loaded from an entry of the same shape and nothing was left over.
    public var isComplete: Bool { missing.isEmpty && unexpected.isEmpty && shapeMismatched.isEmpty }
}

/// A module that names its children itself (`Sequential`, `ModuleList`, `ModuleDict`).
protocol ModuleContainer: Module {
    var containerChildren: [(String, Module)] { get }
    func replaceContainerChild(_ name: String, with module: Module) -> Bool
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
