import DLNModel
import DLNRun
import DLNTheory
import Foundation
import TestSupport
import Testing

@Suite struct NPYTests {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dlnsim-npy-\(UUID().uuidString)").path

    init() throws { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }

    @Test(arguments: [NPY.DType.float32, .float64, .int32, .int64])
    func roundTrip(dtype: NPY.DType) throws {
        let values: [Double] = [0, 1, -2, 3, 4, 5]
        let path = dir + "/a-\(dtype).npy"
        try NPY.write(values, shape: [2, 3], dtype: dtype, to: path)
        let read = try NPY.read(path: path)
        #expect(read.shape == [2, 3])
        #expect(read.values == values)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        #expect((10 + headerLength) % 64 == 0)
    }

    @Test func truncatedFileIsRejectedWithItsPath() throws {
        let path = dir + "/t.npy"
        var data = NPY.encode([1.0, 2, 3, 4], shape: [4], dtype: .float64)
        data.removeLast(5)
        try data.write(to: URL(fileURLWithPath: path))
        #expect {
            _ = try NPY.read(path: path)
        } throws: { error in
            "\(error)".contains(path) && "\(error)".contains("truncated")
        }
    }

    @Test func wrongDtypeAndMissingFile() throws {
        let path = dir + "/c.npy"
        var data = NPY.encode([1.0, 2], shape: [2], dtype: .float64)
        let at = try #require(data.range(of: Data("<f8".utf8)))
        data.replaceSubrange(at, with: Data("<c8".utf8))
        try data.write(to: URL(fileURLWithPath: path))
        #expect { _ = try NPY.read(path: path) } throws: { "\($0)".contains("unsupported dtype '<c8'") }
        #expect { _ = try NPY.read(path: dir + "/missing.npy") } throws: { "\($0)".contains("no such file") }
        try Data("hello".utf8).write(to: URL(fileURLWithPath: dir + "/h.npy"))
        #expect { _ = try NPY.read(path: dir + "/h.npy") } throws: { "\($0)".contains("magic") }
    }

    @Test func fortranOrderIsTransposed() throws {
        // A 2×3 array [[0,1,2],[3,4,5]] stored column-major.
        var header = "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }"
        header += String(repeating: " ", count: 64 - (10 + header.utf8.count + 1) % 64) + "\n"
        var data = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, UInt8(header.utf8.count), 0]) + Data(header.utf8)
        for v in [0.0, 3, 1, 4, 2, 5] { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        let path = dir + "/f.npy"
        try data.write(to: URL(fileURLWithPath: path))
        let read = try NPY.read(path: path)
        #expect(read.values == [0, 1, 2, 3, 4, 5])
    }
}
