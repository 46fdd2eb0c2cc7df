import Ember
import Foundation

/// Training and inference workloads with the exact shapes of ../shared/bench-ref (PyTorch reference):
/// synthetic data made once (seed 0) and reused every step, float32, Adam(lr 1e-3), cross-entropy.
func trainingWorkloads(seconds: Double, threads: Int) -> [Workload] {
    func mlp() -> Sequential {
        Sequential {
            Linear(784, 512); ReLU()
            Linear(512, 256); ReLU()
            Linear(256, 10)
        }
    }
    func lenet() -> Sequential {
        Sequential {
            Conv2d(1, 32, kernel: 3); ReLU(); MaxPool2d(2)
            Conv2d(32, 64, kernel: 3); ReLU(); MaxPool2d(2)
            Flatten(); Linear(1600, 128); ReLU(); Linear(128, 10)
        }
    }
    func trainStep(_ model: Module, _ opt: Optimizer, _ x: Tensor, _ y: Tensor) {
        opt.zeroGrad()
        let loss = crossEntropy(model(x), y)
        loss.backward()
        opt.step()
    }
    func result(_ name: String, batch: Int, seconds t: Double) -> BenchResult {
        BenchResult(name: name, value: Double(batch) / t, unit: "samples/s",
                    extra: ["ms_per_step": String(format: "%.3f", t * 1e3), "threads": "\(threads)",
                            "peak_rss_mb": String(format: "%.1f", Double(peakResidentBytes()) / 1e6)])
    }
    return [
        Workload(name: "mlp_train") {
            Generator.manualSeed(0)
            var rng = RandomState(seed: 0)
            let model = mlp(), opt = Adam(model.parameters, lr: 1e-3)
            let x = Tensor.normal([128, 784], rng: &rng), y = Tensor.randint(0, 10, shape: [128], rng: &rng)
            let t = timeMedian(seconds: seconds) { trainStep(model, opt, x, y) }
            return result("mlp_train", batch: 128, seconds: t)
        },
        Workload(name: "mlp_infer") {
            Generator.manualSeed(0)
            var rng = RandomState(seed: 0)
            let model = mlp()
            model.eval()
            let x = Tensor.normal([128, 784], rng: &rng)
            let t = timeMedian(seconds: seconds) { _ = withoutGrad { model(x) } }
            return result("mlp_infer", batch: 128, seconds: t)
        },
        Workload(name: "loader_fashion_mnist") {
            // One epoch of Fashion-MNIST training batches (128) with random crop + flip + normalize, 2 workers.
            guard let train = try? Datasets.fashionMNIST(.train) else {
                return BenchResult(name: "loader_fashion_mnist", value: .nan, unit: "images/s",
                                   extra: ["skipped": "dataset-fashion-mnist not installed (apt-get install -y dataset-fashion-mnist)"])
            }
            let augment = Compose([RandomCrop(28, padding: 2), HorizontalFlip(), Normalize(mean: [0.2860], std: [0.3530])])
            let loader = DataLoader(train, batchSize: 128, shuffle: true, rng: RandomState(seed: 0), workers: 2,
                                    transform: augment.transform)
            var images = 0
            let t0 = DispatchTime.now().uptimeNanoseconds
            for (x, _) in loader.epoch(0) { images += x.shape[0] }
            let secs = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            return BenchResult(name: "loader_fashion_mnist", value: Double(images) / secs, unit: "images/s",
                               extra: ["workers": "2", "batch": "128", "images": "\(images)", "seconds": String(format: "%.2f", secs)])
        },
        Workload(name: "lenet_train") {
            Generator.manualSeed(0)
            var rng = RandomState(seed: 0)
            let model = lenet(), opt = Adam(model.parameters, lr: 1e-3)
            let x = Tensor.normal([64, 1, 28, 28], rng: &rng), y = Tensor.randint(0, 10, shape: [64], rng: &rng)
            let t = timeMedian(seconds: seconds) { trainStep(model, opt, x, y) }
            return result("lenet_train", batch: 64, seconds: t)
        },
        Workload(name: "cifar_cnn_train") {
            // spec c: three conv(3x3, pad 1, no bias)-BN-ReLU-maxpool blocks (3->32->64->128, 32x32 -> 4x4), linear to
            // 10, batch 128, Adam(1e-3), training mode
            Generator.manualSeed(0)
            var rng = RandomState(seed: 0)
            func block(_ cin: Int, _ cout: Int) -> [Module] {
                [Conv2d(cin, cout, kernel: 3, padding: 1, bias: false), BatchNorm2d(cout), ReLU(), MaxPool2d(2)]
            }
            let model = Sequential(block(3, 32) + block(32, 64) + block(64, 128) + [Flatten(), Linear(128 * 4 * 4, 10)])
            let opt = Adam(model.parameters, lr: 1e-3)
            let x = Tensor.normal([128, 3, 32, 32], rng: &rng), y = Tensor.randint(0, 10, shape: [128], rng: &rng)
            let t = timeMedian(seconds: seconds) { trainStep(model, opt, x, y) }
            return result("cifar_cnn_train", batch: 128, seconds: t)
        },
        Workload(name: "char_lstm_train") {
            // spec d: embedding 64, LSTM 256 (one layer, batch-first, zero initial state), head to 65 tokens,
            // batch 32 x 64 tokens, Adam(1e-3), next-token cross-entropy
            Generator.manualSeed(0)
            var rng = RandomState(seed: 0)
            let model = CharLSTM(), opt = Adam(model.parameters, lr: 1e-3)
            let idx = Tensor.randint(0, 65, shape: [32, 64], rng: &rng), tgt = Tensor.randint(0, 65, shape: [32 * 64], rng: &rng)
            let t = timeMedian(seconds: seconds) {
                opt.zeroGrad()
                crossEntropy(model(idx).reshaped([-1, 65]), tgt).backward()
                opt.step()
            }
            return BenchResult(name: "char_lstm_train", value: Double(32 * 64) / t, unit: "tokens/s",
                               extra: ["ms_per_step": String(format: "%.3f", t * 1e3), "threads": "\(threads)",
                                       "peak_rss_mb": String(format: "%.1f", Double(peakResidentBytes()) / 1e6)])
        },
        Workload(name: "gpt_train") {
            // spec e: V 65, d_model 128, 4 heads, 4 pre-LN layers, context 128, batch 16, learned positions, untied
            // head without bias, no dropout (826,368 parameters); AdamW(lr 3e-4, wd 0.01); causal attention on the
            // fused scaled-dot-product kernel; next-token cross-entropy over all 16 x 128 positions
            Generator.manualSeed(0)
            var rng = RandomState(seed: 0)
            let model = GPT(GPTConfig(vocabSize: 65, context: 128, dModel: 128, heads: 4, layers: 4))
            precondition(model.parameterCount == 826_368, "gpt_train: \(model.parameterCount) parameters, spec e has 826,368")
            let opt = AdamW(model.parameters, lr: 3e-4, weightDecay: 0.01)
            let idx = Tensor.randint(0, 65, shape: [16, 128], rng: &rng), tgt = Tensor.randint(0, 65, shape: [16 * 128], rng: &rng)
            let t = timeMedian(seconds: seconds) {
                opt.zeroGrad()
                crossEntropy(model(idx).reshaped([-1, 65]), tgt).backward()
                opt.step()
            }
            return BenchResult(name: "gpt_train", value: Double(16 * 128) / t, unit: "tokens/s",
                               extra: ["ms_per_step": String(format: "%.3f", t * 1e3), "threads": "\(threads)",
                                       "params": "\(model.parameterCount)",
                                       "peak_rss_mb": String(format: "%.1f", Double(peakResidentBytes()) / 1e6)])
        },
    ]
}

/// The character LSTM of the PyTorch reference's workload d.
final class CharLSTM: Module {
    let emb = Embedding(65, 64)
    let lstm = LSTM(64, 256, batchFirst: true)
    let head = Linear(256, 65)
    override func forward(_ idx: Tensor) -> Tensor { head(lstm(emb(idx)).output) }
}

/// Peak resident memory of this process (VmHWM), in bytes.
func peakResidentBytes() -> Int {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in s.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let kb = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
        return kb * 1024
    }
    return 0
}
