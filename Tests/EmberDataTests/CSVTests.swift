import Foundation
import Testing
@testable import EmberData

@Suite struct CSVReaderTests {
    @Test func rfc4180QuotingAndLineEndings() throws {
        let dir = TempDir()
        let text = "\u{FEFF}name,note,n\r\n\"Smith, J\",\"said \"\"hi\"\"\",1\r\n\"multi\nline\",,2\n\nplain,\"\",3"
        let path = dir.write("q.csv", text: text)
        let rows = try CSVReader(path: path).readAll()
        #expect(rows.map(\.fields) == [["name", "note", "n"], ["Smith, J", "said \"hi\"", "1"], ["multi\nline", "", "2"], ["plain", "", "3"]])
        #expect(rows.map(\.line) == [1, 2, 3, 6])
    }

    @Test func largeFileAcrossBufferBoundaries() throws {
        // ~300 KB: records, quotes, CRLF and quoted line breaks straddle the reader's 64 KB chunks.
        let dir = TempDir()
        var text = "id,text,value\r\n"
        var want: [[String]] = [["id", "text", "value"]]
        var lines = [1]
        var line = 2
        for i in 0..<6000 {
            let body = i % 7 == 0 ? "two\r\nlines \"\"q\"\"" : "row, \(i)"
            text += "\(i),\"\(body)\",\(Double(i) / 4)\r\n"
            want.append([String(i), body.replacingOccurrences(of: "\"\"", with: "\""), String(Double(i) / 4)])
            lines.append(line)
            line += i % 7 == 0 ? 2 : 1
        }
        for path in [dir.write("big.csv", text: text), dir.write("big.csv.gz", gzip(Array(text.utf8)))] {
            let rows = try CSVReader(path: path).readAll()
            #expect(rows.map(\.fields) == want)
            #expect(rows.map(\.line) == lines)
        }
        let t = try CSVTable(path: dir.path + "/big.csv")
        #expect(t.columnNames == ["id", "text", "value"] && t.rowCount == 6000)
        #expect(try t.numbers("value").last == 5999.0 / 4)
    }

    @Test func otherDelimitersAndGzip() throws {
        let dir = TempDir()
        let path = dir.write("t.tsv.gz", gzip(Array("a\tb\n1\t2\n".utf8)))
        #expect(try CSVReader(path: path, delimiter: "\t").readAll().map(\.fields) == [["a", "b"], ["1", "2"]])
    }

    @Test func crAloneEndsARecordAndTrailingDelimiterMeansEmptyField() throws {
        let dir = TempDir()
        let path = dir.write("cr.csv", text: "a,b,\r1,2,\r")
        #expect(try CSVReader(path: path).readAll().map(\.fields) == [["a", "b", ""], ["1", "2", ""]])
    }
}

@Suite struct CSVTableTests {
    @Test func headerDetectionTypesAndMissingValues() throws {
        let dir = TempDir()
        let path = dir.write("t.csv", text: """
            age,city,score,label
            31,Paris,1.5,yes
            NA,"Lyon",?,no
            45,,NaN,yes
            27,Paris,2e1,no

            """)
        let t = try CSVTable(path: path)
        #expect(t.columnNames == ["age", "city", "score", "label"])
        #expect(t.rowCount == 4)
        #expect(t.columns[0].type == .numeric && t.columns[1].type == .text && t.columns[2].type == .numeric)
        let age = try t.numbers("age")
        #expect(age[0] == 31 && age[1].isNaN && age[3] == 27)
        #expect(try t.column("city") == .text(["Paris", "Lyon", nil, "Paris"]))
        #expect(try t.column("score").missingCount == 2)
        #expect(t.lines == [2, 3, 4, 5])
        let x = try t.tensor()
        #expect(x.shape == [4, 2])
        let (y, classes) = try t.classLabels(column: "label")
        #expect(classes == ["no", "yes"])
        #expect(y.toArray(Int64.self) == [1, 0, 1, 0])
    }

    @Test func noHeaderWhenFirstRowIsData() throws {
        let dir = TempDir()
        let t = try CSVTable(path: dir.write("n.csv", text: "1,2,a\n3,4,b\n"))
        #expect(t.columnNames == ["0", "1", "2"])
        #expect(t.rowCount == 2)
        #expect(try t.tensor().scalars == [1, 2, 3, 4])
        let forced = try CSVTable(path: dir.write("h.csv", text: "1,2\n3,4\n"), options: CSVOptions(header: .present))
        #expect(forced.columnNames == ["1", "2"] && forced.rowCount == 1)
    }

    @Test func allTextHeaderDetection() throws {
        let dir = TempDir()
        #expect(try CSVTable(path: dir.write("a.csv", text: "colour,shape\nred,round\nblue,square\n")).columnNames == ["colour", "shape"])
        #expect(try CSVTable(path: dir.write("b.csv", text: "red,round\nblue,square\nred,round\n")).columnNames == ["0", "1"])
    }

    @Test func declaredTypesAndDuplicateNames() throws {
        let dir = TempDir()
        let path = dir.write("d.csv", text: "id,id,zip\n1,2,01234\n3,4,75001\n")
        let t = try CSVTable(path: path, options: CSVOptions(columnTypes: ["zip": .text]))
        #expect(t.columnNames == ["id", "id.1", "zip"])
        #expect(try t.column("zip") == .text(["01234", "75001"]))
        #expect(try t.classLabels(column: "id.1").classes == ["2", "4"])
    }
}
