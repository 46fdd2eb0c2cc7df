import Foundation
import Testing
@testable import EmberCore

// Large-shape goldens against PyTorch 2.13 (CPU, float32): shapes big enough for the vectorized kernels' bodies, the
// multi-threaded splits (elementwise ops over >= 2^15 elements, sums over >= 2^16, GEMMs of >= 2^22 flops split by
// rows or columns of C) and conv2d with a batch, including special values placed on chunk boundaries and vector tails.
//
// The fixture `Fixtures/core_golden_large.json` is written by `scripts/golden/make_core_golden.py` together with
// `core_golden.json` (see the script's docstring, "Large cases"). Inputs are not stored: both sides compute them from
// an integer hash (`goldenHashed` below, `hashed_values` in the script) that gives the same float32 bits on both, and
// each input carries a sample and a checksum of its bits so a drift between the two formulas fails loudly. Outputs
// and gradients up to 2,000 elements are stored whole; larger ones as a sample (first and last 50, every 97th, plus
// any indices where special values land) with their flat indices. Comparison rules and tolerance are
// GoldenTests.swift's (`goldenValueMatches`): 1e-5 + 1e-4 |torch| for finite values, exact NaN / inf.

struct GoldenGen: Decodable, Sendable {
    let salt: Int
    let scale: Double
}

struct GoldenSample: Decodable, Sendable {
    let indices: [Int]
    let data: [GoldenValue]
}

struct GoldenLargeInput: Decodable, Sendable {
    let shape: [Int]
    let dtype: String
    let gen: GoldenGen
    /// [flat index, value] overrides applied after the formula (special values).
    let inject: [[GoldenValue]]
    let grad: Bool
    let pre: [[GoldenJSON]]
    let check: GoldenSample
    /// Sum of the float32 bit patterns (as unsigned integers) mod 2^50.
    let bitsum: Int
}

struct GoldenLargeUpstream: Decodable, Sendable {
    let shape: [Int]
    let gen: GoldenGen
}

struct GoldenLargeCase: Decodable, Sendable, CustomTestStringConvertible {
    let name: String
    let op: String
    let params: [String: GoldenJSON]
    let inputs: [GoldenLargeInput]
    let outputs: [GoldenTensor]
    let upstream: [GoldenLargeUpstream]?
    let grads: [GoldenTensor?]?

    var testDescription: String { name }
}

struct GoldenLargeFile: Decodable, Sendable {
    let torch: String
    let cases: [GoldenLargeCase]
}

enum GoldenLargeFixture {
    static let file: GoldenLargeFile = {
        guard let url = Bundle.module.url(forResource: "core_golden_large", withExtension: "json", subdirectory: "Fixtures") else {
            fatalError("GoldenLargeTests: Fixtures/core_golden_large.json is missing; run scripts/golden/make_core_golden.py")
        }
        do {
            return try JSONDecoder().decode(GoldenLargeFile.self, from: Data(contentsOf: url))
        } catch {
            fatalError("GoldenLargeTests: cannot decode core_golden_large.json: \(error)")
        }
    }()
}

/// The fixture's input formula (`hashed_values` in make_core_golden.py): murmur3's fmix32 of i * 0x9E3779B1 +
/// salt * 0x632BE5AB (mod 2^32), whose top 24 bits become a value in [-scale, scale). Integer arithmetic and a
/// power-of-two scale only, so every value is exact in float32 and identical on both sides.
func goldenHashed(count n: Int, salt: Int, scale: Double) -> [Float] {
    precondition(scale > 0 && scale.significand == 1, "goldenHashed: scale must be a power of two")
    let offset = UInt32(truncatingIfNeeded: salt &* 0x632B_E5AB)
    return [Float](unsafeUninitializedCapacity: n) { buf, initialized in
        for i in 0..<n {
            var h = UInt32(truncatingIfNeeded: i) &* 0x9E37_79B1 &+ offset
            h ^= h >> 16
            h = h &* 0x85EB_CA6B
            h ^= h >> 13
            h = h &* 0xC2B2_AE35
            h ^= h >> 16
            buf[i] = Float(Double(Int(h >> 8) - (1 << 23)) / Double(1 << 23) * scale)
        }
        initialized = n
    }
}

