extension Module {
    /// Moves every parameter and buffer to `device` in place (as PyTorch's `module.to(device)`): the same tensor
    /// objects, so optimizers built on `parameters` and tied weights keep working; gradients move with them.
    /// Returns the module for chaining.
    @discardableResult
    public func to(_ device: Device) -> Self {
        var seen = Set<ObjectIdentifier>()
        for (_, t) in namedParameters() + namedBuffers() where seen.insert(ObjectIdentifier(t)).inserted {
            t.move(to: device)
        }
        return self
    }
}

extension Optimizer {
    /// Moves the optimizer's state (moments, momentum and accumulator buffers) to `device`, as after
    /// `model.to(device)`; state created later is made on the parameters' device.
    public func to(_ device: Device) {
        for (_, named) in buffers { for (_, t) in named { t.move(to: device) } }
    }
}
