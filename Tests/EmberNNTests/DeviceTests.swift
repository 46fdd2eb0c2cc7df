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
