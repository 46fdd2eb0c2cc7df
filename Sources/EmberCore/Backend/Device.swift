import Foundation

/// Where a tensor's memory lives and its kernels run: a backend. `Device.cpu` (the fast CPU backend) and
/// `Device.reference` (the plain oracle) today; a GPU backend adds a device of its own.
///
/// ```swift
/// let x = Tensor.normal([64, 784], rng: &rng).to(.reference)
/// model.to(.reference)                 // parameters and buffers, in place
/// optimizer.to(.reference)             // its moments and buffers
/// ```
public struct Device: Sendable, Equatable, CustomStringConvertible {
    /// The backend behind the device.
    public let backend: any Backend

    /// A device for `backend`.
    public init(_ backend: any Backend) { self.backend = backend }

    /// The CPU backend (OpenBLAS, vectorized kernels).
    public static var cpu: Device { Device(CPUBackend.shared) }
    /// The reference backend (plain loops; the oracle).
    public static var reference: Device { Device(ReferenceBackend.shared) }

    public static func == (a: Device, b: Device) -> Bool { a.backend === b.backend }
    public var description: String { backend.name }
}

extension Backend {
    /// Host memory unless a backend says otherwise.
    public var isHostMemory: Bool { true }

    /// Copies `byteCount` bytes from host memory into this backend's memory at `destination`. Host-memory backends
    /// (CPU, reference) copy directly; a device backend implements this requirement with its upload.
    public func upload(_ source: UnsafeRawPointer, byteCount: Int, into destination: UnsafeMutableRawPointer) {
        destination.copyMemory(from: source, byteCount: byteCount)
    }

    /// Copies `byteCount` bytes of this backend's memory at `source` into host memory, after pending work on it has
    /// finished. Host-memory backends copy directly; a device backend implements this requirement: it synchronizes and
    /// downloads.
    public func download(_ source: UnsafeRawPointer, byteCount: Int, into destination: UnsafeMutableRawPointer) {
        destination.copyMemory(from: source, byteCount: byteCount)
    }
}

/// Moves a tensor between devices; the gradient goes back to the source device.
struct ToDevice: PrimitiveOp {
    static let name = "to_device"
    static var savesInputs: Bool { false }
    let target: Device
    let source: Device
    var attributes: [String: OpAttribute] { ["device": .string(target.description)] }
    func forward(_ x: [Tensor]) -> Tensor { transfer(x[0], to: target.backend) }
    func vjp(_ g: Tensor, _ ctx: VJPContext) -> [Tensor?] { [g.to(source)] }
}

/// A contiguous copy of `t` in `backend`'s memory, through host memory.
func transfer(_ t: Tensor, to backend: any Backend) -> Tensor {
    let src = t.contiguousData()
    let out = Tensor.empty(t.shape, dtype: t.dtype, backend: backend)
    let bytes = t.count * t.dtype.byteSize
    if bytes > 0 {
        let host = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        defer { host.deallocate() }
        withExtendedLifetime(src) {
            src.backend.download(src.operand.pointer, byteCount: bytes, into: host)
            backend.upload(host, byteCount: bytes, into: out.operand.pointer)
        }
    }
    return out
}

extension Tensor {
    /// The device this tensor's memory is on.
    public var device: Device { Device(backend) }

    /// This tensor on `device`: itself when already there, else a copy (as PyTorch's `tensor.to(device)`);
    /// gradients flow back to this tensor.
    public func to(_ device: Device) -> Tensor {
        if device.backend === backend { return self }
        return Tensor.apply(ToDevice(target: device, source: self.device), [self])
    }

    /// Moves this tensor's data to `device` in place: the same tensor object, its memory replaced (its gradient
    /// moves too). What `Module.to(_:)` and `Optimizer.to(_:)` do to parameters, buffers and optimizer state, so
    /// references to them (optimizer groups, tied weights) stay valid. Views made earlier keep the old memory.
    public func move(to device: Device) {
        guard device.backend !== backend else { return }
        let moved = transfer(self, to: device.backend)
        storage = moved.storage
        strides = moved.strides
        offset = 0
        if let g = grad { g.move(to: device) }
    }
}
