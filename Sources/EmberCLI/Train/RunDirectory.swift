import Foundation

/// The safety rules of a run directory (`ember train`'s outputs):
///
/// - **Unsuitable targets are refused**: an empty path, `/`, and anything that exists but is not a directory.
/// - **A finished run is never overwritten by accident**: a directory holding `model.json` or `model.safetensors`
///   needs `--overwrite` (or `--resume`); one holding only a checkpoint (an interrupted run) needs `--resume` or
///   `--overwrite`.
/// - **Only Ember's own files are ever replaced or deleted**: every file a run writes is listed in `.ember-manifest`;
///   after a run completes, files that an earlier run wrote and this one did not (old TensorBoard event files, an old
///   best checkpoint) are removed, and nothing else. A user's own files are never touched.
/// - **The old model stays until the new one is complete**: `model.safetensors` and `model.json` are replaced
///   atomically at the end, so a run killed early leaves the previous model in place.
/// - **One training per directory**: a lock (`flock` on `.ember.lock`, holding the owner's process id) stops a
///   second `ember train` from writing the same directory; the error names the other process.
/// - **Temporary files of killed writes** (`.NAME.tmp-PID-RANDOM`) whose process is gone are deleted when the next
///   run starts there.
enum RunDirectory {
    /// The lock file and the manifest inside a run directory.
    static let lockFile = ".ember.lock", manifestFile = ".ember-manifest"

    /// Files Ember writes in every run directory (relative paths).
    static let knownOutputs = [SavedModel.modelFile, SavedModel.jsonFile, SavedModel.metricsFile, SavedModel.historyFile,
                               SavedModel.checkpointFile, SavedModel.bestCheckpointFile, SavedModel.reportFile, SavedModel.configFile]

