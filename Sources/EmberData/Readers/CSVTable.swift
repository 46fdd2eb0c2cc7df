import EmberCore

/// The type of a CSV column.
public enum CSVColumnType: String, Sendable, Codable, Equatable {
    /// Numbers; missing values read as NaN.
    case numeric
    /// Text (categories); missing values read as nil.
    case text
}

/// Whether the first record of a CSV file names the columns.
public enum CSVHeader: Sendable, Equatable {
    /// Decide from the data: a header when the first record has text where the rest of a column holds numbers (or,
    /// for all-text files, when the first record's values are distinct and appear nowhere below).
    case auto
    /// The first record is a header.
    case present
    /// There is no header; columns are named "0", "1", ...
    case absent
}

/// How to read a CSV file into a `CSVTable`.
public struct CSVOptions: Sendable {
    /// Field separator (ASCII).
    public var delimiter: Character = ","
    /// Quote character (ASCII).
    public var quote: Character = "\""
    /// Whether the first record is a header.
    public var header: CSVHeader = .auto
    /// Field values (after trimming spaces) that mean "missing": NaN in numeric columns, nil in text columns.
    public var missingValues: Set<String> = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "?"]
    /// Column types by name (or by position, "0", "1", ..., when there is no header). Columns not listed are
    /// inferred: numeric when every non-missing value is a number, text otherwise. A value that is not a number in a
    /// column declared numeric throws `DataError(.badValue)` naming the line and column.
    public var columnTypes: [String: CSVColumnType] = [:]

    /// Default options: comma-separated, header detected, common missing-value markers.
    public init(delimiter: Character = ",", header: CSVHeader = .auto, columnTypes: [String: CSVColumnType] = [:]) {
        self.delimiter = delimiter
        self.header = header
        self.columnTypes = columnTypes
    }
}

/// One typed column of a `CSVTable`.
public enum CSVColumn: Sendable, Equatable {
    /// Numbers, NaN where missing.
    case numeric([Double])
    /// Text, nil where missing.
    case text([String?])

    /// The column's type.
    public var type: CSVColumnType {
        if case .numeric = self { return .numeric }
        return .text
    }

    /// Number of missing values.
    public var missingCount: Int {
        switch self {
        case .numeric(let v): return v.reduce(0) { $0 + ($1.isNaN ? 1 : 0) }
        case .text(let v): return v.reduce(0) { $0 + ($1 == nil ? 1 : 0) }
        }
    }
}

/// A CSV file read into typed columns (a small data frame).
///
/// ```swift
/// let table = try CSVTable(path: "penguins.csv", options: CSVOptions(columnTypes: ["year": .numeric]))
/// let x = try table.tensor(columns: ["bill_length_mm", "flipper_length_mm"])   // [rows, 2] float32, NaN if missing
/// let (y, species) = try table.classLabels(column: "species")                   // int64 class indices
/// ```
public struct CSVTable: Sendable {
    /// The file the table was read from.
    public let path: String
    /// Column names, from the header or "0", "1", ... (duplicates get a ".1", ".2" suffix).
    public let columnNames: [String]
    /// The columns, in file order.
    public let columns: [CSVColumn]
    /// The line each row starts on, for error messages.
    public let lines: [Int]
    /// Column positions by name (names are unique), so that lookups stay O(1) for wide files.
    private let positions: [String: Int]

    /// Number of data rows.
    public var rowCount: Int { lines.count }

