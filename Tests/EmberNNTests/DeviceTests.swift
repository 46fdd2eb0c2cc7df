import Testing
@testable import EmberNN

/// Moving tensors, models and optimizer state between devices (here the CPU backend and the reference backend, both
/// in host memory): results agree with the CPU within float tolerance, and everything stays on the device it was
/// moved to.
@Suite struct DeviceTests {
    @Test func tensorsMoveAndGradientsFlowBack() {
        let x = Tensor([1, -2, 3] as [Float])
        x.requiresGrad = true
        let y = x.to(.reference)
        #expect(y.device == .reference && x.device == .cpu && y.scalars == x.scalars)
        (y * y).sum().backward()
        #expect(x.grad!.device == .cpu && x.grad!.scalars == [2, -4, 6])
        #expect(x.to(.cpu) === x)
    }

    /// A model built on the reference backend (no `to`) keeps everything there: parameters, batch-norm statistics,
    /// gradients, clipped gradients, and the state each optimizer creates lazily at its first step — which runs
    /// outside the scope that made the model, so the state must follow the parameters, not the default backend.
    @Test func aModelBuiltOnADeviceKeepsAllItsStateThere() {
        let device = Device.reference
        let optimizers: [(String, ([Tensor]) -> Optimizer)] = [
            ("SGD", { SGD($0, lr: 0.1, momentum: 0.9) }), ("Adam", { Adam($0, lr: 0.01) }),
            ("AdamW", { AdamW($0, lr: 0.01) }), ("RMSprop", { RMSprop($0, lr: 0.01, momentum: 0.5, centered: true) }),
            ("Adagrad", { Adagrad($0, lr: 0.1) }),
        ]
        for (name, make) in optimizers {
            let (model, x, y) = DefaultBackend.with(device.backend) {
                let g = Generator(seed: 7)
                let m = Sequential { Conv2d(1, 3, kernel: 3, generator: g); BatchNorm2d(3); ReLU(); Flatten(); Linear(48, 2, generator: g) }
                var r = RandomState(seed: 2)
                return (m, Tensor.normal([4, 1, 6, 6], rng: &r), Tensor.randint(0, 2, shape: [4], rng: &r))
            }
            let opt = make(model.parameters)
            for _ in 0..<2 {
                opt.zeroGrad()
                crossEntropy(model(x), y).backward()
                _ = clipGradNorm(model.parameters, maxNorm: 1)
                opt.step()
            }
            for (key, t) in model.stateDict() { #expect(t.device == device, "\(name): \(key) on \(t.device)") }
            for p in model.parameters { #expect(p.grad?.device == device, "\(name): a gradient on \(p.grad?.device as Any)") }
            #expect(!opt.buffers.isEmpty, "\(name) made no state")
            for (_, named) in opt.buffers {
                for (key, t) in named { #expect(t.device == device, "\(name): \(key) on \(t.device)") }
            }
            // state read from a checkpoint (host tensors) lands on the parameters' device
            var saved = opt.stateDict()
            saved.tensors = saved.tensors.mapValues { $0.to(.cpu) }
            let resumed = make(model.parameters)
            #expect(throws: Never.self) { try resumed.loadStateDict(saved) }
            for (_, named) in resumed.buffers {
                for (key, t) in named { #expect(t.device == device, "\(name) resumed: \(key) on \(t.device)") }
            }
            resumed.step()
        }
    }

    @Test func aModelAndItsOptimizerTrainOnTheReferenceBackendAsOnTheCPU() throws {
        func train(on device: Device) -> [String: [Float]] {
            let g = Generator(seed: 3)
            // (no conv bias before batch norm: its true gradient is 0, and Adam would turn rounding noise in it into full steps)
            let model = Sequential { Conv2d(1, 4, kernel: 3, bias: false, generator: g); BatchNorm2d(4); ReLU(); MaxPool2d(2); Flatten(); Linear(36, 3, generator: g) }
            let opt = Adam(model.parameters, lr: 0.01)
            var r = RandomState(seed: 5)
            let x = Tensor.normal([6, 1, 8, 8], rng: &r), y = Tensor.randint(0, 3, shape: [6], rng: &r)
            // one step on the CPU (so the optimizer has state), then the rest on `device`
            for step in 0..<4 {
                if step == 1 { model.to(device); opt.to(device) }
                let xs = x.to(model.parameters[0].device), ys = y.to(model.parameters[0].device)
                opt.zeroGrad()
                crossEntropy(model(xs), ys).backward()
                opt.step()
            }
            for (_, t) in model.stateDict() { #expect(t.device == device) }
            for (_, named) in opt.buffers { for (_, t) in named { #expect(t.device == device) } }
            return Dictionary(uniqueKeysWithValues: model.stateDict().map { ($0.0, $0.1.to(.cpu).cast(.float32).scalars) })
        }
        let cpu = train(on: .cpu), ref = train(on: .reference)
        for (name, values) in cpu {
            let other = try #require(ref[name])
            var worst = 0.0
            for (a, b) in zip(values, other) {
                let scale: Double = 1e-5 + 1e-4 * abs(Double(a))
                worst = max(worst, abs(Double(a) - Double(b)) / scale)
            }
            #expect(worst <= 1, "\(name): reference backend differs from the CPU by \(worst)x the tolerance")
        }
    }
}