/// The stored leaf of a large case, and any disagreement between its bits and the script's.
func goldenLargeLeaf(_ input: GoldenLargeInput) -> (Tensor, [String]) {
    let n = input.shape.reduce(1, *)
    var values = goldenHashed(count: n, salt: input.gen.salt, scale: input.gen.scale)
    for pair in input.inject { values[Int(pair[0].value)] = Float(pair[1].value) }
    var problems: [String] = []
    for (i, want) in zip(input.check.indices, input.check.data) {
        // the fixture holds the shortest decimal of each float32, so compare as float32
        let got = values[i], w = Float(want.value)
        let same = w.isNaN ? got.isNaN : (got == w && got.sign == w.sign)
        if !same { problems.append("input formula differs from the script at [\(i)]: \(got) vs \(want.value)") }
    }
    var sum: UInt64 = 0
    for v in values { sum &+= UInt64(v.bitPattern) }
    if Int(sum % (1 << 50)) != input.bitsum {
        problems.append("input bits differ from the script's (bitsum \(sum % (1 << 50)) vs \(input.bitsum))")
    }
    let t = Tensor(values, shape: input.shape)
    t.requiresGrad = input.grad
    return (t, problems)
}

/// Runs one large case and returns every mismatch.
func runGoldenLargeCase(_ c: GoldenLargeCase) -> [String] {
    let atol = 1e-5, rtol = 1e-4
    var problems: [String] = []
    var leaves: [Tensor] = []
    for input in c.inputs {
        let (leaf, p) = goldenLargeLeaf(input)
        leaves.append(leaf)
        problems += p
    }
    let xs = zip(leaves, c.inputs).map { goldenApplyPre($0, $1.pre) }
    guard let outs = goldenEmberOp(c.op, xs, GoldenParams(raw: c.params, caseName: c.name)) else {
        return ["unknown op key '\(c.op)': add it to goldenEmberOp"]
    }
    guard outs.count == c.outputs.count else { return ["\(outs.count) outputs, torch has \(c.outputs.count)"] }
    for (k, (o, w)) in zip(outs, c.outputs).enumerated() {
        problems += goldenCompare("output \(k)", o, w, atol: atol, rtol: rtol, signedZeros: true)
    }
    guard let ups = c.upstream, let grads = c.grads else { return problems }
    let upstream = ups.map { u in
        Tensor(goldenHashed(count: u.shape.reduce(1, *), salt: u.gen.salt, scale: u.gen.scale), shape: u.shape)
    }
    return problems + goldenGradientProblems(outs, upstream, leaves, wrt: leaves.indices.filter { c.inputs[$0].grad }) { i, g in
        guard let want = grads[i] else { return ["input \(i): fixture has no gradient"] }
        return goldenCompare("grad \(i)", g, want, atol: atol, rtol: rtol)
    }
}

@Suite struct GoldenLargeTests {
    @Test func fixtureLoads() {
        let f = GoldenLargeFixture.file
        #expect(f.torch.hasPrefix("2.13"))
        #expect(f.cases.count >= 20)
        #expect(Set(f.cases.map(\.name)).count == f.cases.count, "case names must be unique")
    }

    /// The formula's first values, written out: the script's `hashed_values(4, 1, 1.0)` gives these bits.
    @Test func hashedFormulaIsPinned() {
        let v = goldenHashed(count: 4, salt: 1, scale: 1)
        let f = GoldenLargeFixture.file.cases.first { $0.name == "matmul_256x300x200" }!
        let check = f.inputs[0].check
        for (i, want) in zip(check.indices, check.data) where i < 4 { #expect(v[i] == Float(want.value)) }
        #expect(v.map(\.bitPattern) == [0xBE5E_4FF0, 0x3F56_AF9A, 0xBEB0_E73C, 0xBE4D_0860])
    }

    @Test(arguments: GoldenLargeFixture.file.cases)
    func matchesPyTorch(_ c: GoldenLargeCase) {
        for p in runGoldenLargeCase(c) { Issue.record("\(c.name) (\(c.op)): \(p)") }
    }
}
