import Foundation
import Testing
@testable import EmberIO

/// Hand-made safetensors headers that lie about shapes, dtypes and byte ranges: each is a thrown `FileFormatError`
/// naming the file and the tensor, never an arithmetic overflow trap or a read past the data.
@Suite struct CraftedHeaderTests {
    /// A safetensors file: the header `json` (its length first) and `body` bytes of data.
    func file(_ json: String, body: Int) -> Data {
        var d = Data()
        var n = UInt64(json.utf8.count).littleEndian
        withUnsafeBytes(of: &n) { d.append(contentsOf: $0) }
        return d + Data(json.utf8) + Data(count: body)
    }

    /// The error reading `json` + `body` bytes gives (path "crafted.safetensors"), or "no error".
    func reason(_ json: String, body: Int) -> String {
        do { _ = try SafeTensors.decode(file(json, body: body), path: "crafted.safetensors"); return "no error" } catch let e as FileFormatError {
            return e.description
        } catch { return "unexpected \(type(of: error)): \(error)" }
    }

    func entry(_ name: String, _ dtype: String, _ shape: String, _ offsets: String) -> String {
        #"{"\#(name)":{"dtype":"\#(dtype)","shape":\#(shape),"data_offsets":\#(offsets)}}"#
    }

    @Test func elementCountsThatOverflow() {
        let two32 = 1 << 32, two62 = 1 << 62
        // 2^32 * 2^32 = 2^64 elements; 2^62 * 4; 2^61 float64 elements are 2^64 bytes
        #expect(reason(entry("big", "F32", "[\(two32),\(two32)]", "[0,16]"), body: 16)
                == "crafted.safetensors: tensor 'big': shape [4294967296, 4294967296] has more elements than a 64-bit count holds")
        #expect(reason(entry("big", "F32", "[\(two62),4]", "[0,16]"), body: 16)
                == "crafted.safetensors: tensor 'big': shape [4611686018427387904, 4] has more elements than a 64-bit count holds")
        #expect(reason(entry("wide", "F64", "[\(1 << 61)]", "[0,16]"), body: 16)
                == "crafted.safetensors: tensor 'wide': 2305843009213693952 F64 elements (shape [2305843009213693952]) are more bytes than a 64-bit size holds")
        // an empty tensor whose other dimensions multiply past 2^63 (its strides would overflow)
        #expect(reason(entry("empty", "F32", "[0,\(two62),\(two62)]", "[0,0]"), body: 0)
                == "crafted.safetensors: tensor 'empty': shape [0, 4611686018427387904, 4611686018427387904] has more elements than a 64-bit count holds")
        // large but representable: the byte range then disagrees or runs past the data
        #expect(reason(entry("w", "F32", "[\(1 << 40)]", "[0,\(1 << 42)]"), body: 16)
                == "crafted.safetensors: tensor 'w': byte range [0, 4398046511104] runs past the end of the data (16 bytes)")
        #expect(reason(entry("w", "F32", "[\(1 << 40)]", "[0,16]"), body: 16)
                .hasPrefix("crafted.safetensors: tensor 'w': byte range [0, 16] does not hold 1099511627776 F32 elements"))
    }

    @Test func shapesAndOffsetsThatLie() {
        #expect(reason(entry("n", "F32", "[-1,4]", "[0,16]"), body: 16)
                == "crafted.safetensors: tensor 'n': negative dimension in shape [-1, 4]")
        #expect(reason(entry("n", "F32", "[2.5]", "[0,8]"), body: 8)
                == "crafted.safetensors: tensor 'n': expected {dtype, shape, data_offsets: [begin, end]}")
        #expect(reason(entry("n", "F32", "[18446744073709551616]", "[0,8]"), body: 8)
                == "crafted.safetensors: tensor 'n': expected {dtype, shape, data_offsets: [begin, end]}")
        #expect(reason(entry("o", "F32", "[2]", "[-8,0]"), body: 8)
                == "crafted.safetensors: tensor 'o': byte range [-8, 0] does not hold 2 F32 elements of shape [2]")
        #expect(reason(entry("o", "F32", "[2]", "[8,16]"), body: 8)
                == "crafted.safetensors: tensor 'o': byte range [8, 16] runs past the end of the data (8 bytes)")
        #expect(reason(entry("o", "F32", "[2]", "[\(Int.max - 3),\(Int.max)]"), body: 8)
                == "crafted.safetensors: tensor 'o': byte range [\(Int.max - 3), \(Int.max)] does not hold 2 F32 elements of shape [2]")
        #expect(reason(entry("o", "I64", "[2]", "[0,8]"), body: 8)
                == "crafted.safetensors: tensor 'o': byte range [0, 8] does not hold 2 I64 elements of shape [2]")
        #expect(reason(entry("o", "BOOL", "[3]", "[0,3]"), body: 3) == "no error")
    }
}
