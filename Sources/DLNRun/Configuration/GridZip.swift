import DLNModel
import Foundation
import Yams

/// `grid.zip: [[alpha, learning_rate], …]`: axes paired element by element instead of crossed. The grid points are
/// the product over the zip groups and the remaining axes, nested in `ConfigurationKeys.gridAxes` order (a group
/// where its first axis stands), the last one varying fastest.
extension Configuration {
    /// The grid's units: each a list of axis indices (into `ConfigurationKeys.gridAxes`) that vary together.
    var gridUnits: [[Int]] {
        let names = ConfigurationKeys.gridAxes.map(\.name)
        var units: [[Int]] = []
        var placed: Set<Int> = []
        for (i, name) in names.enumerated() where !placed.contains(i) {
            if let group = (grid.zip ?? []).first(where: { $0.contains(name) }) {
                let members = names.indices.filter { group.contains(names[$0]) }
                units.append(members)
                placed.formUnion(members)
            } else {
                units.append([i])
                placed.insert(i)
            }
        }
        return units
    }

    /// The number of values of each unit (a zip group's axes have the same number, checked when read).
    var unitLengths: [Int] {
        let lengths = axisLengths
        return gridUnits.map { lengths[$0[0]] }
    }

    /// For each grid point, the index of its value on each grid axis (`ConfigurationKeys.gridAxes` order).
    var gridIndices: [[Int]] {
        let units = gridUnits
        let lengths = unitLengths
        let total = lengths.reduce(1, *)
        var counter = [Int](repeating: 0, count: units.count)
        var out: [[Int]] = []
        out.reserveCapacity(total)
        for _ in 0..<total {
            var index = [Int](repeating: 0, count: ConfigurationKeys.gridAxes.count)
            for (u, members) in units.enumerated() { for a in members { index[a] = counter[u] } }
            out.append(index)
            var u = units.count - 1
            while u >= 0 {
                counter[u] += 1
                if counter[u] < lengths[u] { break }
                counter[u] = 0
                u -= 1
            }
        }
        return out
    }
}

extension ConfigurationKey {
    /// `grid.zip`: a list of lists of grid axis names.
    static func zipGroups(_ path: String) -> Self {
        make(path, v1: "grid.zip", kind: .axisGroups, .optionalField(\.grid.zip)) { s, key, _ in s.axisGroups(key) }
    }
}

extension YAMLSection {
    /// A list of lists of grid axis names (`grid.zip`), or nil (absent, or a recorded problem).
    func axisGroups(_ key: String) -> [[String]]? {
        guard let node = node(key) else { return nil }
        let names = ConfigurationKeys.gridAxes.map(\.name)
        let usage = "must be a list of lists of grid axes to pair, as in [[alpha, learning_rate]]"
        guard case .sequence(let groups) = node else {
            sink.add(child(key), "\(usage), got \(Self.kind(node))\(Self.at(node))")
            return nil
        }
        var out: [[String]] = []
        var seen: [String: Int] = [:]
        var bad = false
        for (i, group) in groups.enumerated() {
            let path = "\(child(key))[\(i)]"
            guard case .sequence(let items) = group, items.count >= 2 else {
                sink.add(path, "\(usage): each list names at least two axes, got \(Self.kind(group))\(Self.at(group))")
                bad = true
                continue
            }
            var list: [String] = []
            for item in items {
                guard case .scalar(let s) = item, names.contains(s.string) else {
                    sink.add(
                        path,
                        "\(Self.kind(item)) is not a grid axis\(Self.at(item)); the axes are "
                            + names.joined(separator: ", "))
                    bad = true
                    continue
                }
                if let other = seen[s.string] {
                    sink.add(
                        path,
                        "'\(s.string)' is already zipped in \(child(key))[\(other)]\(Self.at(item)); an axis "
                            + "belongs to one zip group")
                    bad = true
                }
                seen[s.string] = i
                list.append(s.string)
            }
            out.append(list)
        }
        return bad || out.isEmpty ? nil : out
    }
}

extension ConfigurationRules {
    /// The zipped axes of each group must have the same number of values.
    static func zip(_ r: ConfigurationReader, _ c: Configuration) {
        guard let groups = c.grid.zip else { return }
        let axes = ConfigurationKeys.gridAxes
        for (i, group) in groups.enumerated() {
            let counts = group.map { name in axes.first { $0.name == name }?.axisCount?(c) ?? 1 }
            if Set(counts).count > 1 {
                let listed = Swift.zip(group, counts).map { "\($0) \($1)" }.joined(separator: ", ")
                r.sink.add(
                    "grid.zip[\(i)]",
                    "the zipped axes must have the same number of values, got \(listed) (an axis not in the grid has 1)"
                )
            }
        }
    }
}
