/// An error reading data from outside the program: a missing, truncated, corrupt or malformed file.
///
/// Every reader in EmberData throws this one type. It names the file, where in it the problem was found (a line, a
/// record, a byte offset, a zip member, a column) and what was expected, so a message such as
///
/// ```
/// train.csv, line 17: expected 5 fields, found 4
/// ```
///
/// is enough to find and fix the input. Readers never crash on bad external data; they throw.
public struct DataError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The broad class of problem.
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        /// The file does not exist.
        case fileNotFound
        /// The operating system refused a read (permissions, a directory, an I/O failure).
        case io
        /// The data ends before a complete header or record.
        case truncated
        /// The data holds more or fewer bytes than its header declares.
        case sizeMismatch
        /// The file does not start with the format's signature (magic number).
        case badMagic
        /// A header is present but cannot be understood.
        case badHeader
        /// Compressed data fails to decompress or a checksum does not match.
        case corrupt
        /// A CSV row has the wrong number of fields.
        case fieldCount
        /// A value cannot be read as the type its column or format requires.
        case badValue
        /// The format is valid but uses a feature this reader does not support.
        case unsupported
        /// A built-in dataset is not installed on this machine.
        case datasetUnavailable
        /// A request names something the data does not have (a column, an archive member).
        case notFound
    }

    /// Where in the file the problem was found.
    public enum Location: Sendable, Equatable, CustomStringConvertible {
        /// The file's header.
        case header
        /// A 1-based line of a text file.
        case line(Int)
        /// A 1-based line and a named column of a text file.
        case field(line: Int, column: String)
        /// A named column as a whole.
        case column(String)
        /// A 0-based record (image, row, example) of a binary file.
        case record(Int)
        /// A 0-based byte offset (after decompression).
        case byte(Int)
        /// A member of an archive.
        case member(String)

        /// A one-line, human-readable message.
        public var description: String {
            switch self {
            case .header: return "header"
            case .line(let n): return "line \(n)"
            case .field(let n, let c): return "line \(n), column '\(c)'"
            case .column(let c): return "column '\(c)'"
            case .record(let r): return "record \(r)"
            case .byte(let b): return "byte \(b)"
            case .member(let m): return "member '\(m)'"
            }
        }
    }

    /// The broad class of problem.
    public var kind: Kind
    /// The file (path) that holds the bad data.
    public var file: String
    /// Where in the file, when known.
    public var location: Location?
    /// What the reader expected to find.
    public var expected: String
    /// What it found instead, when that helps.
    public var found: String?

    /// An error of `kind` in `file` at `location`: `expected` is what should have been there, `found` what was.
    public init(_ kind: Kind, file: String, at location: Location? = nil, expected: String, found: String? = nil) {
        self.kind = kind
        self.file = file
        self.location = location
        self.expected = expected
        self.found = found
    }

    /// A one-line message: `file, location: expected ..., found ...`.
    public var description: String {
        var s = file
        if let location { s += ", \(location)" }
        s += ": expected \(expected)"
        if let found { s += ", found \(found)" }
        return s
    }
}

/// A short, printable excerpt of an untrusted value for error messages.
@inline(__always)
func excerpt(_ s: String, limit: Int = 40) -> String {
    let clean = s.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : String($0) }.joined()
    return clean.count <= limit ? "'\(clean)'" : "'\(clean.prefix(limit))...'"
}
