import Foundation
import Testing
import EmberTestSupport
@testable import EmberCLI

/// A tiny, quick run on the bundled digits (an MLP, one epoch on 200 examples).
let tinyDigitsConfig = """
    data:
      dataset: digits
      scale: 0.0625
      split: {test: 0.2, validation: 0.1}
      limit: {train: 200, test: 50}
    model:
      preset: mlp
      options: {hidden: [16]}
    training:
      batch_size: 50
      epochs: 1
      seed: 1
    """

/// Run directories: nothing of the user's is deleted, a finished run is not overwritten by accident, the old model
/// stays until the new one is complete, one training per directory.
@Suite(.serialized) struct RunSafetyTests {
    func run(_ config: String, _ dir: URL, overwrite: Bool = false, resume: Bool = false, stopAfter: Int? = nil) throws -> TrainOutcome {
        var o = trainOptions(config, dir: dir)
        o.overwrite = overwrite
        o.resume = resume
        o.stopAfterBatches = stopAfter
        return try TrainRunner.run(o, console: CapturedConsole().console)
    }

    func files(_ dir: URL) -> Set<String> {
        Set((FileManager.default.enumerator(atPath: dir.path)?.allObjects as? [String]) ?? [])
    }

    @Test func aFinishedRunIsNeitherDeletedNorOverwrittenByAccident() throws {
        let base = tempDirectory("safety")
        let config = write(tinyDigitsConfig, "tiny.yaml", in: base)
        let dir = base.appendingPathComponent("run")
        _ = try run(config, dir)
        let model = try Data(contentsOf: dir.appendingPathComponent("model.safetensors"))
        let firstEvents = files(dir).filter { $0.hasPrefix("tensorboard/events.") }
        #expect(firstEvents.count == 1)
        // The user's own files, inside the run directory and inside tensorboard/.
        write("my notes", "notes.txt", in: dir)
        write("keep me", "readme.txt", in: dir.appendingPathComponent("tensorboard"))

        // A second fresh run refuses, naming the directory and the flag; nothing changes.
        #expect(throws: CLIError("\(dir.path) already holds a trained model (model.json); pass --overwrite to replace it "
                                 + "(the old model stays until the new one is written), or choose another --run-dir or --name")) {
            try run(config, dir)
        }
        #expect(try Data(contentsOf: dir.appendingPathComponent("model.safetensors")) == model)

        // --overwrite, killed early: the old model is still there, whole.
        let stopped = try run(config, dir, overwrite: true, stopAfter: 1)
        #expect(stopped.interrupted)
        #expect(try Data(contentsOf: dir.appendingPathComponent("model.safetensors")) == model)
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("model.json").path))
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("notes.txt").path))

        // --overwrite to the end: the new model; the old run's event files are gone, the user's files stay.
        _ = try run(config, dir, overwrite: true)
        let now = files(dir)
        #expect(now.contains("notes.txt") && now.contains("tensorboard/readme.txt"))
        let events = now.filter { $0.hasPrefix("tensorboard/events.") }
        #expect(events.count == 1 && events.isDisjoint(with: firstEvents), "\(events)")
        #expect(now.contains("model.json") && now.contains("model.safetensors") && now.contains(".ember-manifest"))
        _ = try SavedModel.load(from: dir.path)
    }

    @Test func anInterruptedRunNeedsResumeOrOverwrite() throws {
        let base = tempDirectory("safety")
        let config = write(tinyDigitsConfig, "tiny.yaml", in: base)
        let dir = base.appendingPathComponent("run")
        _ = try run(config, dir, stopAfter: 1)
        #expect(throws: CLIError("\(dir.path) holds an unfinished run (last.ckpt.safetensors); continue it with --resume, "
                                 + "pass --overwrite to start afresh, or choose another --run-dir or --name")) {
            try run(config, dir)
        }
        // evaluate/predict/inspect say how to finish it.
        #expect(throws: CLIError("\(dir.path): no model.json here: the run did not finish (it holds last.ckpt.safetensors); "
                                 + "`ember train --resume --run-dir \(dir.path)` completes it")) {
            try SavedModel.load(from: dir.path)
        }
        let done = try run(config, dir, resume: true)
        #expect(!done.interrupted)
    }

    @Test func unsuitableRunDirectoriesAreRefused() throws {
        let base = tempDirectory("safety")
        let config = write(tinyDigitsConfig, "tiny.yaml", in: base)
        var o = trainOptions(config, dir: base)
        o.runDirectory = ""
        #expect(throws: CLIError("--run-dir: expected a directory path, got an empty string")) { try TrainRunner.loadConfig(o) }
        #expect(throws: CLIError.self) { try TrainRunner.run(o, console: CapturedConsole().console) }
        o.runDirectory = "/"
        #expect(throws: CLIError("run directory \"/\": the file-system root cannot be a run directory; choose a folder such as runs/NAME")) {
            try TrainRunner.run(o, console: CapturedConsole().console)
        }
        let file = write("not a directory", "file.txt", in: base)
        o.runDirectory = file
        #expect(throws: CLIError("run directory \(file) exists and is not a directory; choose another --run-dir or --name")) {
            try TrainRunner.run(o, console: CapturedConsole().console)
        }
        // A path that cannot be created says which part is in the way, not Foundation's error dump.
        o.runDirectory = file + "/run"
        #expect(throws: CLIError("run directory \(file)/run cannot be created: \(file) is a file, not a directory")) {
            try TrainRunner.run(o, console: CapturedConsole().console)
        }
        // A user's folder where Ember would write its model.
        let dir = base.appendingPathComponent("taken")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("model.safetensors"), withIntermediateDirectories: true)
        write("mine", "model.safetensors/keep.txt", in: dir)
        #expect(throws: CLIError("\(dir.path)/model.safetensors is a directory, not Ember's file; move it away or choose another --run-dir or --name")) {
            try run(config, dir)
        }
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("model.safetensors/keep.txt").path))
    }

    @Test func aSecondTrainingInTheSameDirectoryIsRefused() throws {
        let base = tempDirectory("safety")
        let config = write(tinyDigitsConfig, "tiny.yaml", in: base)
        let dir = base.appendingPathComponent("run")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let held = try RunDirectory.Lock(dir)   // as another `ember train` holds it
        let me = "pid \(getpid()) on \(ProcessInfo.processInfo.hostName)"
        #expect(throws: CLIError("\(dir.path) is in use by another ember train (\(me)); wait for it to finish, or choose another --run-dir or --name")) {
            try run(config, dir)
        }
        held.release()
        // Stale temporary files of a killed write go when the next run starts.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        let stale = ".model.safetensors.tmp-\(p.processIdentifier)-42"
        write("half", stale, in: dir)
        _ = try run(config, dir)
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent(stale).path))
    }
}
