import DLNModel
import DLNRun
import Foundation
import Testing

/// The checkpoint file: SHA-256 against known vectors, a round trip, and damaged or forged files, every one
/// refused with a message naming the file (none crashes the reader).
@Suite struct CheckpointTests {
    static func hex(_ text: String) -> String { SHA256.hex(SHA256.hash(Array(text.utf8))) }

    @Test func sha256MatchesTheStandardVectors() {
        #expect(Self.hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Self.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            Self.hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(
            Self.hex(
                "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
                    + "mnopqrstnopqrstu")
                == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
        // One million 'a', fed in uneven pieces: the same digest as in one call.
        let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        var s = SHA256()
        var i = 0
        var piece = 1
        while i < million.count {
            let j = min(million.count, i + piece)
            s.update(million[i..<j])
            i = j
            piece = piece * 3 % 1000 + 1
        }
        #expect(SHA256.hex(s.digest) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// A small checkpoint: 20 replicas, 3 checkpoints, 2 observables, an engine state with an integer buffer,
    /// one finished batch's final state.
    static func progress() -> RunProgress {
        var p = RunProgress(replicas: 20, checkpoints: 3)
        p.names = ["train_loss", "test_error"]
        p.values = (0..<3).map { (c: Int) -> [[Double]] in
            (0..<2).map { (k: Int) -> [Double] in
                (0..<20).map { (b: Int) -> Double in Double(c * 100 + k * 20 + b) / 7 }
            }
        }
        p.evaluations = (0..<3).map { (c: Int) -> [Double] in (0..<20).map { (b: Int) -> Double in Double(c * 6 + b) } }
        p.status = (0..<20).map { $0 % 7 == 3 ? 2 : 0 }
        p.frozenAt = (0..<20).map { $0 % 7 == 3 ? 0.5 : .nan }
        p.initialLoss = (0..<20).map { 1 + Double($0) }
        p.group = 1
        p.slice = 4..<8
        p.checkpoint = 2
        p.current = 17
        p.seconds = 1.5
        p.snapshot = EngineSnapshot(
            replicas: 4, steps: 17, started: true,
            buffers: [
                .init(name: "y", width: 3, integer: false, values: (0..<12).map { Double($0) / 3 }),
                .init(name: "attempts", width: 1, integer: true, values: [5, 6, 7, 8])
            ])
        p.groupStates = [
            EngineState(layers: [.float([1, 2]), .float([3, 4])], weights: .float([5, 6]))
        ]
        return p
    }

    static let origin = Checkpoint.Origin(
        configPath: "/data/c.yaml", configText: "seeds: 2\n", device: "cpu", saveWeights: true, shard: nil)

    static func folder() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func roundTrip() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let p = Self.progress()
        try Checkpoint.write(p, origin: Self.origin, to: dir)
        let (o, q) = try Checkpoint.read(from: dir)
        #expect(o == Self.origin)
        #expect(q.values == p.values && q.evaluations == p.evaluations && q.status == p.status)
        #expect(q.snapshot == p.snapshot && q.groupStates == p.groupStates)
        #expect(q.slice == p.slice && q.checkpoint == p.checkpoint && q.current == p.current)
    }

    /// The refusal of a checkpoint's bytes, or nil when they were read.
    static func refusal(_ bytes: [UInt8], in dir: String) -> String? {
        let path = dir + "/" + Checkpoint.fileName
        do {
            _ = try Checkpoint.decode(bytes, path: path)
            return nil
        } catch {
            guard case .badFile(let p, _) = error, p == path else { return "wrong error: \(error)" }
            return "\(error)"
        }
    }