    /// Reads `path` (plain or gzipped).
    /// - Throws: `DataError` for unreadable files, malformed CSV (`.fieldCount`, quotes), a non-number in a column
    ///   declared numeric (`.badValue`), or a declared column that does not exist (`.notFound`).
    public init(path: String, options: CSVOptions = CSVOptions()) throws {
        let reader = try CSVReader(path: path, delimiter: options.delimiter, quote: options.quote)
        var rows = try reader.readAll()
        self.path = path
        let width = rows.first?.fields.count ?? 0
        let hasHeader: Bool
        switch options.header {
        case .present: hasHeader = !rows.isEmpty
        case .absent: hasHeader = false
        case .auto: hasHeader = Self.looksLikeHeader(rows, missing: options.missingValues)
        }
        var names = hasHeader ? rows.removeFirst().fields.map { $0.trimmingSpaces } : (0..<width).map { String($0) }
        names = Self.deduplicated(names)
        columnNames = names
        positions = Dictionary(names.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        lines = rows.map(\.line)
        for key in options.columnTypes.keys where positions[key] == nil {
            throw DataError(.notFound, file: path, at: .column(key), expected: "a column named '\(key)' (options.columnTypes)",
                            found: "columns \(names.prefix(20).joined(separator: ", "))")
        }
        var cols: [CSVColumn] = []
        cols.reserveCapacity(width)
        for j in 0..<width {
            let raw = rows.map { $0.fields[j] }
            let declared = options.columnTypes[names[j]]
            cols.append(try Self.typedColumn(raw, declared: declared, name: names[j], lines: lines, path: path,
                                             missing: options.missingValues))
        }
        columns = cols
    }

    /// The index of the column called `name`.
    public func columnIndex(_ name: String) throws -> Int {
        guard let j = positions[name] else {
            throw DataError(.notFound, file: path, at: .column(name), expected: "a column named '\(name)'",
                            found: "columns \(columnNames.prefix(20).joined(separator: ", "))")
        }
        return j
    }

    /// The column called `name`.
    public func column(_ name: String) throws -> CSVColumn { columns[try columnIndex(name)] }

    /// The numbers of column `name` (NaN where missing).
    /// - Throws: `DataError(.badValue)` when the column holds text, naming the first value that is not a number.
    public func numbers(_ name: String) throws -> [Double] {
        let j = try columnIndex(name)
        switch columns[j] {
        case .numeric(let v): return v
        case .text(let v):
            let i = v.firstIndex { $0 != nil && parseNumber($0!) == nil } ?? 0
            throw DataError(.badValue, file: path, at: .field(line: lines.isEmpty ? 0 : lines[i], column: name),
                            expected: "a numeric column", found: "text such as \(excerpt(v[i] ?? ""))")
        }
    }

    /// The given numeric columns (all numeric columns by default) as a [rows, columns] tensor; NaN where missing.
    public func tensor(columns names: [String]? = nil, dtype: DType = .float32) throws -> Tensor {
        let chosen = names ?? columnNames.enumerated().filter { columns[$0.offset].type == .numeric }.map(\.element)
        let cols = try chosen.map { try numbers($0) }
        var flat = [Double](repeating: 0, count: rowCount * cols.count)
        for (j, c) in cols.enumerated() {
            for i in 0..<rowCount { flat[i * cols.count + j] = c[i] }
        }
        return Tensor(flat, shape: [rowCount, cols.count]).cast(dtype)
    }

    /// Column `name` as class indices (int64 [rows]) and the class names, sorted (numerically for numeric columns).
    /// - Throws: `DataError(.badValue)` for a missing label, naming its line.
    public func classLabels(column name: String) throws -> (labels: Tensor, classes: [String]) {
        let j = try columnIndex(name)
        var keys: [String] = []
        switch columns[j] {
        case .numeric(let v):
            for (i, x) in v.enumerated() where x.isNaN {
                throw DataError(.badValue, file: path, at: .field(line: lines[i], column: name), expected: "a class label", found: "a missing value")
            }
            let classes = Array(Set(v)).sorted()
            let index = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, Int64($0)) })
            let names = classes.map { $0 == $0.rounded() && abs($0) < 1e15 ? String(Int64($0)) : String($0) }
            return (Tensor(v.map { index[$0]! }), names)
        case .text(let v):
            for (i, x) in v.enumerated() where x == nil {
                throw DataError(.badValue, file: path, at: .field(line: lines[i], column: name), expected: "a class label", found: "a missing value")
            }
            keys = v.map { $0! }
            let classes = Array(Set(keys)).sorted()
            let index = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, Int64($0)) })
            return (Tensor(keys.map { index[$0]! }), classes)
        }
    }

    // MARK: inference

    static func typedColumn(_ raw: [String], declared: CSVColumnType?, name: String, lines: [Int], path: String,
                            missing: Set<String>) throws -> CSVColumn {
        var numbers: [Double] = []
        numbers.reserveCapacity(raw.count)
        var isNumeric = declared != .text
        if isNumeric {
            for (i, s) in raw.enumerated() {
                let t = s.trimmingSpaces
                if missing.contains(t) { numbers.append(.nan); continue }
                if let v = parseNumber(t) { numbers.append(v); continue }
                if declared == .numeric {
                    throw DataError(.badValue, file: path, at: .field(line: lines[i], column: name),
                                    expected: "a number or a missing-value marker", found: excerpt(s))
                }
                isNumeric = false
                break
            }
        }
        if isNumeric { return .numeric(numbers) }
        return .text(raw.map { missing.contains($0.trimmingSpaces) ? nil : $0 })
    }

    static func looksLikeHeader(_ rows: [CSVRow], missing: Set<String>) -> Bool {
        guard let first = rows.first?.fields else { return false }
        let sample = rows.dropFirst().prefix(50).map(\.fields)
        let firstKinds = first.map { kind($0, missing) }
        if sample.isEmpty { return firstKinds.allSatisfy { $0 == .text } }
        var anyNumericColumn = false
        for j in 0..<first.count {
            let kinds = sample.map { kind($0[j], missing) }
            let numeric = kinds.allSatisfy { $0 != .text } && kinds.contains(.number)
            if numeric {
                anyNumericColumn = true
                if firstKinds[j] == .text { return true }
            }
        }
        if anyNumericColumn { return false }
        // All text: a header if its values are distinct, present, and never repeated below.
        guard firstKinds.allSatisfy({ $0 == .text }), Set(first).count == first.count else { return false }
        for j in 0..<first.count where sample.contains(where: { $0[j] == first[j] }) { return false }
        return true
    }

    private enum Kind { case missing, number, text }

    private static func kind(_ s: String, _ missing: Set<String>) -> Kind {
        let t = s.trimmingSpaces
        if missing.contains(t) { return .missing }
        return parseNumber(t) != nil ? .number : .text
    }

    static func deduplicated(_ names: [String]) -> [String] {
        var seen: [String: Int] = [:]
        var taken = Set(names)
        return names.map { n in
            guard let k = seen[n] else { seen[n] = 0; return n }
            var i = k + 1
            while taken.contains("\(n).\(i)") { i += 1 }
            seen[n] = i
            taken.insert("\(n).\(i)")
            return "\(n).\(i)"
        }
    }
}

