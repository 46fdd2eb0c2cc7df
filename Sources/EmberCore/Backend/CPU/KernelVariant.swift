import CEmberKernels
import Foundation

/// The builds of Ember's vectorized float32 kernels, chosen once per process.
///
/// By default the fastest build the CPU supports runs; `EMBER_KERNELS=portable|avx2|avx512` forces one (to test a
/// build, or to reproduce what another machine computes). Within one build results are bit-identical for any thread
/// count; across builds they agree to float tolerance (elementwise transcendental kernels within a few ulp, sums
/// within about 1e-6 relative), not bit for bit.
public enum KernelVariant: String, CaseIterable, Sendable {
    /// 8-lane vector code without FMA: runs on any CPU.
    case portable
    /// 8-lane AVX2 + FMA code.
    case avx2
    /// 16-lane AVX-512 code for exp, tanh, sigmoid and softmax, and Ember's AVX-512 float32 GEMM (instead of
    /// OpenBLAS); AVX2 code for the rest.
    case avx512

    var code: Int32 {
        switch self {
        case .portable: return Int32(EK_PORTABLE)
        case .avx2: return Int32(EK_AVX2)
        case .avx512: return Int32(EK_AVX512)
        }
    }

    /// Whether this CPU can run the build.
    public var isSupported: Bool { ek_variant_supported(code) != 0 }

    /// The builds this CPU can run.
    public static var supported: [KernelVariant] { allCases.filter(\.isSupported) }

    /// The build in use.
    public static var active: KernelVariant {
        CPUBackend.shared.activate()
        let c = ek_active_variant()
        return allCases.first { $0.code == c } ?? .portable
    }

    /// The build `EMBER_KERNELS` asks for (nil when unset or empty), or a message saying why it cannot be used.
    static func requested(_ environment: [String: String] = ProcessInfo.processInfo.environment)
        -> Result<KernelVariant?, KernelVariantError> {
        guard let raw = environment["EMBER_KERNELS"]?.trimmingCharacters(in: .whitespaces).lowercased(), !raw.isEmpty
        else { return .success(nil) }
        guard let v = KernelVariant(rawValue: raw) else {
            return .failure(KernelVariantError(message: "EMBER_KERNELS=\(raw): unknown kernel build; expected one of portable, avx2, avx512"))
        }
        guard v.isSupported else {
            let have = supported.map(\.rawValue).joined(separator: ", ")
            return .failure(KernelVariantError(message: "EMBER_KERNELS=\(raw): this CPU cannot run the \(raw) kernels (it supports: \(have))"))
        }
        return .success(v)
    }

    /// Checks `EMBER_KERNELS` without stopping: command-line tools call it first to report a bad value as an error.
    public static func validateEnvironment() throws {
        if case .failure(let e) = requested() { throw e }
    }
}

/// A bad `EMBER_KERNELS` value.
public struct KernelVariantError: Error, CustomStringConvertible, Sendable {
    /// What is wrong and what was expected.
    public let message: String
    public var description: String { message }
}
