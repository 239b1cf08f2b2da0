import DLNModel
import DLNTheory
import Foundation

/// Reading and writing NumPy `.npy` files (format versions 1.0–3.0, little-endian `<f4`, `<f8`,
/// `<i4`, `<i8`), so that every output loads with `numpy.load` and users can bring their own data.
public enum NPY {
    /// A decoded array: its shape and its values converted to `Double`, in C (row-major) order.
    public struct Array: Sendable, Equatable {
        /// The shape, outermost first.
        public var shape: [Int]
        /// The values in row-major order.
        public var values: [Double]
    }

    /// The element types dlnsim writes.
    public enum DType: String, Sendable {
        case float32 = "<f4"
        case float64 = "<f8"
        case int32 = "<i4"
        case int64 = "<i8"
    }

    /// Reads a `.npy` file; any failure names the file and the reason.
    public static func read(path: String) throws(DLNError) -> Array {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .badFile(path: path, reason: "no such file")
        }
        if isDirectory.boolValue { throw .badFile(path: path, reason: "is a folder, not a .npy file") }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw .badFile(path: path, reason: "cannot read: \(error.localizedDescription)")
        }
        do { return try decode([UInt8](data)) } catch let reason as NPYReason {
            throw .badFile(path: path, reason: "not a valid .npy file: \(reason.text)")
        } catch { throw .badFile(path: path, reason: "\(error)") }
    }

    struct NPYReason: Error { let text: String }

    static func decode(_ bytes: [UInt8]) throws -> Array {
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
        guard bytes.count >= 10, Swift.Array(bytes[0..<6]) == magic else {
            throw NPYReason(text: "missing the \\x93NUMPY magic")
        }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        if major == 1 {
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        } else if major == 2 || major == 3 {
            guard bytes.count >= 12 else { throw NPYReason(text: "truncated header") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        } else {
            throw NPYReason(text: "unsupported format version \(major)")
        }
        guard bytes.count >= headerStart + headerLength else { throw NPYReason(text: "truncated header") }
        guard let header = String(bytes: bytes[headerStart..<(headerStart + headerLength)], encoding: .utf8) else {
            throw NPYReason(text: "header is not text")
        }
        guard let descr = field(header, "descr") else { throw NPYReason(text: "header has no 'descr'") }
        let fortran = field(header, "fortran_order") == "True"
        guard let shapeText = shapeField(header) else { throw NPYReason(text: "header has no 'shape'") }
        let shape = try shapeText.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.map { (s: String) -> Int in
                guard let v = Int(s), v >= 0 else { throw NPYReason(text: "bad shape entry '\(s)'") }
                return v
            }
        let width: Int
        switch descr {
        case "<f4", "|f4", "<i4": width = 4
        case "<f8", "|f8", "<i8": width = 8
        default:
            throw NPYReason(
                text:
                    "unsupported dtype '\(descr)'\(dtypeName(descr)) (use float32, float64, int32 or int64, "
                    + "little-endian)"
            )
        }
        // The shape comes from the file: multiply without trapping on overflow.
        var count = 1
        for extent in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: extent)
            guard !overflow, product <= Int.max / 8 else { throw NPYReason(text: "the shape \(shape) is too large") }
            count = product
        }
        let start = headerStart + headerLength
        guard bytes.count - start == count * width else {
            let held = bytes.count - start
            let needed = count * width
            throw NPYReason(
                text: "holds \(held) data bytes, the shape \(shape) of \(descr) needs \(needed)"
                    + (held < needed ? " (truncated?)" : " (extra bytes after the data)"))
        }
        var values = [Double](repeating: 0, count: count)
        bytes.withUnsafeBytes { raw in
            for k in 0..<count {
                let o = start + k * width
                switch descr {
                case "<f4", "|f4":
                    values[k] = Double(
                        Float(bitPattern: raw.loadUnaligned(fromByteOffset: o, as: UInt32.self).littleEndian))
                case "<f8", "|f8":
                    values[k] = Double(bitPattern: raw.loadUnaligned(fromByteOffset: o, as: UInt64.self).littleEndian)
                case "<i4":
                    values[k] = Double(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: Int32.self)))
                default: values[k] = Double(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: Int64.self)))
                }
            }
        }
        if fortran && shape.count > 1 { values = transposeFromFortran(values, shape: shape) }
        return Array(shape: shape, values: values)
    }

    /// The dtype in words, for the dtypes users most often bring by mistake.
    static func dtypeName(_ descr: String) -> String {
        let body = descr.drop(while: { "<>|=".contains($0) })
        if descr.hasPrefix(">") && ["f4", "f8", "i4", "i8"].contains(String(body)) { return ": big-endian" }
        switch body.first {
        case "c": return ": complex numbers"
        case "O": return ": Python objects (a pickled array)"
        case "U", "S", "a": return ": text"
        case "b": return descr.contains("b1") ? ": booleans" : ""
        case "f": return body == "f2" ? ": float16" : ""
        case "i", "u": return ": \(body.first == "u" ? "unsigned " : "")\(body.dropFirst())-byte integers"
        case "M", "m": return ": dates or time spans"
        case "V", "[": return ": a structured array"
        default: return ""
        }
    }

    static func transposeFromFortran(_ values: [Double], shape: [Int]) -> [Double] {
        var out = [Double](repeating: 0, count: values.count)
        var cStrides = [Int](repeating: 1, count: shape.count)
        var fStrides = [Int](repeating: 1, count: shape.count)
        for a in stride(from: shape.count - 2, through: 0, by: -1) { cStrides[a] = cStrides[a + 1] * shape[a + 1] }
        for a in 1..<shape.count { fStrides[a] = fStrides[a - 1] * shape[a - 1] }
        for c in 0..<values.count {
            var rem = c
            var f = 0
            for a in 0..<shape.count {
                f += (rem / cStrides[a]) * fStrides[a]
                rem %= cStrides[a]
            }
            out[c] = values[f]
        }
        return out
    }

    static func field(_ header: String, _ key: String) -> String? {
        guard let r = header.range(of: "'\(key)':") else { return nil }
        let rest = header[r.upperBound...].drop(while: { $0 == " " })
        if rest.first == "'" {
            let body = rest.dropFirst()
            guard let end = body.firstIndex(of: "'") else { return nil }
            return String(body[..<end])
        }
        let end = rest.firstIndex(where: { $0 == "," || $0 == "}" }) ?? rest.endIndex
        return String(rest[..<end]).trimmingCharacters(in: .whitespaces)
    }

    static func shapeField(_ header: String) -> String? {
        guard let r = header.range(of: "'shape':"), let open = header[r.upperBound...].firstIndex(of: "("),
            let close = header[open...].firstIndex(of: ")")
        else { return nil }
        return String(header[header.index(after: open)..<close])
    }

    /// Encodes values as a version-1.0 `.npy` file of the given dtype and shape.
    public static func encode<T: BinaryFloatingPoint>(_ values: [T], shape: [Int], dtype: DType) -> Data {
        precondition(shape.reduce(1, *) == values.count, "shape does not match the value count")
        var out = Data(header(shape: shape, dtype: dtype))
        switch dtype {
        case .float32:
            var raw = values.map { Float($0).bitPattern.littleEndian }
            out.append(Data(bytes: &raw, count: raw.count * 4))
        case .float64:
            var raw = values.map { Double($0).bitPattern.littleEndian }
            out.append(Data(bytes: &raw, count: raw.count * 8))
        case .int32:
            var raw = values.map { Int32($0).littleEndian }
            out.append(Data(bytes: &raw, count: raw.count * 4))
        case .int64:
            var raw = values.map { Int64($0).littleEndian }
            out.append(Data(bytes: &raw, count: raw.count * 8))
        }
        return out
    }

    static func header(shape: [Int], dtype: DType) -> [UInt8] {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var dict = "{'descr': '\(dtype.rawValue)', 'fortran_order': False, 'shape': \(shapeText), }"
        let unpadded = 10 + dict.utf8.count + 1
        dict += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        let n = dict.utf8.count
        return [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, UInt8(n & 0xFF), UInt8(n >> 8)] + Swift.Array(dict.utf8)
    }

    /// Writes a `.npy` file atomically (temporary file, then rename).
    public static func write<T: BinaryFloatingPoint>(_ values: [T], shape: [Int], dtype: DType, to path: String)
        throws(DLNError)
    {
        try OutputFile.write(encode(values, shape: shape, dtype: dtype), to: path)
    }
}

