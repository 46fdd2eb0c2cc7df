import Foundation

/// `ember generate GAN_RUN --count N [--class C] --seed S --output FILE.png|FILE.npy`: samples of a trained GAN.
public enum GANGenerate {
    /// What marks a file as written by `ember generate` (a PNG `tEXt` chunk `Software`, a comment in the `.npy` header).
    static let marker = "ember generate"

    /// Writes `count` samples of the GAN in `run` to `output`: a PNG grid, or a `.npy` array float32 [N, C, H, W] in
    /// [-1, 1] (the generator's range). `classLabel` (an index or a class name) asks a conditional GAN for one class;
    /// without it a conditional GAN cycles through the classes (one column each in the grid). The same seed gives the
    /// same bits. An existing `output` is replaced only if `ember generate` wrote it.
    /// - Returns: the file written and the labels used (nil for an unconditional GAN).
    @discardableResult
    public static func run(model run: String, count: Int, classLabel: String?, seed: UInt64, output: String,
                           console: Console) throws -> (url: URL, labels: [Int]?) {
        guard !output.isEmpty else { throw CLIError("--output: expected a file name (.png or .npy), got ''") }
        let url = URL(fileURLWithPath: output)
        let ext = url.pathExtension.lowercased()
        guard ext == "png" || ext == "npy" else {
            throw CLIError("--output \(output): expected a .png (image grid) or .npy (array) file name")
        }
        try refuseForeignFile(url, png: ext == "png")
        let (file, generator) = try GANModelFile.load(from: run)
        var labels: [Int]?
        if let classLabel {
            guard let c = file.spec.classes else {
                throw CLIError("--class \(classLabel): \(run) is an unconditional GAN (\(file.preset)); it cannot be asked for a class "
                               + "(train the cgan preset for that)")
            }
            let index = Int(classLabel) ?? file.classes.firstIndex(of: classLabel)
            guard let index, index >= 0, index < c else {
                throw CLIError("--class \(classLabel): expected a class index 0...\(c - 1) or a class name (\(file.classes.joined(separator: ", ")))")
            }
            labels = Array(repeating: index, count: count)
        } else if let c = file.spec.classes {
            labels = (0..<count).map { $0 % c }
        }
        let x = GANTraining.sample(generator, count: count, seed: seed, labels: labels)
        let data: Data
        if ext == "png" {
            let columns = classLabel == nil ? file.spec.classes : nil
            let image = try RasterImage.grid(x, columns: columns, padding: 2, range: -1...1)
            data = markedPNG(try image.pngData())
        } else {
            data = npy(x)
        }
        try AtomicFile.write(data, to: url)
        let what = labels == nil ? "" : classLabel != nil ? " of class \(file.classes[labels![0]])" : " cycling through the \(file.classes.count) classes"
        console.line("wrote \(url.path): \(count) samples\(what) from \(run) (seed \(seed))")
        return (url, labels)
    }

    /// An existing file is replaced only when `ember generate` wrote it (its marker); never a directory.
    static func refuseForeignFile(_ url: URL, png: Bool) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else { return }
        if isDir.boolValue { throw CLIError("--output \(url.path) is a directory; expected a file name") }
        guard let data = FileManager.default.contents(atPath: url.path), png ? isMarkedPNG(data) : isMarkedNPY(data) else {
            throw CLIError("--output \(url.path) exists and was not written by `ember generate`; it is left alone (choose another name or remove it)")
        }
    }

    // MARK: PNG

    /// The PNG with a `tEXt` chunk `Software: ember generate` after its header chunk.
    static func markedPNG(_ png: [UInt8]) -> Data {
        precondition(png.count > 33, "markedPNG: not a PNG")
        let payload = Array("tEXt".utf8) + Array("Software".utf8) + [0] + Array(marker.utf8)
        var chunk = bigEndian(UInt32(payload.count - 4)) + payload
        chunk += bigEndian(crc32(payload))
        return Data(png[0..<33] + chunk + png[33...])   // signature (8) + IHDR (25), then ours
    }

    /// Whether the PNG has the `tEXt` chunk of `markedPNG` before its image data.
    static func isMarkedPNG(_ data: Data) -> Bool {
        let b = [UInt8](data)
        guard b.count > 8, b[0..<8].elementsEqual([137, 80, 78, 71, 13, 10, 26, 10]) else { return false }
        var i = 8
        while i + 8 <= b.count {
            let len = Int(b[i]) << 24 | Int(b[i + 1]) << 16 | Int(b[i + 2]) << 8 | Int(b[i + 3])
            let type = String(decoding: b[(i + 4)..<(i + 8)], as: UTF8.self)
            guard len >= 0, i + 12 + len <= b.count else { return false }
            if type == "tEXt" {
                let body = b[(i + 8)..<(i + 8 + len)]
                if body.elementsEqual(Array("Software".utf8) + [0] + Array(marker.utf8)) { return true }
            }
            if type == "IDAT" || type == "IEND" { return false }
            i += 12 + len
        }
        return false
    }

    static func bigEndian(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }

    /// CRC-32 (ISO-HDLC, PNG's) of `bytes`.
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xffff_ffff
        for byte in bytes {
            c ^= UInt32(byte)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xedb8_8320 ^ (c >> 1) : c >> 1 }
        }
        return c ^ 0xffff_ffff
    }

    // MARK: npy

    /// `x` as a NumPy `.npy` file (version 1.0, little-endian float32, C order); the header dictionary is followed by
    /// a Python comment `# ember generate` (NumPy reads the header with `ast.literal_eval`, which ignores comments).
    static func npy(_ x: Tensor) -> Data {
        let shape = x.shape.map(String.init).joined(separator: ", ") + (x.rank == 1 ? "," : "")
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(shape)), } # \(marker)"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let n = UInt16(header.utf8.count)
        out.append(contentsOf: [UInt8(n & 0xff), UInt8(n >> 8)])
        out.append(contentsOf: Array(header.utf8))
        let values = x.cast(.float32).toArray(Float.self)
        for v in values { out.append(contentsOf: withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) }) }
        return out
    }

    /// Whether `data` is a `.npy` file whose header carries the `ember generate` comment.
    static func isMarkedNPY(_ data: Data) -> Bool {
        let b = [UInt8](data)
        guard b.count >= 10, b[0] == 0x93, b[1..<6].elementsEqual(Array("NUMPY".utf8)), b[6] == 1 else { return false }
        let n = Int(b[8]) | Int(b[9]) << 8
        guard 10 + n <= b.count else { return false }
        return String(decoding: b[10..<(10 + n)], as: UTF8.self).contains("} # \(marker)")
    }
}
