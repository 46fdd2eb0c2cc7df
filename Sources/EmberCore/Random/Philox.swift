/// Philox4x32-10, the counter-based generator of Salmon et al. (2011): a keyed bijection of a 128-bit counter.
/// Counter-based means element i of any draw can be computed on its own, so streams split cleanly across workers
/// and results never depend on the thread count.
enum Philox {
    /// The value every backend draws for element i of a random fill: from block `counter + i`, uniform in [0, 1)
    /// (24 bits for float32 and the half types, 53 for float64) or standard normal (Box-Muller on two 32-bit
    /// uniforms, u1 in (0, 1]).
    @inline(__always)
    static func sample(key: (UInt32, UInt32), counter: UInt64, normal: Bool, dtype: DType) -> Double {
        let b = block(key: key, counter: counter)
        if normal {
            let u1 = (Double(b.0) + 1) / 4294967296.0
            let u2 = Double(b.1) / 4294967296.0
            return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
        }
        if dtype == .float64 { return Double((UInt64(b.0) << 21) ^ UInt64(b.1 >> 11)) / 9007199254740992.0 }
        return Double(b.0 >> 8) / 16777216.0
    }

    @inline(__always)
    static func block(key: (UInt32, UInt32), counter: UInt64, stream: UInt64 = 0) -> (UInt32, UInt32, UInt32, UInt32) {
        var c0 = UInt32(truncatingIfNeeded: counter), c1 = UInt32(truncatingIfNeeded: counter >> 32)
        var c2 = UInt32(truncatingIfNeeded: stream), c3 = UInt32(truncatingIfNeeded: stream >> 32)
        var k0 = key.0, k1 = key.1
        for _ in 0..<10 {
            let p0 = UInt64(0xD251_1F53) &* UInt64(c0)
            let p1 = UInt64(0xCD9E_8D57) &* UInt64(c2)
            let n0 = UInt32(truncatingIfNeeded: p1 >> 32) ^ c1 ^ k0
            let n1 = UInt32(truncatingIfNeeded: p1)
            let n2 = UInt32(truncatingIfNeeded: p0 >> 32) ^ c3 ^ k1
            let n3 = UInt32(truncatingIfNeeded: p0)
            c0 = n0; c1 = n1; c2 = n2; c3 = n3
            k0 = k0 &+ 0x9E37_79B9
            k1 = k1 &+ 0xBB67_AE85
        }
        return (c0, c1, c2, c3)
    }
}

/// Ember's seeded random generator: Philox4x32-10 with a 64-bit key (from the seed) and a 64-bit counter.
///
/// It is a value type: pass it `inout` to everything random (init, shuffling, dropout, augmentation), and the same
/// seed gives the same bits on every run and thread count. `split(_:)` derives independent child streams (for data
/// loader workers, say) without advancing the parent.
public struct RandomState: Sendable, Equatable, Codable {
    /// The key derived from the seed.
    public private(set) var key0: UInt32
    /// Second word of the key.
    public private(set) var key1: UInt32
    /// Number of 128-bit blocks drawn so far.
    public var counter: UInt64

    /// A generator for `seed`.
    public init(seed: UInt64) {
        key0 = UInt32(truncatingIfNeeded: seed)
        key1 = UInt32(truncatingIfNeeded: seed >> 32)
        counter = 0
    }

    var key: (UInt32, UInt32) { (key0, key1) }

    /// Reserves `blocks` consecutive counter values and returns the first.
    public mutating func reserve(_ blocks: Int) -> UInt64 {
        let c = counter
        counter &+= UInt64(blocks)
        return c
    }

    /// The next 128 random bits.
    public mutating func nextBlock() -> (UInt32, UInt32, UInt32, UInt32) {
        Philox.block(key: key, counter: reserve(1))
    }

    /// A uniform Double in [0, 1) with 53 random bits.
    public mutating func nextDouble() -> Double {
        let b = nextBlock()
        return Double((UInt64(b.0) << 21) ^ UInt64(b.1 >> 11)) / 9007199254740992.0
    }

    /// A uniform integer in [0, bound), without modulo bias.
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0, "nextInt(below:): bound must be positive, got \(bound)")
        let b = nextBlock()
        let x = (UInt64(b.0) << 32) | UInt64(b.1)
        return Int(x.multipliedFullWidth(by: UInt64(bound)).high)
    }

    /// A standard normal Double (Box-Muller).
    public mutating func nextNormal() -> Double {
        let b = nextBlock()
        let u1 = (Double(b.0) + 1) / 4294967296.0, u2 = Double(b.1) / 4294967296.0
        return (-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2)
    }

    /// An independent child stream numbered `id` (the parent is not advanced).
    public func split(_ id: UInt64) -> RandomState {
        let b = Philox.block(key: key, counter: id, stream: 0xE3B0_C442_98FC_1C14)
        var r = RandomState(seed: 0)
        r.key0 = b.0 ^ b.2
        r.key1 = b.1 ^ b.3
        return r
    }

    /// An independent child stream; advances the parent so successive forks differ.
    public mutating func fork() -> RandomState { split(reserve(1) | (1 << 63)) }

    /// A random permutation of 0..<n (Fisher-Yates).
    public mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        if n > 1 {
            for i in stride(from: n - 1, to: 0, by: -1) { p.swapAt(i, nextInt(below: i + 1)) }
        }
        return p
    }
}

import Foundation
@inline(__always) private func _log(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Foundation.cos(x) }