/// Atomic file output: a temporary file in the same folder, then a rename, so no reader ever sees a
/// half-written file.
public enum OutputFile {
    /// Writes bytes to `path` atomically (a failure says why in the system's words: "No space left on device",
    /// "File too large").
    public static func write(_ data: Data, to path: String) throws(DLNError) {
        try writeDurably(data, to: path, sync: false)
    }

    /// Writes text to `path` atomically.
    public static func write(text: String, to path: String) throws(DLNError) {
        try write(Data(text.utf8), to: path)
    }

    /// Writes bytes to `path` atomically and durably: a temporary file beside it, fsync, rename, fsync of the
    /// folder (checkpoints: after a crash or a kill, the old file or the new one, whole).
    public static func writeDurably(_ data: Data, to path: String, sync: Bool = true) throws(DLNError) {
        let tmp = path + ".tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw .outputFailure(path: path, reason: String(cString: strerror(errno))) }
        var failure: String? = nil
        data.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = String(cString: strerror(errno))
                    return
                }
                done += n
            }
        }
        if sync && failure == nil && fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
        close(fd)
        if failure == nil && rename(tmp, path) != 0 { failure = String(cString: strerror(errno)) }
        if let failure {
            unlink(tmp)
            throw .outputFailure(path: path, reason: failure)
        }
        guard sync else { return }
        let dir = open(URL(fileURLWithPath: path).deletingLastPathComponent().path, O_RDONLY)
        if dir >= 0 {
            fsync(dir)
            close(dir)
        }
    }
}
