/// A list of submodules named "0", "1", ..., as PyTorch's `nn.ModuleList`: a transformer's blocks.
///
/// ```swift
/// final class Encoder: Module {
///     let blocks = ModuleList((0..<6).map { _ in Block(dim: 64) })   // blocks.0.attn.in_proj_weight, ...
///     override func forward(_ x: Tensor) -> Tensor { blocks.reduce(x) { h, block in block(h) } }
/// }
/// ```
///
/// A plain `[Module]` property gives the same parameter names; `ModuleList` is a module itself (it appears in
/// `namedModules()` as PyTorch's does), can grow, and its elements can be replaced.
public final class ModuleList: Module, ModuleContainer, RandomAccessCollection {
    /// The modules, in order.
    public private(set) var modules: [Module]

    /// A list of `modules`.
    public init(_ modules: [Module] = []) { self.modules = modules }
    /// A list built from statements, as `Sequential`'s.
    public convenience init(@ModuleBuilder _ build: () -> [Module]) { self.init(build()) }

    /// Adds a module at the end (PyTorch's `append`).
    public func append(_ module: Module) { modules.append(module) }

    public var startIndex: Int { modules.startIndex }
    public var endIndex: Int { modules.endIndex }
    /// The module at position `i`; setting it replaces that module.
    public subscript(_ i: Int) -> Module {
        get { modules[i] }
        set { modules[i] = newValue }
    }

    var containerChildren: [(String, Module)] { modules.enumerated().map { ("\($0.offset)", $0.element) } }

    func replaceContainerChild(_ name: String, with module: Module) -> Bool {
        guard let i = Int(name), modules.indices.contains(i) else { return false }
        modules[i] = module
        return true
    }

    override public func forward(_ x: Tensor) -> Tensor {
        preconditionFailure("ModuleList has no forward: call its modules (for example `list.reduce(x) { $1($0) }`)")
    }
}

/// Submodules by name in insertion order, as PyTorch's `nn.ModuleDict`: a model's heads ("heads.cls.weight").
///
/// ```swift
/// let heads = ModuleDict(["cls": Linear(64, 10), "box": Linear(64, 4)])   // heads.cls.*, then heads.box.*
/// let logits = heads["cls"]!(features)
/// ```
///
/// The order is insertion order (a dictionary literal's written order), as in PyTorch; a plain `[String: Module]`
/// property, which has no order in Swift, is named in sorted key order instead.
public final class ModuleDict: Module, ModuleContainer {
    private var items: [(key: String, module: Module)]

    /// Modules from a dictionary literal, in the written order.
    public init(_ modules: KeyValuePairs<String, Module>) {
        items = []
        super.init()
        for (k, m) in modules { self[k] = m }
    }

    /// Modules from (name, module) pairs, in order.
    public init(_ modules: [(String, Module)]) {
        items = []
        super.init()
        for (k, m) in modules { self[k] = m }
    }

    /// The names, in order.
    public var keys: [String] { items.map(\.key) }
    /// The modules, in order.
    public var values: [Module] { items.map(\.module) }
    /// Number of modules.
    public var count: Int { items.count }

    /// The module named `key`. Setting a new name appends it; setting an existing one replaces it in place;
    /// setting nil removes it.
    public subscript(_ key: String) -> Module? {
        get { items.first { $0.key == key }?.module }
        set {
            precondition(!key.isEmpty && !key.contains("."), "ModuleDict: a key must be non-empty and contain no \".\", got \"\(key)\"")
            if let i = items.firstIndex(where: { $0.key == key }) {
                if let newValue { items[i].module = newValue } else { items.remove(at: i) }
            } else if let newValue {
                items.append((key, newValue))
            }
        }
    }

    var containerChildren: [(String, Module)] { items.map { ($0.key, $0.module) } }

    func replaceContainerChild(_ name: String, with module: Module) -> Bool {
        guard let i = items.firstIndex(where: { $0.key == name }) else { return false }
        items[i].module = module
        return true
    }

    override public func forward(_ x: Tensor) -> Tensor {
        preconditionFailure("ModuleDict has no forward: call its modules by name (`dict[\"cls\"]!(x)`)")
    }
}
