import CBLAS
import Foundation

/// OpenBLAS's own thread pool (used by GEMM).
public enum BLAS {
    /// Sets how many threads OpenBLAS uses for GEMM.
    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }
    /// How many threads OpenBLAS uses for GEMM.
    public static var threads: Int { Int(openblas_get_num_threads()) }
}

/// Resident memory of this process in bytes (Linux `/proc/self/statm`), or 0 where unavailable.
public func residentMemoryBytes() -> Int {
    guard let s = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let parts = s.split(separator: " ")
    guard parts.count > 1, let pages = Int(parts[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}
