import DLNModel
import Foundation
import Yams

extension ConfigurationKeys {
    /// The curvature observables' keys (docs/model.md §3.2), after `record.max_bytes`.
    static let curvature: [ConfigurationKey] = [
        .recordIterations("record.sharpness", .optionalField(\.record.sharpness)),
        .recordIterations("record.pl_constant", .optionalField(\.record.plConstant))
    ]
}

extension ConfigurationKey {
    /// The Lanczos steps when `record.sharpness` / `record.pl_constant` is true without `{iterations: k}`.
    static let defaultCurvatureIterations = 100

    /// `record.sharpness`, `record.pl_constant`: true (100 Lanczos steps), false, `{iterations: k}`, or k (as
    /// config.yaml writes it back); 1 ≤ k ≤ 10000.
    static func recordIterations(_ path: String, _ slot: ConfigurationSlot<Int>) -> Self {
        make(path, v1: path, kind: .integer, slot) { s, key, _ in
            guard let node = s.node(key) else { return nil }
            let check: @Sendable (Int) -> String? = {
                $0 >= 1 && $0 <= 10_000 ? nil : "must be between 1 and 10000 (Lanczos steps per observation)"
            }
            switch node {
            case .mapping:
                let sub = YAMLSection(path: s.child(key), node: node, sink: s.sink)
                let k = sub.int("iterations", default: defaultCurvatureIterations, check)
                sub.finish()
                return k
            case .scalar(let scalar) where node.bool != nil && Double(scalar.string) == nil:
                return node.bool! ? defaultCurvatureIterations : nil
            case .scalar(let scalar) where Double(scalar.string) != nil:
                let k = s.int(key, default: .min, check)
                return k == .min ? nil : k
            default:
                s.sink.add(
                    s.child(key),
                    "must be true, false or {iterations: k}, got \(YAMLSection.kind(node))\(YAMLSection.at(node))")
                return nil
            }
        }
    }
}

extension Configuration {
    /// The observables every replica records: the fixed ones, the support thresholds and the opt-in curvature.
    public var observableSet: ObservableSet {
        ObservableSet(thresholds: record.thresholds, sharpnessSteps: record.sharpness, plSteps: record.plConstant)
    }
}

extension Configuration {
    /// What the curvature observables add, for `dlnsim run --check`: per replica and checkpoint, each Lanczos step
    /// is two products with X (as much as one gradient step); nil when neither is recorded.
    public var curvatureCostLine: String? {
        guard record.sharpness != nil || record.plConstant != nil else { return nil }
        let checkpoints = (record.steps?.count ?? record.checkpoints) + record.linear + 2
        var parts: [String] = []
        if let k = record.sharpness { parts.append("sharpness \(k) Hessian-vector products") }
        if let k = record.plConstant {
            parts.append("pl_constant up to min(\(k), n, d + 1) tangent-kernel products (as many n-vectors kept)")
        }
        let total = checkpoints * ((record.sharpness ?? 0) + (record.plConstant ?? 0))
        return "the curvature observables add, per replica at each of about \(checkpoints) checkpoints, "
            + parts.joined(separator: " and ") + ", each about one gradient step's work: up to \(total) "
            + "gradient steps' work per replica in all"
    }
}
