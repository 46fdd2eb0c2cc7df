import EmberData
import Foundation
import Testing

/// NumPy parses a .npy header with Python's `ast.literal_eval`, which skips `#` comments; so does Ember's reader
/// (`ember embed` marks its files that way), and a `#` inside a string is still part of the string.
@Suite struct NPYHeaderCommentTests {
    func npy(_ header: String, _ values: [Float]) -> [UInt8] {
        var h = header
        let unpadded = 10 + h.utf8.count + 1
        h += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, UInt8(h.utf8.count & 0xFF), UInt8(h.utf8.count >> 8)]
        out += Array(h.utf8)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { out += $0 } }
        return out
    }

    @Test func commentsAreSkipped() throws {
        let a = try NPYArray(bytes: npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1), } # written by ember embed", [1, 2]), file: "a.npy")
        #expect(a.shape == [2, 1])
        #expect(try a.tensor().toArray(Float.self) == [1, 2])
        let b = try NPYArray(bytes: npy("{'descr': '<f4', # the dtype\n 'fortran_order': False, 'shape': (1,), }", [3]), file: "b.npy")
        #expect(b.shape == [1])
        #expect(throws: DataError.self) { try NPYArray(bytes: npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } x # c", [3]), file: "c.npy") }
        #expect(throws: DataError.self) { try NPYArray(bytes: npy("# only a comment", [3]), file: "d.npy") }
    }
}
