/// Walks an N-d index space shared by several strided operands, one innermost row at a time.
///
/// Dimensions are first coalesced (merged wherever every operand is contiguous across them) so contiguous and
/// broadcast cases collapse to few long rows.
struct StridedLoop {
    var shape: [Int]
    var strides: [[Int]]  // per operand, per dim

    init(shape: [Int], strides: [[Int]]) {
        for s in strides {
            precondition(s.count == shape.count, "strided loop: an operand has \(s.count) strides \(s) for a \(shape.count)-d shape \(shape)")
        }
        var sh: [Int] = []
        var st: [[Int]] = Array(repeating: [], count: strides.count)
        for d in 0..<shape.count where shape[d] != 1 {
            sh.append(shape[d])
            for k in 0..<strides.count { st[k].append(strides[k][d]) }
        }
        // merge dim d-1 into d when contiguous for every operand
        var i = sh.count - 1
        while i > 0 {
            var ok = true
            for k in 0..<st.count where st[k][i - 1] != st[k][i] * sh[i] { ok = false; break }
            if ok {
                sh[i - 1] *= sh[i]
                sh.remove(at: i)
                for k in 0..<st.count { st[k][i - 1] = st[k][i]; st[k].remove(at: i) }
            }
            i -= 1
        }
        self.shape = sh
        self.strides = st
    }

    var isEmpty: Bool { shape.contains(0) }

    /// Calls body(offsets, count, innerStrides) for each innermost row; offsets are per operand, in elements.
    func forEachRow(_ body: (UnsafeBufferPointer<Int>, Int, UnsafeBufferPointer<Int>) -> Void) {
        if isEmpty { return }
        let k = strides.count
        let nd = shape.count
        withUnsafeTemporaryAllocation(of: Int.self, capacity: k * 2 + nd + 1) { buf in
            let offsets = UnsafeMutableBufferPointer(rebasing: buf[0..<k])
            let inner = UnsafeMutableBufferPointer(rebasing: buf[k..<(2 * k)])
            let index = UnsafeMutableBufferPointer(rebasing: buf[(2 * k)..<(2 * k + nd + 1)])
            for j in 0..<k { offsets[j] = 0; inner[j] = nd > 0 ? strides[j][nd - 1] : 0 }
            let count = nd > 0 ? shape[nd - 1] : 1
            if nd <= 1 {
                body(UnsafeBufferPointer(offsets), count, UnsafeBufferPointer(inner))
                return
            }
            for d in 0..<nd { index[d] = 0 }
            while true {
                body(UnsafeBufferPointer(offsets), count, UnsafeBufferPointer(inner))
                var d = nd - 2
                while d >= 0 {
                    index[d] += 1
                    for j in 0..<k { offsets[j] += strides[j][d] }
                    if index[d] < shape[d] { break }
                    for j in 0..<k { offsets[j] -= strides[j][d] * shape[d] }
                    index[d] = 0
                    d -= 1
                }
                if d < 0 { return }
            }
        }
    }

    /// Number of rows and the length of each.
    var rowCount: Int { shape.count <= 1 ? 1 : shape.dropLast().reduce(1, *) }
}