/// A decimal number (optional sign, digits, point, exponent, or inf/infinity/nan), or nil. Hexadecimal floats,
/// which Swift's `Double(String)` also accepts, are refused: CSV files do not mean them.
/// A NUL or any other control character makes it not a number (C's `strtod` would stop at a NUL and read `1\02` as 1).
func parseNumber(_ s: String) -> Double? {
    let t = s.trimmingSpaces
    guard !t.isEmpty,
          !t.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "x") || $0 == UInt8(ascii: "X") || $0 == UInt8(ascii: "p")
                                    || $0 == UInt8(ascii: "P") || $0 == UInt8(ascii: "_") }) else { return nil }
    return Double(t)
}

extension CSVTable {
    /// The number a CSV field holds, as the reader types columns (decimal, optional exponent, inf, nan; no
    /// hexadecimal, no control characters), or nil.
    public static func number(_ field: String) -> Double? { parseNumber(field) }
}

extension String {
    /// The string without leading and trailing spaces and tabs.
    var trimmingSpaces: String {
        guard let a = firstIndex(where: { $0 != " " && $0 != "\t" }) else { return "" }
        let b = lastIndex(where: { $0 != " " && $0 != "\t" })!
        if a == startIndex && b == index(before: endIndex) { return self }
        return String(self[a...b])
    }
}
