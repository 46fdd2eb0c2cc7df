import Foundation
import Synchronization

/// A size-bucketed caching allocator for host memory.
///
/// A fresh large allocation costs far more than most ops here (glibc mmap plus page faults), so freed buffers are
/// kept in per-size free lists and handed out again. Sizes are rounded up to a bucket (powers of two split in four),
/// so a buffer fits every request of its bucket. The cache is bounded: past `maxCachedBytes` freed buffers go back
/// to the system.
public final class CachingAllocator: Sendable {
    /// The process-wide host allocator.
    public static let shared = CachingAllocator()

    private struct State {
        var free: [Int: [UInt]] = [:]  // addresses by bucket size
        var cachedBytes = 0
        var liveBytes = 0
        var hits = 0
        var misses = 0
    }
    private let state = Mutex(State())
    /// Upper bound on bytes kept in the free lists.
    public let maxCachedBytes: Int

    /// Creates an allocator that keeps at most `maxCachedBytes` in its free lists.
    public init(maxCachedBytes: Int = 4 << 30) { self.maxCachedBytes = maxCachedBytes }

    /// The bucket size a request of `bytes` is served from.
    static func bucket(_ bytes: Int) -> Int {
        if bytes <= 64 { return 64 }
        let p = Int.bitWidth - (bytes - 1).leadingZeroBitCount  // 2^p >= bytes
        let base = 1 << (p - 1)
        let quarter = base / 4
        let steps = (bytes - base + quarter - 1) / quarter
        return base + steps * quarter
    }

    /// Returns 64-byte-aligned memory of at least `bytes` bytes (its real capacity is `bucket(bytes)`).
    public func allocate(_ bytes: Int) -> (UnsafeMutableRawPointer, Int) {
        let size = Self.bucket(max(bytes, 1))
        let reused: UInt? = state.withLock { s in
            s.liveBytes += size
            if var list = s.free[size], let p = list.popLast() {
                s.free[size] = list
                s.cachedBytes -= size
                s.hits += 1
                return p
            }
            s.misses += 1
            return nil
        }
        if let a = reused, let p = UnsafeMutableRawPointer(bitPattern: a) { return (p, size) }
        return (UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64), size)
    }

    /// Returns memory obtained from `allocate` (with its bucket size) to the cache.
    public func release(_ p: UnsafeMutableRawPointer, size: Int) {
        let address = UInt(bitPattern: p)
        let keep: Bool = state.withLock { s in
            s.liveBytes -= size
            if s.cachedBytes + size > maxCachedBytes { return false }
            s.free[size, default: []].append(address)
            s.cachedBytes += size
            return true
        }
        if !keep { p.deallocate() }
    }

    /// Frees every cached buffer.
    public func emptyCache() {
        let all: [UInt] = state.withLock { s in
            let ptrs = s.free.values.flatMap { $0 }
            s.free = [:]
            s.cachedBytes = 0
            return ptrs
        }
        for a in all { UnsafeMutableRawPointer(bitPattern: a)?.deallocate() }
    }

    /// Counters: bytes in live buffers, bytes cached, cache hits and misses.
    public var statistics: (liveBytes: Int, cachedBytes: Int, hits: Int, misses: Int) {
        state.withLock { ($0.liveBytes, $0.cachedBytes, $0.hits, $0.misses) }
    }
}

/// The next `Storage.serial`.
let storageSerial = Atomic<UInt64>(0)

/// Reference-counted memory behind one or more tensors (views share it).
public final class Storage: @unchecked Sendable {
    /// Start of the buffer, in the backend's memory (a device address on a device backend). Not public: code
    /// outside the package reaches a tensor's bytes through the backend (`toArray`, `withHostBytes`, `Operand`s
    /// handed to kernels).
    package let pointer: UnsafeMutableRawPointer
    /// Usable bytes.
    public let byteCount: Int
    /// The backend that owns the memory.
    public let backend: any Backend
    let capacity: Int
    /// Bumped by every in-place write (`assign`, `scaleAdd`, `fill`, `adamUpdate`, `withUnsafeMutableBufferPointer`):
    /// a tensor saved for backward remembers the version it was saved at, and backward stops if it changed.
    public internal(set) var version = 0
    /// Order of creation (process-wide): a tracer tells tensors made during its recording from older ones.
    let serial: UInt64

    init(byteCount: Int, backend: any Backend) {
        serial = storageSerial.add(1, ordering: .relaxed).newValue
        let (p, cap) = backend.allocate(byteCount: byteCount)
        self.pointer = p
        self.capacity = cap
        self.byteCount = byteCount
        self.backend = backend
    }

    deinit { backend.deallocate(pointer, capacity: capacity) }
}
