import Foundation
import Testing
import EmberTestSupport
@testable import EmberIO

/// Seeded mutation fuzzing of the safetensors reader: every mutated file (bytes anywhere, or the JSON header alone
/// with a consistent length prefix) must decode or throw `FileFormatError`, never trap. Bounded; no timing.
@Suite struct SafeTensorsFuzzTests {
    static let rounds = 400

    static func seed() -> Data {
        SafeTensors.encode([("layer.weight", Tensor((0..<6).map { Float($0) * 0.5 }, shape: [2, 3])),
                            ("layer.bias", Tensor([1.5, -2.25] as [Double])), ("steps", Tensor([7] as [Int64], shape: [])),
                            ("mask", Tensor([true, false, true])), ("empty", Tensor.zeros([0, 4])),
                            ("ids", Tensor([3, 1, 4] as [Int32]))], metadata: ["format": "pt"])
    }

    /// Decodes, and reads every tensor's values, as a loader would.
    @discardableResult
    static func exercise(_ data: Data) -> Bool {
        guard let (tensors, _) = try? SafeTensors.decode(data, path: "fuzz.safetensors") else { return false }
        for (_, t) in tensors { _ = t.count; _ = t.description }
        return true
    }

    @Test func mutatedFiles() {
        let seed = Array(Self.seed())
        var m = Mutator(state: 11)
        let read = (0..<Self.rounds).filter { _ in Self.exercise(Data(m.mutate(seed))) }.count
        print("safetensors fuzz (bytes): \(Self.rounds) mutated files, \(read) read, \(Self.rounds - read) refused with an error")
    }

    @Test func mutatedHeaders() {
        let seed = Self.seed()
        let n = Int(seed.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self).littleEndian })
        let header = Array(seed[8..<(8 + n)]), body = seed[(8 + n)...]
        var m = Mutator(state: 12)
        var read = 0
        for _ in 0..<Self.rounds {
            let h = m.mutate(header)
            var d = Data()
            withUnsafeBytes(of: UInt64(h.count).littleEndian) { d.append(contentsOf: $0) }
            d.append(contentsOf: h)
            d.append(body)
            if Self.exercise(d) { read += 1 }
        }
        print("safetensors fuzz (headers): \(Self.rounds) mutated headers, \(read) read, \(Self.rounds - read) refused with an error")
    }

    @Test func hugeHeaderLengthIsNamed() {
        var d = Data()
        withUnsafeBytes(of: UInt64(100_000_001).littleEndian) { d.append(contentsOf: $0) }
        d.append(Data(repeating: 0x20, count: 64))
        #expect(throws: FileFormatError.self) { try SafeTensors.decode(d, path: "big.safetensors") }
        do { _ = try SafeTensors.decode(d, path: "big.safetensors") } catch {
            #expect("\(error)".contains("100,000,000"), "\(error)")
        }
    }
}

/// safetensors files are read and written through the backend (upload/download), not by touching tensor memory:
/// tensors read under another default backend live there, and such tensors write the same bytes.
@Suite struct SafeTensorsBackendTests {
    @Test func readAndWriteOnTheReferenceBackend() throws {
        let data = SafeTensorsFuzzTests.seed()
        let (cpu, _) = try SafeTensors.decode(data)
        let (ref, _) = try DefaultBackend.with(ReferenceBackend.shared) { try SafeTensors.decode(data) }
        for (name, t) in ref {
            #expect(t.device == .reference, "\(name)")
            #expect(t.toArray(Double.self) == cpu[name]!.toArray(Double.self), "\(name)")
        }
        #expect(SafeTensors.encode(ref.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
                == SafeTensors.encode(cpu.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }))
    }
}
