import CEmberZlib
import Foundation
import Testing
@testable import EmberData

/// A fresh temporary directory, removed when the value is released.
final class TempDir {
    let path: String

    init() {
        path = NSTemporaryDirectory() + "/ember-data-tests-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Writes `bytes` to `name` and returns its path.
    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) -> String {
        let p = path + "/" + name
        _ = FileManager.default.createFile(atPath: p, contents: Data(bytes))
        return p
    }

    /// Writes UTF-8 `text` to `name` and returns its path.
    @discardableResult
    func write(_ name: String, text: String) -> String { write(name, Array(text.utf8)) }
}

/// `bytes` compressed as one gzip member (zlib, level 6).
func gzip(_ bytes: [UInt8]) -> [UInt8] {
    var z = z_stream()
    precondition(deflateInit2_(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK)
    defer { deflateEnd(&z) }
    var input = bytes
    var out = [UInt8](repeating: 0, count: Int(deflateBound(&z, uLong(bytes.count))) + 64)
    let produced: Int = input.withUnsafeMutableBufferPointer { inp in
        out.withUnsafeMutableBufferPointer { o in
            z.next_in = inp.baseAddress
            z.avail_in = uInt(inp.count)
            z.next_out = o.baseAddress
            z.avail_out = uInt(o.count)
            precondition(deflate(&z, Z_FINISH) == Z_STREAM_END)
            return o.count - Int(z.avail_out)
        }
    }
    return Array(out[0..<produced])
}

/// The path of a test fixture.
func fixture(_ name: String) -> String {
    let url = Bundle.module.url(forResource: "Fixtures/" + name, withExtension: nil)
        ?? Bundle.module.resourceURL!.appendingPathComponent("Fixtures/" + name)
    return url.path
}

/// Runs `body`, which must throw a `DataError` of `kind`; returns it for further checks.
@discardableResult
func expectDataError(_ kind: DataError.Kind, sourceLocation: SourceLocation = #_sourceLocation,
                     _ body: () throws -> Void) -> DataError? {
    do {
        try body()
        Issue.record("expected a DataError(.\(kind)), nothing was thrown", sourceLocation: sourceLocation)
    } catch let e as DataError {
        #expect(e.kind == kind, "got \(e)", sourceLocation: sourceLocation)
        return e
    } catch {
        Issue.record("expected a DataError, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// Big-endian bytes of a 32-bit value.
func be32(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 255), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)] }

/// An IDX file of uint8 values with the given shape.
func idxBytes(_ values: [UInt8], shape: [Int], type: UInt8 = 0x08) -> [UInt8] {
    [0, 0, type, UInt8(shape.count)] + shape.flatMap(be32) + values
}
