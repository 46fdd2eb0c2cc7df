/// One record of a CSV file: its fields and the line it starts on.
public struct CSVRow: Sendable, Equatable {
    /// The fields, unquoted (`"a ""b"""` reads as `a "b"`).
    public var fields: [String]
    /// The 1-based line the record starts on (a quoted field may span lines).
    public var line: Int
}

/// Reads CSV files (RFC 4180), plain or gzipped, one record at a time, with memory bounded by the longest record.
///
/// - Fields are separated by `delimiter` (`,` by default); records end at LF, CRLF or CR.
/// - A field that starts with a quote may hold delimiters, line breaks and doubled quotes (`""` for `"`).
/// - A UTF-8 byte-order mark at the start is skipped; blank lines are skipped.
/// - With `checksFieldCount` (the default) every record must have as many fields as the first one.
///
/// ```swift
/// let reader = try CSVReader(path: "data.csv.gz")
/// while let row = try reader.nextRow() { print(row.line, row.fields) }
/// ```
/// Malformed input (a wrong number of fields, text after a closing quote, an unterminated quote) throws
/// `DataError` naming the file and the line.
public final class CSVReader {
    /// Whether every record must have as many fields as the first.
    public var checksFieldCount: Bool
    /// Field count of the first record (nil before it is read).
    public private(set) var fieldCount: Int?
    private var firstLine = 0
    private let input: ByteReader
    private let delimiter: UInt8
    private let quote: UInt8
    private var buffer = [UInt8](repeating: 0, count: 1 << 16)
    private var pos = 0, end = 0, eof = false
    private var line = 1
    private var skipLF = false
    private var started = false

    /// The path being read.
    public var path: String { input.path }

    /// Opens `path`. `delimiter` and `quote` must be ASCII characters.
    public init(path: String, delimiter: Character = ",", quote: Character = "\"", checksFieldCount: Bool = true) throws {
        precondition(delimiter.isASCII && quote.isASCII && delimiter != quote && delimiter != "\n" && delimiter != "\r",
                     "CSVReader: delimiter and quote must be distinct ASCII characters other than line breaks")
        self.delimiter = delimiter.asciiValue!
        self.quote = quote.asciiValue!
        self.checksFieldCount = checksFieldCount
        input = try ByteReader(path: path)
    }

    @inline(__always)
    private func nextByte() throws -> UInt8? {
        if pos == end {
            if eof { return nil }
            end = try buffer.withUnsafeMutableBytes { try input.read(into: $0) }
            pos = 0
            if end < buffer.count { eof = true }
            if end == 0 { return nil }
        }
        let b = buffer[pos]
        pos += 1
        return b
    }

    private enum State { case fieldStart, unquoted, quoted, quoteInQuoted }

    /// The next record, or nil at the end of the file.
    /// - Throws: `DataError` for a record with the wrong number of fields, text after a closing quote, or a quote
    ///   that is never closed.
    public func nextRow() throws -> CSVRow? {
        if !started {
            started = true
            // Skip a UTF-8 byte-order mark (the first read fills the buffer unless the file is shorter).
            if try nextByte() != nil {
                pos = end >= 3 && buffer[0] == 0xEF && buffer[1] == 0xBB && buffer[2] == 0xBF ? 3 : 0
            }
        }
        var fields: [String] = []
        var field: [UInt8] = []
        var state = State.fieldStart
        var recordLine = line
        var quoteLine = line
        var sawAny = false

        func finishField() {
            fields.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
        }

        while true {
            guard let c = try nextByte() else { break }
            if skipLF {
                skipLF = false
                if c == 0x0A { continue }
            }
            let isBreak = c == 0x0A || c == 0x0D
            switch state {
            case .fieldStart, .unquoted:
                if c == delimiter {
                    sawAny = true
                    finishField()
                    state = .fieldStart
                } else if isBreak {
                    if c == 0x0D { skipLF = true }
                    line += 1
                    if !sawAny && fields.isEmpty && field.isEmpty {
                        recordLine = line   // blank line: skip it
                        quoteLine = line
                        continue
                    }
                    finishField()
                    return try finish(fields, recordLine)
                } else if c == quote && state == .fieldStart {
                    sawAny = true
                    state = .quoted
                    quoteLine = line
                } else {
                    sawAny = true
                    field.append(c)
                    state = .unquoted
                }
            case .quoted:
                if c == quote {
                    state = .quoteInQuoted
                } else {
                    field.append(c)
                    // Line breaks inside quotes are kept as written; CRLF counts as one line.
                    if c == 0x0D || (c == 0x0A && field.count < 2 || c == 0x0A && field[field.count - 2] != 0x0D) {
                        line += 1
                    }
                }
            case .quoteInQuoted:
                if c == quote {
                    field.append(quote)
                    state = .quoted
                } else if c == delimiter {
                    finishField()
                    state = .fieldStart
                } else if isBreak {
                    if c == 0x0D { skipLF = true }
                    line += 1
                    finishField()
                    return try finish(fields, recordLine)
                } else {
                    throw DataError(.badValue, file: path, at: .line(line),
                                    expected: "a delimiter or line break after the closing quote of field \(fields.count + 1)",
                                    found: excerpt(String(decoding: [c], as: UTF8.self)))
                }
            }
        }
        // End of data.
        if state == .quoted {
            throw DataError(.truncated, file: path, at: .line(quoteLine),
                            expected: "a closing quote for the field opened on line \(quoteLine)", found: "the end of the file")
        }
        if !sawAny && fields.isEmpty && field.isEmpty { return nil }
        finishField()
        return try finish(fields, recordLine)
    }

    private func finish(_ fields: [String], _ recordLine: Int) throws -> CSVRow {
        if let n = fieldCount {
            if checksFieldCount && fields.count != n {
                throw DataError(.fieldCount, file: path, at: .line(recordLine),
                                expected: "\(n) fields (as on line \(firstLine))", found: "\(fields.count)")
            }
        } else {
            fieldCount = fields.count
            firstLine = recordLine
        }
        return CSVRow(fields: fields, line: recordLine)
    }

    /// Every remaining record.
    public func readAll() throws -> [CSVRow] {
        var rows: [CSVRow] = []
        while let r = try nextRow() { rows.append(r) }
        return rows
    }
}