    /// Checks that `path` (a `--run-dir` as given) can be a run directory at all.
    static func checkPath(_ path: String) throws {
        guard !path.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw CLIError("--run-dir: expected a directory path, got an empty string")
        }
        guard !path.allSatisfy({ $0 == "/" }) else {
            throw CLIError("run directory \(jsonQuoted(path)): the file-system root cannot be a run directory; choose a folder such as runs/NAME")
        }
    }

    /// Checks the resolved run directory `dir` before a run: a suitable place, and not a finished (or interrupted)
    /// run unless `resume` or `overwrite` says what to do with it.
    static func check(_ dir: URL, resume: Bool, overwrite: Bool) throws {
        let path = dir.standardizedFileURL.path
        guard path != "/" && !path.isEmpty else {
            throw CLIError("run directory \(jsonQuoted(dir.path)): the file-system root cannot be a run directory; choose a folder such as runs/NAME")
        }
        var isDir: ObjCBool = false
        let fm = FileManager.default
        if fm.fileExists(atPath: dir.path, isDirectory: &isDir) {
            guard isDir.boolValue else {
                throw CLIError("run directory \(dir.path) exists and is not a directory; choose another --run-dir or --name")
            }
        } else {
            var st = stat()
            if lstat(dir.path, &st) == 0 {   // a dangling symbolic link
                throw CLIError("run directory \(dir.path) is a symbolic link to nothing; choose another --run-dir or --name")
            }
            return
        }
        // Ember's own file names must be files (or absent): a user's folder called model.safetensors stays.
        for name in knownOutputs + [RunTracking.tensorboardFolder, lockFile, manifestFile] {
            let u = dir.appendingPathComponent(name)
            var d: ObjCBool = false
            guard fm.fileExists(atPath: u.path, isDirectory: &d) else { continue }
            let wantDirectory = name == RunTracking.tensorboardFolder
            if d.boolValue != wantDirectory {
                throw CLIError("\(u.path) is \(d.boolValue ? "a directory" : "a file"), not Ember's \(wantDirectory ? "folder" : "file"); "
                               + "move it away or choose another --run-dir or --name")
            }
        }
        guard !resume && !overwrite else { return }
        let finished = [SavedModel.jsonFile, SavedModel.modelFile].filter { fm.fileExists(atPath: dir.appendingPathComponent($0).path) }
        if let f = finished.first {
            throw CLIError("\(dir.path) already holds a trained model (\(f)); pass --overwrite to replace it "
                           + "(the old model stays until the new one is written), or choose another --run-dir or --name")
        }
        if fm.fileExists(atPath: dir.appendingPathComponent(SavedModel.checkpointFile).path) {
            throw CLIError("\(dir.path) holds an unfinished run (\(SavedModel.checkpointFile)); continue it with --resume, "
                           + "pass --overwrite to start afresh, or choose another --run-dir or --name")
        }
    }

    // MARK: manifest

    /// The relative paths `.ember-manifest` lists (empty when there is none).
    static func manifest(_ dir: URL) -> [String] {
        guard let text = try? String(contentsOf: dir.appendingPathComponent(manifestFile), encoding: .utf8) else { return [] }
        return text.split(separator: "\n").map(String.init).filter { !$0.isEmpty && !$0.hasPrefix("#") }
    }

    /// Writes `.ember-manifest` listing `files` (relative paths).
    static func writeManifest(_ files: [String], in dir: URL) throws {
        let unique = Array(Set(files)).sorted()
        let text = "# Files written by Ember in this run directory; only these are ever replaced or removed by `ember train`.\n"
            + unique.map { $0 + "\n" }.joined()
        try AtomicFile.write(Data(text.utf8), to: dir.appendingPathComponent(manifestFile))
    }

    /// Removes the files an earlier run listed in the manifest that `current` (this run's files) does not hold.
    /// Only regular files inside `dir` are removed; a listed path that escapes `dir` (`..`, absolute) is ignored.
    static func removeStale(listed old: [String], keeping current: [String], in dir: URL) {
        let keep = Set(current)
        for rel in old where !keep.contains(rel) {
            guard !rel.hasPrefix("/"), !rel.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) else { continue }
            let u = dir.appendingPathComponent(rel)
            var st = stat()
            guard lstat(u.path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { continue }
            unlink(u.path)
        }
    }

    // MARK: lock

    /// An exclusive lock on a run directory, held while the value lives (released on `release()` or process exit).
    final class Lock {
        private var fd: Int32
        /// The lock file.
        let url: URL

        /// Takes the lock on `dir` (which must exist), or throws naming the process that holds it.
        init(_ dir: URL) throws {
            url = dir.appendingPathComponent(RunDirectory.lockFile)
            fd = open(url.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                throw CLIError("\(url.path): cannot open the run directory's lock file: \(String(cString: strerror(errno)))")
            }
            if flock(fd, LOCK_EX | LOCK_NB) != 0 {
                let reason = errno
                var buf = [UInt8](repeating: 0, count: 256)
                let n = pread(fd, &buf, 255, 0)
                close(fd)
                fd = -1
                guard reason == EWOULDBLOCK else {
                    throw CLIError("\(url.path): cannot lock the run directory: \(String(cString: strerror(reason)))")
                }
                let owner = String(decoding: buf.prefix(Swift.max(n, 0)), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                throw CLIError("\(dir.path) is in use by another ember train (\(owner.isEmpty ? "process unknown" : owner)); "
                               + "wait for it to finish, or choose another --run-dir or --name")
            }
            let me = "pid \(getpid()) on \(ProcessInfo.processInfo.hostName)\n"
            _ = ftruncate(fd, 0)
            _ = me.withCString { pwrite(fd, $0, strlen($0), 0) }
        }

        /// Releases the lock (the lock file stays; its content no longer matters).
        func release() {
            guard fd >= 0 else { return }
            _ = ftruncate(fd, 0)
            flock(fd, LOCK_UN)
            close(fd)
            fd = -1
        }

        deinit { release() }
    }
}
