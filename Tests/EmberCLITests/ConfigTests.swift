import Foundation
import Testing
import EmberTestSupport
@testable import EmberCLI

@Suite struct ConfigTests {
    @Test func defaultConfigIsTheDigitsCNN() throws {
        let c = try ExperimentConfig.parse(DefaultConfig.yaml)
        #expect(c.data.dataset == "digits")
        #expect(c.data.shape == [1, 8, 8])
        #expect(c.data.scale == 0.0625)
        #expect(c.model.preset == "cnn-small")
        #expect(c.model.options.channels == [32, 64])
        #expect(c.training.optimizer == OptimizerConfig(name: "adamw", lr: 0.002, weightDecay: 0.0001))
        #expect(c.training.schedule == .cosine(minLR: 0))
        #expect(c.training.checkpoint.everyBatches == 20)
        #expect(c.outputs.name == "digits-cnn")
        #expect(c.runDirectory.path.hasSuffix("runs/digits-cnn"))
        #expect(c.defaultMonitor == "val_loss")
    }

    @Test func examplesParse() throws {
        let dir = repositoryRoot.appendingPathComponent("examples")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".json") }
        #expect(files.count >= 2)
        for f in files {
            let path = dir.appendingPathComponent(f).path
            let text = try String(contentsOfFile: path, encoding: .utf8)
            if ReconstructionConfig.isReconstruction(text) {   // `task: reconstruction`: its own schema
                #expect(try ReconstructionConfig.parse(text, file: path).epochs >= 1, "\(f)")
                continue
            }
            let c = try ExperimentConfig.parse(text, file: path)
            #expect(c.training.epochs >= 1, "\(f)")
        }
    }

    @Test func jsonIsAcceptedAndEqualsTheYAMLForm() throws {
        let json = """
            {"data": {"dataset": "iris", "preparation": ["standardize"], "split": {"test": 0.25, "validation": 0}},
             "model": {"layers": [{"linear": 16}, "relu", {"type": "dropout", "p": 0.1}, {"linear": {"out": 3}}]},
             "training": {"optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": true},
                          "schedule": {"name": "step", "step_size": 5, "gamma": 0.5}, "epochs": 3, "loss": {"cross_entropy": {"label_smoothing": 0.1}}},
             "outputs": {"name": "iris-json"}}
            """
        let yaml = """
            data:
              dataset: iris
              preparation: [standardize]
              split: {test: 0.25, validation: 0}
            model:
              layers:
                - linear: 16
                - relu
                - {dropout: 0.1}
                - linear: {out: 3}
            training:
              optimizer: {name: sgd, lr: 0.1, momentum: 0.9, nesterov: true}
              schedule: {step: {step_size: 5, gamma: 0.5}}
              epochs: 3
              loss: {cross_entropy: {label_smoothing: 0.1}}
            outputs: {name: iris-json}
            """
        let a = try ExperimentConfig.parse(json), b = try ExperimentConfig.parse(yaml)
        for c in [a, b] {
            #expect(c.data.preparation == [.standardScaler(StandardScaler())])
            #expect(c.data.split.test == 0.25 && c.data.split.validation == 0)
            #expect(c.defaultMonitor == "loss")
            #expect(c.model.layers?.map(\.type) == ["linear", "relu", "dropout", "linear"])
            #expect(c.model.layers?[0].out == 16 && c.model.layers?[2].p == 0.1 && c.model.layers?[3].out == 3)
            #expect(c.training.optimizer.name == "sgd" && c.training.optimizer.momentum == 0.9 && c.training.optimizer.nesterov)
            #expect(c.training.schedule == .step(stepSize: 5, gamma: 0.5))
            #expect(c.training.loss == .crossEntropy(labelSmoothing: 0.1))
            #expect(c.outputs.name == "iris-json")
        }
    }

    @Test func overridesReplaceValuesAndCreateKeys() throws {
        let c = try ExperimentConfig.parse(DefaultConfig.yaml, overrides: [
            "training.epochs=3", "training.optimizer.lr=0.01", "data.split.validation=0", "outputs.name=quick",
            "training.callbacks.early_stopping.patience=2",
        ])
        #expect(c.training.epochs == 3)
        #expect(c.training.optimizer.lr == 0.01)
        #expect(c.training.optimizer.name == "adamw")
        #expect(c.data.split.validation == 0)
        #expect(c.outputs.name == "quick")
        #expect(c.training.earlyStopping?.patience == 2)
        #expect(c.training.earlyStopping?.monitor == nil)   // defaults to `loss` without validation
        // A scalar form (`optimizer: sgd`) takes sub-keys too.
        let d = try ExperimentConfig.parse("data: {dataset: wine}\nmodel: {preset: mlp}\ntraining: {optimizer: sgd}\n",
                                           overrides: ["training.optimizer.lr=0.5"])
        #expect(d.training.optimizer.name == "sgd" && d.training.optimizer.lr == 0.5)
        // The saved document holds the overrides and names its outputs, so a resumed run reads it back the same.
        let again = try ExperimentConfig.parse(c.document)
        #expect(again.training.epochs == 3 && again.outputs.name == "quick" && again.outputs.directory == "runs")
        // The run directory option splits into outputs.directory and outputs.name.
        let e = try ExperimentConfig.parse(DefaultConfig.yaml, runDirectory: "/tmp/somewhere/my-run")
        #expect(e.outputs.name == "my-run" && e.outputs.directory == "/tmp/somewhere")
    }

    @Test func fileBasedDataSources() throws {
        let c = try ExperimentConfig.parse("""
            data:
              task: regression
              train: {path: train.csv, target: price, features: [a, b]}
              test: test.csv
            model: {preset: mlp, options: {hidden: 8, activation: tanh, batch_norm: true}}
            training: {loss: l1}
            """)
        #expect(c.data.train == DataSource(format: .csv, path: "train.csv", target: "price", features: ["a", "b"]))
        #expect(c.data.test == DataSource(format: .csv, path: "test.csv"))
        #expect(c.data.task == .regression && c.training.loss == .l1)
        #expect(c.model.options == PresetOptions(hidden: [8], batchNorm: true, activation: "tanh"))
        let idx = try ExperimentConfig.parse("""
            data: {train: {inputs: train-images-idx3-ubyte.gz, targets: train-labels-idx1-ubyte.gz}, augmentation: [{random_crop: 2}, horizontal_flip]}
            model: {preset: lenet}
            """)
        #expect(idx.data.train?.format == .idx && idx.data.train?.targets == "train-labels-idx1-ubyte.gz")
        #expect(idx.data.augmentation == [.randomCrop(padding: 2), .horizontalFlip(p: 0.5)])
    }

    /// Each bad config, and the message (key path, what was expected, what was found) it must produce.
    static let badConfigs: [(String, String)] = [
        ("data: {dataset: digits}\nmodel: {preset: mlp}\ntraining:\n  optimizer:\n    name: adam\n    lr: fast\n",
         #"line 6: training.optimizer.lr: expected a number, got "fast""#),
        ("data: {dataset: digits}\nmodel: {preset: mlp}\ntraining: {epochs: -3}\n", "training.epochs: expected a positive integer, got -3"),
        ("data: {dataset: digits}\nmodel: {preset: mlp}\ntraining: {epochs: 2.5}\n", "training.epochs: expected an integer, got 2.5"),
        ("data: {dataset: digits}\nmodel: {preset: mlp}\ntraining: {batch_size: \"64\"}\n", #"training.batch_size: expected an integer, got "64""#),
        ("data: {dataset: digitz}\nmodel: {preset: mlp}\n",
         #"data.dataset: expected a built-in dataset name (digits, iris, wine, fashion-mnist, mnist, cifar10), got "digitz""#),
        ("data: {dataset: digits}\n", "model: missing; expected a mapping with `preset` or `layers`"),
        ("model: {preset: mlp}\n", "data: missing; expected a mapping with `dataset` or `train` files"),
        ("data: {}\nmodel: {preset: mlp}\n", "data.dataset: missing; expected a built-in dataset name"),
        ("data: {dataset: digits}\nmodel: {preset: resnet}\n", #"model.preset: expected a preset (mlp, lenet, cnn-small, char-lstm, lstm-forecaster, char-gpt, dcgan, cgan, wgan-gp, text-transformer), got "resnet""#),
        ("data: {dataset: digits}\nmodel: {preset: mlp, options: {channels: [8]}}\n",
         "model.options.channels: not an option of mlp (its options: hidden, dropout, batch_norm, activation)"),
        ("data: {dataset: digits}\nmodel: {preset: mlp}\ntraining: {epochz: 3}\n", "training.epochz: unknown key (known here: batch_size, callbacks"),
        ("data: {dataset: digits}\nmodel: {preset: mlp}\ntraining: {optimizer: adamm}\n",
         #"training.optimizer: expected an optimizer (sgd, adam, adamw, rmsprop, adagrad), got "adamm""#),
        ("data: {dataset: digits}\nmodel: {preset: mlp}\ntraining: {optimizer: {name: adam, momentum: 0.9}}\n",
         "training.optimizer.momentum: momentum applies to sgd and rmsprop, not adam"),
        ("data: {dataset: digits}\nmodel: {preset: mlp}\ntraining: {schedule: {step: {gamma: 0.5}}}\n",
         "training.schedule.step.step_size: missing; expected epochs between decays"),
        ("data: {dataset: digits}\nmodel: {layers: [{linear: 10}, {conv3d: {out: 2}}]}\n",
         #"model.layers[1]: expected a layer kind (linear, conv2d"#),
        ("data: {dataset: digits}\nmodel: {layers: [{conv2d: {out: 8}}]}\n", "model.layers[0].conv2d.kernel: missing; expected the kernel size"),
        ("data: {dataset: digits}\nmodel: {layers: [{dropout: 1.5}]}\n", "model.layers[0].dropout: expected a probability in [0, 0.95], got 1.5"),
        ("data: {dataset: digits, split: {validation: 0}}\nmodel: {preset: mlp}\ntraining: {callbacks: {early_stopping: {monitor: val_loss}}}\n",
         #"training.callbacks.early_stopping.monitor: expected one of loss, accuracy, got "val_loss" (validation metrics need data.split.validation > 0)"#),
        ("data: {dataset: digits, split: {test: 1.5}}\nmodel: {preset: mlp}\n", "data.split.test: expected a fraction in (0, 0.9], got 1.5"),
        ("data: {dataset: digits, train: a.csv}\nmodel: {preset: mlp}\n", "data.train: give either data.dataset or data.train, not both"),
        ("data: {dataset: digits, preparation: [normalize]}\nmodel: {preset: mlp}\n",
         #"data.preparation[0]: expected a preparation step (impute, standardize, minmax, robust), got "normalize""#),
        ("data: {dataset: digits}\nmodel: {preset: mlp}\nevaluation: {metrics: [accuracy, auc]}\n",
         #"evaluation.metrics[1]: expected a classification metric (accuracy, loss, macro_f1, balanced_accuracy, roc_auc, log_loss, per_class, confusion_matrix), got "auc""#),
        ("data: {dataset: digits}\nmodel: {preset: mlp}\noutputs: {name: a/b}\n", #"outputs.name: expected a name without '/', got "a/b""#),
        ("data: {dataset: digits}\nmodel: {preset: mlp}\ntracking: {tensorboard: maybe}\n",
         #"tracking.tensorboard: expected true or false, got "maybe""#),
        ("data: {dataset: digits}\nmodel: {preset: mlp}\ntracking: {tensorboard: {histogram: true}}\n",
         "tracking.tensorboard.histogram: unknown key (known here: enabled, every_batches, histograms, images, samples)"),
        ("data: {dataset: digits}\nmodel: {preset: mlp}\ntracking: {mlfow: {experiment: x}}\n",
         "tracking.mlfow: unknown key (known here: mlflow, tensorboard)"),
        ("data: {dataset: digits\nmodel: {preset: mlp}\n", "not valid YAML or JSON"),
        ("- just\n- a list\n", "expected a mapping, got a list"),
    ]

    @Test(arguments: badConfigs)
    func badConfigNamesTheKeyPath(_ yaml: String, _ message: String) {
        let got = configError(yaml)
        #expect(got?.contains(message) == true, "expected ...\(message)..., got \(got ?? "no error")")
    }

    @Test func exponentNumbersWithoutADotAreNumbers() throws {
        let c = try ExperimentConfig.parse("data: {dataset: digits}\nmodel: {preset: mlp}\ntraining: {optimizer: {lr: 1e-3, weight_decay: 5E-4}}\n")
        #expect(c.training.optimizer.lr == 0.001 && c.training.optimizer.weightDecay == 0.0005)
        #expect(configError("data: {dataset: digits}\nmodel: {preset: mlp}\ntraining: {optimizer: {lr: \"1e-3\"}}\n")
                == #"line 3: training.optimizer.lr: expected a number, got "1e-3""#)
    }

    @Test func badOverridesAreConfigErrors() {
        #expect(configError(DefaultConfig.yaml, overrides: ["training.epochs=abc"]) == #"training.epochs: expected an integer, got "abc""#)
        #expect(configError(DefaultConfig.yaml, overrides: ["epochs"])?.contains("expected key.path=value") == true)
        #expect(configError(DefaultConfig.yaml, overrides: ["data.shape.x=1"])?.contains("cannot set a key inside a list") == true)
    }

    @Test func errorsCarryFileAndLine() throws {
        let dir = tempDirectory()
        let path = write("data:\n  dataset: digits\nmodel:\n  preset: mlp\ntraining:\n  optimizer: {lr: fast}\n", "exp.yaml", in: dir)
        var o = TrainOptions()
        o.configPath = path
        #expect(throws: ConfigError(path: "training.optimizer.lr", message: #"expected a number, got "fast""#, file: path, line: 6)) {
            try TrainRunner.loadConfig(o)
        }
        o.configPath = dir.appendingPathComponent("missing.yaml").path
        #expect(throws: CLIError("config file \(o.configPath!) not found")) { try TrainRunner.loadConfig(o) }
    }
}
