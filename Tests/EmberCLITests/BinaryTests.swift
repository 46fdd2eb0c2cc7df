import Foundation
import Testing
import EmberTestSupport
@testable import EmberCLI

/// The built `ember` executable, next to the test bundle (`swift build --build-tests` builds both).
let emberBinary: URL? = {
    let dir = (Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])).deletingLastPathComponent()
    let candidates = [dir.appendingPathComponent("ember"), dir.deletingLastPathComponent().appendingPathComponent("ember")]
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
}()

/// Runs the binary with `arguments`; returns exit status, standard output and standard error.
func runEmber(_ arguments: [String], in directory: URL) throws -> (status: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = try required(emberBinary, "the ember executable is not built next to the test bundle")
    p.arguments = arguments
    p.currentDirectoryURL = directory
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

/// The real executable as a user runs it (skipped when the binary has not been built next to the tests).
@Suite(needs(emberBinary != nil, "the ember executable is not built next to the test bundle (`swift build --build-tests` builds it)"))
struct BinaryTests {
    @Test func helpOnEveryCommand() throws {
        let dir = tempDirectory("bin")
        let root = try runEmber(["--help"], in: dir)
        #expect(root.status == 0)
        for sub in ["train", "evaluate", "predict", "inspect", "datasets", "bench"] { #expect(root.out.contains("  \(sub) ")) }
        for (sub, phrase) in [("train", "--resume"), ("evaluate", "--data"), ("predict", "--json"), ("inspect", "provenance"),
                              ("datasets", "available")] {
            let r = try runEmber([sub, "--help"], in: dir)
            #expect(r.status == 0 && r.out.contains("USAGE: ember \(sub)") && r.out.contains(phrase), "\(sub)")
        }
    }

    @Test func badConfigExitsWithTheMessage() throws {
        let dir = tempDirectory("bin")
        write("data: {dataset: digits}\nmodel: {preset: mlp}\ntraining:\n  optimizer: {name: adam, lr: fast}\n", "bad.yaml", in: dir)
        let r = try runEmber(["train", "bad.yaml"], in: dir)
        #expect(r.status == 2)
        #expect(r.err == "ember: error: bad.yaml, line 4: training.optimizer.lr: expected a number, got \"fast\"\n")
        #expect(r.out.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("runs").path))
        let missing = try runEmber(["inspect", "runs/nothing"], in: dir)
        #expect(missing.status == 1 && missing.err == "ember: error: runs/nothing: no such directory\n")
    }

    @Test func ctrlCWritesACheckpointAndResumeFinishes() throws {
        let dir = tempDirectory("sigint")
        let p = Process()
        p.executableURL = try required(emberBinary, "the ember executable is not built next to the test bundle")
        p.arguments = ["train", "--quiet", "--epochs", "40", "--run-dir", "run"]
        p.currentDirectoryURL = dir
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        // The default config checkpoints every 20 batches: once the first one exists, training is under way.
        let ckpt = dir.appendingPathComponent("run/last.ckpt.safetensors")
        let deadline = Date().addingTimeInterval(600)   // a condition, not a timing: only stops a hang
        while !FileManager.default.fileExists(atPath: ckpt.path) && p.isRunning && Date() < deadline { usleep(20_000) }
        #expect(p.isRunning, "training ended before it could be interrupted")
        kill(p.processIdentifier, SIGINT)
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 130)
        #expect(text.contains("interrupted (Ctrl-C) in epoch"), "\(text)")
        #expect(text.contains("continue with: ember train --resume --run-dir run"))
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("run/model.safetensors").path))
        // Resuming reads run/config.yaml (40 epochs); 1 epoch in total is enough to finish here.
        let r = try runEmber(["train", "--resume", "--run-dir", "run", "--quiet", "--epochs", "1"], in: dir)
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("ember train: run (resuming)"))
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("run/model.safetensors").path))
    }
}
