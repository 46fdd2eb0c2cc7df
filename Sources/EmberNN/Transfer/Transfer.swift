/// A name pattern over dotted parameter or module names, as transfer-learning settings use them: `*` matches any run
/// of characters (dots included), `?` one character; a pattern also matches everything below the name it spells
/// (`features` matches `features.0.weight`, as does `features.*`).
public struct NamePattern: Sendable, Hashable, CustomStringConvertible {
    /// The pattern as written.
    public let text: String

    /// A pattern; it must not be empty.
    public init(_ text: String) {
        precondition(!text.isEmpty, "NamePattern: the pattern is empty")
        self.text = text
    }

    public var description: String { text }

    /// Whether `name` matches the pattern itself or lies below a name it matches.
    public func matches(_ name: String) -> Bool {
        let n = Array(name.unicodeScalars), p = Array(text.unicodeScalars)
        if Self.glob(p, n[...]) { return true }
        // Below a matching prefix: some "prefix." of the name matches.
        for (i, c) in n.enumerated() where c == "." && Self.glob(p, n[..<i]) { return true }
        return false
    }

    /// Iterative glob with backtracking to the last star: linear in practice, no recursion.
    private static func glob(_ p: [Unicode.Scalar], _ n: ArraySlice<Unicode.Scalar>) -> Bool {
        let s = Array(n)
        var pi = 0, si = 0, star = -1, mark = 0
        while si < s.count {
            if pi < p.count && (p[pi] == "?" || p[pi] == s[si]) {
                pi += 1; si += 1
            } else if pi < p.count && p[pi] == "*" {
                star = pi; mark = si; pi += 1
            } else if star >= 0 {
                pi = star + 1; mark += 1; si = mark
            } else {
                return false
            }
        }
        while pi < p.count && p[pi] == "*" { pi += 1 }
        return pi == p.count
    }
}

/// A transfer-learning setting that names nothing in the model (a typo would otherwise train what was meant frozen).
public struct TransferError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What was asked and what the model has.
    public let description: String
}

extension Module {
    /// Freezes every parameter whose name matches one of `patterns` (see `NamePattern`) and returns their names.
    /// - Throws: `TransferError` when a pattern matches no parameter (the message lists the model's top-level names).
    @discardableResult
    public func freeze(matching patterns: [String]) throws -> [String] {
        try setTrainable(false, matching: patterns)
    }

    /// Lets the parameters whose names match one of `patterns` receive gradients again; returns their names.
    /// - Throws: `TransferError` when a pattern matches no parameter.
    @discardableResult
    public func unfreeze(matching patterns: [String]) throws -> [String] {
        try setTrainable(true, matching: patterns)
    }

    private func setTrainable(_ on: Bool, matching patterns: [String]) throws -> [String] {
        let named = namedParameters()
        var out: [String] = []
        for text in patterns {
            let p = NamePattern(text)
            let hits = named.filter { p.matches($0.0) }
            guard !hits.isEmpty else { throw noMatch(text, kind: "parameter", names: named.map(\.0)) }
            for (name, t) in hits {
                t.requiresGrad = on
                if !out.contains(name) { out.append(name) }
            }
        }
        return out
    }

    /// Parameter groups with their own learning rates (discriminative fine-tuning): each trainable parameter joins
    /// the group of the first `(pattern, lr)` whose pattern matches its name; the rest form a last group with the
    /// optimizer's own rate. Frozen parameters are left out. Pass the result to an optimizer.
    /// - Throws: `TransferError` when a pattern matches no parameter.
    public func parameterGroups(learningRates: [(pattern: String, lr: Double)]) throws -> [ParamGroup] {
        let named = namedParameters()
        let patterns = learningRates.map { NamePattern($0.pattern) }
        for (i, p) in patterns.enumerated() where !named.contains(where: { p.matches($0.0) }) {
            throw noMatch(learningRates[i].pattern, kind: "parameter", names: named.map(\.0))
        }
        var buckets = [[Tensor]](repeating: [], count: patterns.count + 1)
        for (name, t) in named where t.requiresGrad {
            buckets[patterns.firstIndex { $0.matches(name) } ?? patterns.count].append(t)
        }
        var groups: [ParamGroup] = []
        for (i, ps) in buckets.enumerated() where !ps.isEmpty {
            groups.append(ParamGroup(ps, lr: i < patterns.count ? learningRates[i].lr : nil))
        }
        return groups
    }

    /// Attaches LoRA adapters (`Linear.addLoRA`) to every Linear layer whose module path matches one of `targets`
    /// (default: all), then freezes every other parameter of the model, so only the adapters train; unfreeze a new
    /// head with `unfreeze(matching:)`. Adapters draw from `generator` in module order. Returns the adapted paths.
    /// - Throws: `TransferError` when a target matches no Linear layer.
    @discardableResult
    public func applyLoRA(rank: Int, alpha: Double, targets: [String] = ["*"], generator: Generator = .default) throws -> [String] {
        let linears = namedModules().compactMap { path, m in (m as? Linear).map { (path, $0) } }
        var chosen: [(String, Linear)] = []
        for text in targets {
            let p = NamePattern(text)
            let hits = linears.filter { p.matches($0.0) || (text == "*" && $0.0.isEmpty) }
            guard !hits.isEmpty else { throw noMatch(text, kind: "Linear layer", names: linears.map { $0.0.isEmpty ? "(the model itself)" : $0.0 }) }
            for h in hits where !chosen.contains(where: { $0.1 === h.1 }) { chosen.append(h) }
        }
        freeze()
        for (_, l) in linears where chosen.contains(where: { $0.1 === l }) { l.addLoRA(rank: rank, alpha: alpha, generator: generator) }
        return chosen.map(\.0)
    }

    /// Folds every LoRA adapter into its Linear layer's weight (W + (alpha / rank) · B A) and removes it: the model becomes a plain one
    /// with the same outputs, ready to save or export. Returns how many adapters were merged.
    @discardableResult
    public func mergeLoRA() -> Int {
        var n = 0
        for (_, m) in namedModules() {
            if let l = m as? Linear, l.loraA != nil { l.mergeOwnLoRA(); n += 1 }
        }
        return n
    }

    private func noMatch(_ pattern: String, kind: String, names: [String]) -> TransferError {
        let tops = names.map { String($0.split(separator: ".").first ?? "") }
        var seen = Set<String>(), shown: [String] = []
        for t in tops where seen.insert(t).inserted { shown.append(t) }
        let list = shown.prefix(12).joined(separator: ", ") + (shown.count > 12 ? ", ..." : "")
        return TransferError(description: "'\(pattern)' matches no \(kind) of \(type(of: self)) (its names start with: \(list.isEmpty ? "nothing" : list))")
    }
}
