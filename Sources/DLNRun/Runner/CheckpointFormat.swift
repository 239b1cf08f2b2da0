import DLNModel
import Foundation

/// Reading a checkpoint safely: the checksum, then every header value that the resume will index with, so that a
/// damaged (or forged) file is refused with a message and never crashes the process.
extension Checkpoint {
    /// The header and the offset of the first array; throws `.badFile` naming what is wrong.
    static func parse(_ bytes: [UInt8], path: String) throws(DLNError) -> (Header, Int) {
        func corrupt(_ why: String) -> DLNError { .badFile(path: path, reason: "corrupt (\(why))") }
        if bytes.count >= formerMagic.count, Array(bytes[0..<formerMagic.count]) == formerMagic {
            throw .badFile(
                path: path,
                reason:
                    "written in checkpoint format 1 by an older dlnsim (no checksum, no data-file fingerprints): "
                    + "resume it with that dlnsim, or start over with --force")
        }
        guard bytes.count >= magic.count, Array(bytes[0..<magic.count]) == magic else {
            throw .badFile(path: path, reason: "not a dlnsim checkpoint")
        }
        guard bytes.count >= magic.count + 8 + checksumLength else {
            throw corrupt("truncated: \(bytes.count) bytes")
        }
        let body = bytes.count - checksumLength
        let stored = Array(bytes[body...])
        let actual = SHA256.hash(bytes[0..<body])
        guard stored == actual else {
            throw .badFile(
                path: path,
                reason:
                    "corrupt (checksum mismatch): the file was damaged after it was written (its SHA-256 is "
                    + "\(SHA256.hex(actual).prefix(16))…, the recorded one \(SHA256.hex(stored).prefix(16))…); resume "
                    + "from a copy of the folder, or start over with --force")
        }
        var length: UInt64 = 0
        for i in 0..<8 { length |= UInt64(bytes[magic.count + i]) << (8 * UInt64(i)) }
        let start = magic.count + 8
        guard length <= UInt64(body - start) else { throw corrupt("the header length \(length) exceeds the file") }
        let end = start + Int(length)
        let header: Header
        do { header = try JSONDecoder().decode(Header.self, from: Data(bytes[start..<end])) } catch {
            throw corrupt("unreadable header: \(error)")
        }
        try check(header, arrayBytes: body - end, corrupt: corrupt)
        try checkValues(header, bytes: bytes, from: end, corrupt: corrupt)
        return (header, end)
    }

    /// Counts, sizes and indices of the header: non-negative, without overflow, consistent with each other.
    static func check(_ h: Header, arrayBytes: Int, corrupt: (String) -> DLNError) throws(DLNError) {
        func product(_ factors: Int...) throws(DLNError) -> Int {
            var out = 1
            for f in factors {
                guard f >= 0 else { throw corrupt("a negative count, \(f)") }
                let (m, overflow) = out.multipliedReportingOverflow(by: f)
                guard !overflow, m <= arrayBytes else { throw corrupt("counts larger than the file: \(factors)") }
                out = m
            }
            return out
        }
        let (B, C, K) = (h.replicas, h.checkpoints, h.names.count)
        _ = try product(C, K, B)
        _ = try product(C, B)
        var total = 0
        var names = Set<String>()
        for a in h.arrays {
            guard names.insert(a.name).inserted else { throw corrupt("the array \(a.name) is listed twice") }
            let (sum, overflow) = total.addingReportingOverflow(try product(a.count, 8))
            guard !overflow else { throw corrupt("array sizes overflow") }
            total = sum
        }
        guard total == arrayBytes else {
            throw corrupt("the file holds \(arrayBytes) bytes of arrays, its header lists \(total)")
        }
        guard h.group >= 0, h.checkpoint >= 0, h.checkpoint <= C, h.current >= 0 else {
            throw corrupt(
                "position out of range: batch \(h.group), checkpoint \(h.checkpoint) of \(C), step \(h.current)")
        }
        guard h.sliceLower >= 0, h.sliceLower <= h.sliceUpper, h.sliceUpper <= B else {
            throw corrupt("the slice \(h.sliceLower)..<\(h.sliceUpper) is not within the \(B) replicas")
        }
        for x in [h.seconds, h.flowEvaluations, h.done] where !(x.isFinite && x >= 0) {
            throw corrupt("a counter is \(x)")
        }
        if let s = h.snapshot {
            guard s.replicas == h.sliceUpper - h.sliceLower, s.steps >= 0 else {
                throw corrupt("the engine state holds \(s.replicas) replicas, the slice \(h.sliceUpper - h.sliceLower)")
            }
            for b in s.buffers { _ = try product(b.width, s.replicas) }
        }
        if let r = h.recording {
            // Recording's arrays are allocated from these counts before their sizes are compared.
            guard r.every.map({ $0 >= 1 }) ?? true, (0...64).contains(r.layers), r.checkpoints.count <= C else {
                throw corrupt("the recorded arrays' shapes are out of range")
            }
            _ = try product(r.replicas, r.checkpoints.count, r.layers + 1, r.d)
            _ = try product(r.replicas, r.thresholds.count, r.d)
        }
        for st in h.groupStates + h.sliceStates where !(1...64).contains(st.layers) {
            throw corrupt("a saved state lists \(st.layers) layers")
        }
    }

    /// Values the resume converts to integers: status codes and the integrator's counters.
    static func checkValues(
        _ h: Header, bytes: [UInt8], from start: Int, corrupt: (String) -> DLNError
    ) throws(DLNError) {
        var integral: [String: Bool] = ["status": true]  // true: a status code
        for b in h.snapshot?.buffers ?? [] where b.integer { integral["snapshot." + b.name] = false }
        var offset = start
        for a in h.arrays {
            defer { offset += 8 * a.count }
            guard let isStatus = integral[a.name] else { continue }
            for i in 0..<a.count {
                var bits: UInt64 = 0
                for k in 0..<8 { bits |= UInt64(bytes[offset + 8 * i + k]) << (8 * UInt64(k)) }
                let v = Double(bitPattern: bits)
                let ok =
                    isStatus ? Int(exactly: v).flatMap { ReplicaStatus(code: $0) } != nil : Int32(exactly: v) != nil
                guard ok else { throw corrupt("\(a.name)[\(i)] is \(v), not a valid \(isStatus ? "status" : "count")") }
            }
        }
    }
}
