extension Tensor: CustomStringConvertible {
    /// A readable rendering in PyTorch's style; long dimensions are summarized with "...".
    public var description: String {
        let values = count <= 10_000 ? toArray(Double.self) : []
        func fmt(_ v: Double) -> String {
            switch dtype {
            case .bool: return v != 0 ? "true" : "false"
            case .int32, .int64, .uint8: return String(Int64(v))
            default:
                if v.isNaN { return "nan" }
                if v.isInfinite { return v > 0 ? "inf" : "-inf" }
                if v == v.rounded() && Swift.abs(v) < 1e6 { return String(format4: v, decimals: 1) }
                return String(format4: v, decimals: 4)
            }
        }
        if count > 10_000 {
            return "tensor(shape: \(shape), dtype: \(dtype), \(count) elements)"
        }
        func render(_ dim: Int, _ base: Int, _ indent: String) -> String {
            if dim == rank { return fmt(values[base]) }
            let n = shape[dim]
            let stride = shape[(dim + 1)...].reduce(1, *)
            let shown: [Int] = n > 8 ? Array(0..<3) + [-1] + Array((n - 3)..<n) : Array(0..<n)
            let sep = dim == rank - 1 ? ", " : ",\n" + indent + " "
            let parts = shown.map { i in i < 0 ? "..." : render(dim + 1, base + i * stride, indent + " ") }
            return "[" + parts.joined(separator: sep) + "]"
        }
        let body = rank == 0 ? fmt(values[0]) : render(0, 0, "       ")
        let grad = requiresGrad ? ", requiresGrad: true" : ""
        return "tensor(\(body), dtype: \(dtype)\(grad))"
    }
}

extension String {
    init(format4 v: Double, decimals: Int) {
        var s = "\(v)"
        if decimals <= 1 { self = s.hasSuffix(".0") ? s : s; return }
        // round to `decimals` places without Foundation formatting
        let scale = Double([1, 10, 100, 1000, 10_000, 100_000][Swift.min(decimals, 5)])
        let r = (v * scale).rounded() / scale
        s = Swift.abs(v) >= 1e-4 && Swift.abs(v) < 1e9 ? "\(r)" : "\(v)"
        self = s
    }
}
