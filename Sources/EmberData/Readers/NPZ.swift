/// A NumPy `.npz` archive (`np.savez` / `np.savez_compressed`): a zip of `.npy` members.
///
/// Opening reads only the zip directory; each array is read (and inflated and CRC-checked) when asked for.
///
/// ```swift
/// let archive = try NPZArchive(path: "data.npz")
/// print(archive.names)                       // ["x", "y"]  (".npy" stripped, as np.load does)
/// let x = try archive.array("x").tensor()
/// ```
public final class NPZArchive {
    /// The path being read.
    public let path: String
    /// The array names in archive order, without the `.npy` suffix.
    public let names: [String]
    private let zip: ZipArchive

    /// Opens an `.npz` file and reads its directory.
    /// - Throws: `DataError` when the file is missing or not a readable zip archive.
    public init(path: String) throws {
        self.path = path
        zip = try ZipArchive(path: path)
        names = zip.entries.map { $0.name.hasSuffix(".npy") ? String($0.name.dropLast(4)) : $0.name }
    }

    /// The array called `name` (with or without `.npy`).
    /// - Throws: `DataError(.notFound)` for an unknown name; any `NPYArray` or zip error for a damaged member.
    public func array(_ name: String) throws -> NPYArray {
        guard let entry = zip.entries.first(where: { $0.name == name || $0.name == name + ".npy" }) else {
            throw DataError(.notFound, file: path, at: .member(name), expected: "an array named '\(name)'",
                            found: "arrays \(names.prefix(20).joined(separator: ", "))")
        }
        return try NPYArray(bytes: try zip.contents(of: entry), file: "\(path)/\(entry.name)")
    }

    /// Every array, by name.
    public func arrays() throws -> [String: NPYArray] {
        var out: [String: NPYArray] = [:]
        for n in names { out[n] = try array(n) }
        return out
    }
}
