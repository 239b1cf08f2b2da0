import DLNModel
import Foundation
import Yams

extension Bool: ManifestValue {
    var manifestJSON: Any { self }
    init?(manifestJSON json: Any) {
        guard let b = json as? Bool else { return nil }
        self = b
    }
}

extension ConfigurationKey {
    /// true or false.
    static func flag(_ path: String, _ slot: ConfigurationSlot<Bool>) -> Self {
        make(path, v1: path, kind: .flag, slot) { s, key, _ in s.node(key) == nil ? nil : s.bool(key, default: false) }
    }

    /// `record.weights`: true (every checkpoint), false, `{every: k}`, or k (as config.yaml writes it back).
    static func recordEvery(_ path: String, _ slot: ConfigurationSlot<Int>) -> Self {
        make(path, v1: path, kind: .integer, slot) { s, key, _ in
            guard let node = s.node(key) else { return nil }
            let every: @Sendable (Int) -> String? = { $0 >= 1 ? nil : "must be at least 1 (every k-th checkpoint)" }
            switch node {
            case .mapping:
                let sub = YAMLSection(path: s.child(key), node: node, sink: s.sink)
                let k = sub.int("every", default: 1, every)
                sub.finish()
                return k
            case .scalar(let scalar) where node.bool != nil && Double(scalar.string) == nil:
                return node.bool! ? 1 : nil
            case .scalar(let scalar) where Double(scalar.string) != nil:
                let k = s.int(key, default: .min, every)
                return k == .min ? nil : k
            default:
                s.sink.add(
                    s.child(key),
                    "must be true, false or {every: k}, got \(YAMLSection.kind(node))\(YAMLSection.at(node))")
                return nil
            }
        }
    }
}

extension ConfigurationRules {
    /// record.layers goes with record.weights; at most 16 activation thresholds.
    static func recording(_ r: ConfigurationReader, _ c: inout Configuration) {
        let s = r.section("record")
        if c.record.layers && c.record.weightsEvery == nil, let node = s.node("layers") {
            s.sink.add(
                "record.layers",
                "records the layers beside w: set record.weights too (true or {every: k})\(YAMLSection.at(node))")
        }
        if let a = c.record.activation, a.count > 16 { s.sink.add("record.activation", "at most 16 thresholds") }
    }
}