    @Test func everySeventhBitFlipIsRefusedAsCorrupt() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Checkpoint.write(Self.progress(), origin: Self.origin, to: dir)
        let good = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/" + Checkpoint.fileName)))
        var flips = 0
        var refused = 0
        for bit in stride(from: 0, to: good.count * 8, by: 7) {
            var bytes = good
            bytes[bit / 8] ^= UInt8(1 << (bit % 8))
            let why = Self.refusal(bytes, in: dir)
            flips += 1
            // A flip in the magic makes it no checkpoint; anywhere else the checksum catches it.
            if let why, why.contains(Checkpoint.fileName),
                why.contains("corrupt (checksum mismatch)") || (bit < 160 && why.contains("checkpoint"))
            {
                refused += 1
            } else {
                Issue.record("bit \(bit): \(why ?? "accepted")")
            }
        }
        #expect(flips > 1000 && refused == flips)
    }

    /// The file's parts, to forge a checkpoint with a valid checksum.
    struct Parts {
        var header: [String: Any]
        var arrays: [UInt8]

        init(_ bytes: [UInt8]) throws {
            var length = 0
            for i in 0..<8 { length |= Int(bytes[20 + i]) << (8 * i) }
            header = try #require(
                try JSONSerialization.jsonObject(with: Data(bytes[28..<(28 + length)])) as? [String: Any])
            arrays = Array(bytes[(28 + length)..<(bytes.count - 32)])
        }

        func bytes(length override: UInt64? = nil) throws -> [UInt8] {
            let json = [UInt8](try JSONSerialization.data(withJSONObject: header))
            var out = Array("DLNSIM-CHECKPOINT 2\n".utf8)
            withUnsafeBytes(of: (override ?? UInt64(json.count)).littleEndian) { out.append(contentsOf: $0) }
            out += json + arrays
            return out + SHA256.hash(out)
        }

        /// The byte offset of array `name`'s first value.
        func offset(of name: String) -> Int {
            var o = 0
            for a in header["arrays"] as! [[String: Any]] {
                if a["name"] as! String == name { return o }
                o += 8 * (a["count"] as! Int)
            }
            return -1
        }

        mutating func set(_ name: String, _ index: Int, _ value: Double) {
            let o = offset(of: name) + 8 * index
            withUnsafeBytes(of: value.bitPattern.littleEndian) { for k in 0..<8 { arrays[o + k] = $0[k] } }
        }
    }

    @Test func forgedAndTruncatedCheckpointsAreRefused() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Checkpoint.write(Self.progress(), origin: Self.origin, to: dir)
        let good = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/" + Checkpoint.fileName)))
        #expect(Self.refusal(good, in: dir) == nil)
        let parts = try Parts(good)
        #expect(Self.refusal(try parts.bytes(), in: dir) == nil, "the forger writes valid files")
        var cases: [(String, [UInt8])] = [
            ("truncated to half", Array(good.prefix(good.count / 2))),
            ("truncated to 10 bytes", Array(good.prefix(10))),
            ("empty", []),
            ("format 1", Array("DLNSIM-CHECKPOINT 1\n".utf8) + good.dropFirst(20)),
            ("huge header length", try parts.bytes(length: .max)),
            ("header length past the end", try parts.bytes(length: UInt64(good.count)))
        ]
        func forged(_ name: String, _ change: (inout Parts) -> Void) throws {
            var p = parts
            change(&p)
            cases.append((name, try p.bytes()))
        }
        try forged("replicas overflow") { $0.header["replicas"] = Int.max / 2 }
        try forged("checkpoints × replicas overflow") { $0.header["checkpoints"] = Int.max / 3 }
        try forged("negative checkpoints") { $0.header["checkpoints"] = -1 }
        try forged("negative replicas") { $0.header["replicas"] = -20 }
        try forged("negative array count") {
            var arrays = $0.header["arrays"] as! [[String: Any]]
            arrays[0]["count"] = -60
            $0.header["arrays"] = arrays
        }
        try forged("array count overflow") {
            var arrays = $0.header["arrays"] as! [[String: Any]]
            arrays[0]["count"] = Int.max / 4
            $0.header["arrays"] = arrays
        }
        try forged("an array listed twice") {
            var arrays = $0.header["arrays"] as! [[String: Any]]
            arrays[1]["name"] = arrays[0]["name"]
            $0.header["arrays"] = arrays
        }
        try forged("NaN status") { $0.set("status", 3, .nan) }
        try forged("status 17") { $0.set("status", 0, 17) }
        try forged("status 2.5") { $0.set("status", 0, 2.5) }
        try forged("integer counter 1e300") { $0.set("snapshot.attempts", 1, 1e300) }
        try forged("integer counter NaN") { $0.set("snapshot.attempts", 2, .nan) }
        try forged("slice upside down") {
            $0.header["sliceLower"] = 8
            $0.header["sliceUpper"] = 4
        }
        try forged("slice past the replicas") { $0.header["sliceUpper"] = 400 }
        try forged("negative batch") { $0.header["group"] = -1 }
        try forged("checkpoint past the last") { $0.header["checkpoint"] = 4 }
        try forged("snapshot of another size") {
            var s = $0.header["snapshot"] as! [String: Any]
            s["replicas"] = 5
            $0.header["snapshot"] = s
        }
        try forged("a billion layers") {
            $0.header["groupStates"] = [["layers": 1_000_000_000, "float": true]]
        }
        try forged("a missing field") { $0.header["names"] = nil }
        try forged("a text for a count") { $0.header["replicas"] = "twenty" }
        for (name, bytes) in cases {
            let why = Self.refusal(bytes, in: dir)
            #expect(
                why?.contains(Checkpoint.fileName) == true && why?.contains("wrong error") == false,
                "\(name): \(why ?? "accepted")")
        }
    }
}
