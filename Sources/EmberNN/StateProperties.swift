/// What a `@Parameter` property may hold: a tensor, an optional tensor (nil: the parameter is absent, as PyTorch's
/// `register_parameter("bias", None)`), or a list of tensors (PyTorch's `ParameterList`, named "0", "1", ...).
public protocol ParameterValue {}
extension Tensor: ParameterValue {}
extension Optional: ParameterValue where Wrapped == Tensor {}
extension Array: ParameterValue where Element == Tensor {}

/// Marks a tensor property of a `Module` as a trainable parameter, as `nn.Parameter` does in PyTorch.
///
/// ```swift
/// final class Scale: Module {
///     @Parameter var gain = Tensor.ones([4])          // requiresGrad is set for you
///     @Parameter var shift: Tensor? = nil             // absent from the state dict while nil
///     @Parameter(key: "W") var projection = Tensor.zeros([4, 4])   // saved as "W" instead of "projection"
/// }
/// ```
///
/// The wrapper sets `requiresGrad` on the tensors it is given. A plain float `Tensor` property (`let weight: Tensor`)
/// is a parameter too, as it always was; a plain integer tensor is neither parameter nor buffer. The property's name
/// in the state dict is its Swift name in snake case (`inProjWeight` -> `in_proj_weight`) unless `key` is given.
@propertyWrapper
public final class Parameter<Value: ParameterValue> {
    /// The parameter tensor(s). Assigning another tensor (weight tying: `head.weight = embed.weight`) makes it
    /// the parameter; `requiresGrad` is set on it.
    public var wrappedValue: Value {
        didSet { Self.markTrainable(wrappedValue) }
    }
    /// The name under which it is saved, when it is not the property's snake-cased name.
    public let key: String?

    /// Wraps a parameter value; `key` overrides its state-dict name.
    public init(wrappedValue: Value, key: String? = nil) {
        self.wrappedValue = wrappedValue
        self.key = key
        Self.markTrainable(wrappedValue)
    }

    static func markTrainable(_ v: Value) {
        switch v {
        case let t as Tensor: t.requiresGrad = true
        case let ts as [Tensor]: for t in ts { t.requiresGrad = true }
        default: break
        }
    }
}

/// Marks a tensor property of a `Module` as a buffer: state saved with the model (running statistics) that is not a
/// trainable parameter. Integer buffers (step counters) are fine. `persistent: false` keeps it out of the state dict,
/// as PyTorch's `register_buffer(..., persistent=False)`.
@propertyWrapper
public final class Buffer<Value: ParameterValue> {
    /// The tensor(s).
    public var wrappedValue: Value
    /// The name under which it is saved, when it is not the property's snake-cased name.
    public let key: String?
    /// Whether it is part of the state dict.
    public let persistent: Bool
    /// Wraps a buffer value.
    public init(wrappedValue: Value, key: String? = nil, persistent: Bool = true) {
        self.wrappedValue = wrappedValue
        self.key = key
        self.persistent = persistent
    }
}

/// Marks a submodule property: a `Module`, an optional one, an array or a `[String: Module]` dictionary of them.
/// Plain `let` module properties are found without it; `@Child` adds two things: a `key` that overrides the name, and
/// a property that `Module.replaceModule(at:with:)` can swap (a new head for transfer learning) even when declared
/// `let`-like. Declare it with a base type (`@Child var head: Module = Linear(64, 10)`) to swap in another kind of
/// layer.
@propertyWrapper
public final class Child<Value> {
    /// The submodule(s).
    public var wrappedValue: Value
    /// The name under which it is saved, when it is not the property's snake-cased name.
    public let key: String?
    /// Wraps a submodule value.
    public init(wrappedValue: Value, key: String? = nil) {
        self.wrappedValue = wrappedValue
        self.key = key
    }
}

/// How reflection sees the wrappers above.
protocol StateSlot: AnyObject {
    var slotRole: SlotRole { get }
    var slotKey: String? { get }
    var slotValue: Any { get }
    /// Replaces the value with `module` (a `@Child` slot whose type admits it); false otherwise.
    func replaceSlot(with module: Module) -> Bool
}

enum SlotRole { case parameter, buffer(persistent: Bool), child }

extension Parameter: StateSlot {
    var slotRole: SlotRole { .parameter }
    var slotKey: String? { key }
    var slotValue: Any { wrappedValue }
    func replaceSlot(with module: Module) -> Bool { false }
}

extension Buffer: StateSlot {
    var slotRole: SlotRole { .buffer(persistent: persistent) }
    var slotKey: String? { key }
    var slotValue: Any { wrappedValue }
    func replaceSlot(with module: Module) -> Bool { false }
}

extension Child: StateSlot {
    var slotRole: SlotRole { .child }
    var slotKey: String? { key }
    var slotValue: Any { wrappedValue }
    func replaceSlot(with module: Module) -> Bool {
        guard let v = module as? Value else { return false }
        wrappedValue = v
        return true
    }
}
