import Foundation
import Testing
import EmberTestSupport
@testable import EmberCLI
@testable import EmberData

/// Inputs that used to hang, blow up memory or overflow the stack: alias bombs, deep nesting, very wide CSV files.
@Suite struct ResourceLimitTests {
    /// "Billion laughs": nine levels of ten aliases each stand for 10^9 strings.
    static let aliasBomb: String = {
        var lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        for i in 1...9 { lines.append("a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]") }
        return lines.joined(separator: "\n") + "\ndata: {dataset: digits}\nmodel: {preset: mlp}\n"
    }()

    @Test func anAliasBombIsRefusedBeforeItIsExpanded() {
        #expect(configError(Self.aliasBomb)?.contains("the document expands to more than 100000 values (aliases repeating aliases?)") == true)
        // A few aliases, as people use them, are fine.
        let normal = "common: &opt {name: adam, lr: 0.01}\ndata: {dataset: digits}\nmodel: {preset: mlp}\ntraining: {optimizer: *opt}\n"
        #expect(configError(normal)?.contains("common: unknown key") == true)   // read, then refused as an unknown key
    }

    @Test func deepNestingIsAnErrorNotAStackOverflow() throws {
        let flow = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(configError("data: " + flow + "\n") == "line 1: the document nests deeper than 64 levels")
        var block = ""
        for i in 0..<1_000 { block += String(repeating: " ", count: i) + "a:\n" }   // 0.5 MB of indentation
        #expect(configError(block)?.hasSuffix("the document nests deeper than 64 levels") == true)
        let dashes = String(repeating: "- ", count: 10_000) + "x\n"
        #expect(configError(dashes)?.hasSuffix("the document nests deeper than 64 levels") == true)
        // Exactly: 65 levels of flow lists pass the quick scan and fail the exact check; 60 are fine as YAML.
        let sixtyFive = "data: " + String(repeating: "[", count: 64) + String(repeating: "]", count: 64) + "\n"
        #expect(configError(sixtyFive) == "line 1: the document nests deeper than 64 levels")
        let sixty = "data: " + String(repeating: "[", count: 60) + String(repeating: "]", count: 60) + "\n"
        #expect(configError(sixty)?.hasSuffix("data: expected a mapping with `dataset` or `train` files, got a list") == true
                || configError(sixty)?.contains("data") == true)
        // --set with such a value, or such a key path.
        let base = "data: {dataset: digits}\nmodel: {preset: mlp}\n"
        #expect(configError(base, overrides: ["training.x=" + flow]) == "training.x: override value \"\(String(flow.prefix(40)))...\" nests deeper than 64 levels")
        let keys = Array(repeating: "a", count: 10_000).joined(separator: ".")
        #expect(configError(base, overrides: [keys + "=1"])?.contains("a key path deeper than 64 levels") == true)
        // Too large a document.
        #expect(configError(base + "# " + String(repeating: "x", count: 1 << 20) + "\n")?.contains("at most 1048576 (1 MiB) are read") == true)
    }

    @Test func aModelFileWhoseSavedConfigNestsDeeplyIsAnError() throws {
        // `evaluate` re-reads the saved config: a clear error (or the defaults), never a crash.
        let flow = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: ConfigError.self) { try ExperimentConfig.parse("data: " + flow) }
    }

    @Test func aWideCSVIsReadInLinearTime() throws {
        // 200,000 columns used to take minutes (a linear column lookup per column); now it is read like any other.
        let dir = tempDirectory("wide")
        let columns = 200_000
        var text = (0..<columns).map { "c\($0)" }.joined(separator: ",") + ",y\n"
        for r in 0..<3 { text += (0..<columns).map { String(($0 + r) % 10) }.joined(separator: ",") + ",\(r % 2)\n" }
        let path = write(text, "wide.csv", in: dir)
        let table = try CSVTable(path: path)
        #expect(table.columnNames.count == columns + 1 && table.rowCount == 3)
        let x = try table.tensor(columns: Array(table.columnNames.dropLast()))
        #expect(x.shape == [3, columns])
        #expect(x.scalars[columns + 7] == 8 && x.scalars[2 * columns + columns - 1] == Float((columns - 1 + 2) % 10))
        let raw = try DataReader.read(DataSource(format: .csv, path: path), task: .classification, classes: nil)
        #expect(raw.featureNames.count == columns && raw.classNames == ["0", "1"])
    }
}
