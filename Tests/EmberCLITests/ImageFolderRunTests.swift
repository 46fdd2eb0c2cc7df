import Foundation
import Testing
import EmberTestSupport
@testable import EmberCLI

private let fashionInstalled = FileManager.default.fileExists(atPath: Datasets.fashionMNISTDirectory + "/t10k-labels-idx1-ubyte")
    || FileManager.default.fileExists(atPath: Datasets.fashionMNISTDirectory + "/t10k-labels-idx1-ubyte.gz")

/// Images as users have them: train from class folders of PNG files, predict single files and folders.
@Suite(.serialized) struct ImageFolderRunTests {
    /// The README's worked example: Fashion-MNIST exported as PNG class folders (`ember datasets --export`), trained
    /// from `data.images`, then `ember predict RUN_DIR one.png` and a folder.
    @Test(needs(fashionInstalled, "Fashion-MNIST not installed (scripts/setup installs dataset-fashion-mnist)"))
    func trainFromFoldersAndPredictFiles() throws {
        let dir = tempDirectory("images")
        let root = dir.appendingPathComponent("fashion").path
        let n = try DatasetsRunner.exportImages("fashion-mnist", to: root, limit: 300)
        #expect(n == 600)
        // The files are the dataset's images, byte for byte.
        let test = try Datasets.fashionMNIST(.test)
        let file = root + "/test/9-Ankle-boot/0.png"   // test image 0 is an ankle boot (label 9)
        #expect(test.labels[0] == 9)
        #expect(try RasterImage(contentsOf: file).pixels == Array(test.pixels[0..<784]))
        #expect(throws: CLIError.self) { try DatasetsRunner.exportImages("fashion-mnist", to: root, limit: 1) }   // never over files

        let config = write("""
            data:
              images: {train: \(root)/train, test: \(root)/test, size: [28, 28], channels: 1}
              split: {validation: 0.1}
            model: {preset: mlp, options: {hidden: [64]}}
            training: {optimizer: {name: adam, lr: 0.003}, batch_size: 32, epochs: 4, seed: 1}
            """, "images.yaml", in: dir)
        let run = try TrainRunner.run(trainOptions(config, dir: dir.appendingPathComponent("run")), console: CapturedConsole().console)
        let saved = try #require(run.saved)
        #expect(saved.classes.count == 10 && saved.classes[9] == "9-Ankle-boot")
        #expect(saved.input.image == InputPipeline.ImageInput(channels: 1, height: 28, width: 28, filter: .bilinear))
        #expect(run.splits.train.count == 270 && run.splits.test.count == 300)
        let accuracy = run.evaluation?["accuracy"] ?? 0
        print("image folders: test accuracy \(accuracy) after 4 epochs on 270 PNG files")
        #expect(accuracy > 0.6, "accuracy \(accuracy) on 300 test images after 4 epochs on 270")

        // One file, several files, and a folder: each prepared as in training, predictions equal the run's own.
        let one = try PredictRunner.run(PredictOptions(model: run.runDirectory.path, input: file), console: CapturedConsole().console)
        #expect(one.count == 1 && one[0].file == file)
        let all = try PredictRunner.run(PredictOptions(model: run.runDirectory.path, input: root + "/test"), console: CapturedConsole().console)
        #expect(all.count == 300)
        let loaded = try SavedModel.load(from: run.runDirectory.path)
        let direct = PredictRunner.predictions(try loaded.outputs(raw: run.splits.test.inputs), saved: saved)
        // The folder lists files by path, the split by class folder then path: match them by file.
        let byFile = Dictionary(uniqueKeysWithValues: all.map { ($0.file!, $0.label!) })
        let folder = try ImageFolder(root + "/test", size: (height: 28, width: 28), channels: 1)
        #expect(folder.files.enumerated().allSatisfy { byFile[$0.element] == direct[$0.offset].label })
        // Evaluating the test folder gives the run's own test metrics.
        var e = EvaluateOptions(model: run.runDirectory.path)
        e.data = root + "/test"
        let evaluated = try EvaluateRunner.run(e, console: CapturedConsole().console)
        #expect(evaluated["accuracy"] == run.evaluation?["accuracy"] && evaluated.examples == 300)
        var several = PredictOptions(model: run.runDirectory.path, input: file)
        several.additionalInputs = [root + "/test/0-T-shirt-top/19.png"]
        let capture = CapturedConsole()
        let two = try PredictRunner.run(several, console: capture.console)
        #expect(two.map(\.file) == [file, root + "/test/0-T-shirt-top/19.png"])
        #expect(capture.output.contains("0.png") && capture.output.contains("19.png"))
        // A damaged file names its path.
        let bad = write("not a png", "broken.png", in: dir)
        do {
            _ = try PredictRunner.run(PredictOptions(model: run.runDirectory.path, input: bad), console: CapturedConsole().console)
            Issue.record("a damaged image predicted")
        } catch let e as DataError {
            #expect(e.file == bad && e.kind == .badMagic)
        }
    }

    @Test func imagesConfigErrors() {
        #expect(configError("data: {images: {test: x}}\nmodel: {preset: mlp}\n")?.contains("data.images.train") == true)
        #expect(configError("data: {images: {train: x, size: [28]}}\nmodel: {preset: mlp}\n")?.contains("[height, width]") == true)
        #expect(configError("data: {images: {train: x, channels: 2}}\nmodel: {preset: mlp}\n")?.contains("1 (gray) or 3 (RGB)") == true)
        #expect(configError("data: {dataset: digits, images: {train: x}}\nmodel: {preset: mlp}\n")?.contains("one of data.dataset") == true)
        #expect(configError("data: {images: {train: x, on_error: ignore}}\nmodel: {preset: mlp}\n")?.contains("skip") == true)
    }

    @Test func predictRefusesImagesForTabularModels() throws {
        let dir = tempDirectory("images-tab")
        let config = write("data: {dataset: iris}\nmodel: {preset: mlp, options: {hidden: [4]}}\ntraining: {epochs: 1}\n", "iris.yaml", in: dir)
        let run = try TrainRunner.run(trainOptions(config, dir: dir.appendingPathComponent("run")), console: CapturedConsole().console)
        let png = dir.appendingPathComponent("x.png")
        try Data(try RasterImage(width: 2, height: 2, channels: 1).pngData()).write(to: png)
        #expect(throws: CLIError.self) {
            _ = try PredictRunner.run(PredictOptions(model: run.runDirectory.path, input: png.path), console: CapturedConsole().console)
        }
    }
}
