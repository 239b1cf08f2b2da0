import DLNModel
import Foundation

/// One coordinate of a group of L ≥ 2 layer vectors whose product P = u₁⋯u_L is driven by one gradient:
/// u̇_l = −g·∏_{k≠l} u_k (the u's of `deep` and `deep_pm`; the v's of `deep_pm` with −g). Along gradient flow the
/// differences u_l² − u_k² are conserved, so every layer is a function of the one with the smallest |u_l(0)|, x:
/// u_l = sgn(a_l)·√(x² + c_l), c_l = a_l² − a_m² (a = u(0), m that layer). With z = −∫g dt,
///   dz = dx / (σ·F(x)),  F(x) = ∏_{l≠m} √(x² + c_l),  σ = ∏_{l≠m} sgn(a_l),
/// so x is a fixed increasing function of σz, P = σ·x·F(x) is a fixed increasing function of z, and
/// dP/dz = F(x)²·(1 + Σ_{l≠m} x²/(x² + c_l)) > 0 (docs/theory.md, "Deep networks from any initialisation").
/// Three cases:
/// - all |a_l| equal (the layers stay equal in magnitude, x never crosses 0): r = |u_l| with S·dr/r^{L−1} = dz;
/// - the smallest |a_l| is unique (c_l > 0): Φ(x) = ∫ dx/F is tabulated on t = s·tan θ, s = √min c_l (L ≥ 3: the
///   integrand is bounded on (−π/2, π/2) and the reach is finite), or closed (L = 2: asinh);
/// - a tie for the smallest |a_l| among unequal layers: not handled (`init` returns nil).
struct LayerGroupMap {
    enum Kind {
        /// All |a_l| = a; S = ∏ sgn(a_l).
        case equal(a: Double, sign: Double)
        /// L = 2 with a unique smallest layer: x = √c·sinh(asinh(x₀/√c) + σz).
        case pair(c: Double, start: Double, sign: Double)
        /// L ≥ 3, unique smallest layer: Φ tabulated.
        case table(PhiTable, sign: Double, start: Double)
    }
    let kind: Kind
    let depth: Int
    /// c_l for l ≠ m (the unique-minimum cases).
    let c: [Double]

    /// The map of the coordinate whose layers start at `a` (nil: a zero layer, or a tie for the smallest |a_l|).
    init?(initial a: [Double]) {
        precondition(a.count >= 2)
        guard a.allSatisfy({ $0 != 0 && $0.isFinite }) else { return nil }
        depth = a.count
        let magnitudes = a.map(abs)
        let sign = a.reduce(1.0) { $0 * ($1 < 0 ? -1 : 1) }
        if magnitudes.allSatisfy({ $0 == magnitudes[0] }) {
            kind = .equal(a: magnitudes[0], sign: sign)
            c = []
            return
        }
        let m = magnitudes.indices.min { magnitudes[$0] < magnitudes[$1] }!
        let others = a.indices.filter { $0 != m }
        c = others.map { a[$0] * a[$0] - a[m] * a[m] }
        guard c.allSatisfy({ $0 > 0 }) else { return nil }
        let sigma = others.reduce(1.0) { $0 * (a[$1] < 0 ? -1 : 1) }
        if depth == 2 {
            kind = .pair(c: c[0], start: a[m], sign: sigma)
        } else {
            let table = PhiTable(c: c)
            kind = .table(table, sign: sigma, start: table.phi(atan(a[m] / table.s)))
        }
    }

    /// The layers' magnitudes at z, the smallest one first for a unique minimum (its sign is x's), and the sign of
    /// their product; nil beyond the flow's reach.
    func layers(_ z: Double) -> (values: [Double], sign: Double)? {
        let values: [Double]
        let productSign: Double
        switch kind {
        case .equal(let a, let sign):
            let L = Double(depth)
            let r: Double
            if depth == 2 {
                r = a * Foundation.exp(sign * z)
            } else {
                let base = Foundation.pow(a, 2 - L) - (L - 2) * sign * z
                guard base > 0 else { return nil }
                r = Foundation.pow(base, -1 / (L - 2))
            }
            values = [Double](repeating: r, count: depth)
            productSign = sign
        case .pair(let c, let start, let sign):
            let x = c.squareRoot() * Foundation.sinh(Foundation.asinh(start / c.squareRoot()) + sign * z)
            values = [x] + self.c.map { (x * x + $0).squareRoot() }
            productSign = sign
        case .table(let table, let sign, let start):
            guard let theta = table.inverse(start + sign * z) else { return nil }
            let x = table.s * Foundation.tan(theta)
            values = [x] + c.map { (x * x + $0).squareRoot() }
            productSign = sign
        }
        guard values.allSatisfy(\.isFinite) else { return nil }
        return (values, productSign)
    }

    /// P(z) and dP/dz (nil beyond the flow's reach).
    func product(_ z: Double) -> (p: Double, slope: Double)? {
        guard let (values, sign) = layers(z) else { return nil }
        let p = sign * values.reduce(1, *)
        let slope: Double
        if case .equal = kind {
            slope = Double(depth) * Foundation.pow(values[0], 2 * Double(depth) - 2)
        } else {
            let x = values[0]
            var f2 = 1.0
            var sum = 1.0
            for cl in c {
                f2 *= x * x + cl
                sum += x * x / (x * x + cl)
            }
            slope = f2 * sum
        }
        guard p.isFinite, slope.isFinite else { return nil }
        return (p, slope)
    }

    /// Σ_l (∂P/∂u_l)² at z (∂P/∂u_l = ∏_{k≠l} u_k): the group's share of the tangent kernel's diagonal.
    func kernelDiagonal(_ z: Double) -> Double? {
        guard let (values, _) = layers(z) else { return nil }
        var total = 0.0
        for l in values.indices {
            var p = 1.0
            for k in values.indices where k != l { p *= values[k] }
            total += p * p
        }
        return total
    }
}

/// Φ(θ) = ∫_{−π/2}^{θ} s·sec²ϑ / ∏_l √(s²tan²ϑ + c_l) dϑ (L − 1 ≥ 2 factors, s = √min c_l): the integral of 1/F(x)
/// over x = s·tan ϑ, bounded on (−π/2, π/2). Tabulated on panels chosen by adaptive Gauss–Kronrod (7/15 points)
/// to 1e-15 of the total; evaluated inside a panel by 15-point Gauss–Legendre; inverted by safeguarded Newton.
struct PhiTable {
    let c: [Double]
    let s: Double
    /// Panel edges (ascending, from −π/2 to π/2) and Φ at them.
    private(set) var edges: [Double] = []
    private(set) var cumulative: [Double] = []

    init(c: [Double]) {
        self.c = c
        s = c.min()!.squareRoot()
        var panels: [(Double, Double, Double)] = []
        let total = Self.kronrod(integrand, -Double.pi / 2, Double.pi / 2).value
        Self.adapt(integrand, -Double.pi / 2, Double.pi / 2, tolerance: 1e-15 * total, depth: 0, into: &panels)
        edges = [-Double.pi / 2]
        cumulative = [0]
        for (_, b, value) in panels {
            edges.append(b)
            cumulative.append(cumulative.last! + value)
        }
    }

    func integrand(_ theta: Double) -> Double {
        let t = s * Foundation.tan(theta)
        let cosine = Foundation.cos(theta)
        var f = s / (cosine * cosine)
        for cl in c { f /= (t * t + cl).squareRoot() }
        return f.isFinite ? f : 0
    }

    /// Φ(θ).
    func phi(_ theta: Double) -> Double {
        let k = max(0, min(edges.count - 2, (edges.lastIndex { $0 <= theta }) ?? 0))
        return cumulative[k] + Self.legendre(integrand, edges[k], theta)
    }

    /// θ with Φ(θ) = target; nil outside (0, Φ(π/2)), the flow's reach.
    func inverse(_ target: Double) -> Double? {
        guard target > 0, target < cumulative.last! else { return nil }
        // The panel: cumulative[k] ≤ target < cumulative[k + 1].
        var (lo, hi) = (0, cumulative.count - 1)
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if cumulative[mid] <= target { lo = mid } else { hi = mid }
        }
        var (a, b) = (edges[lo], edges[lo + 1])
        var theta = 0.5 * (a + b)
        for _ in 0..<100 {
            let value = cumulative[lo] + Self.legendre(integrand, edges[lo], theta) - target
            if value > 0 { b = theta } else { a = theta }
            let derivative = integrand(theta)
            var next = theta - value / derivative
            if !(next > a && next < b) || !next.isFinite { next = 0.5 * (a + b) }
            if abs(next - theta) <= 4 * Double.ulpOfOne * max(1, abs(theta)) || b - a <= Double.ulpOfOne {
                return next
            }
            theta = next
        }
        return theta
    }

    /// Splits [a, b] until each panel's Gauss–Kronrod error estimate is below its share of `tolerance`.
    static func adapt(
        _ f: (Double) -> Double, _ a: Double, _ b: Double, tolerance: Double, depth: Int,
        into panels: inout [(Double, Double, Double)]
    ) {
        let (value, error) = kronrod(f, a, b)
        if error <= tolerance * (b - a) / Double.pi || depth >= 40 || b - a < 1e-13 {
            panels.append((a, b, value))
            return
        }
        let mid = 0.5 * (a + b)
        adapt(f, a, mid, tolerance: tolerance, depth: depth + 1, into: &panels)
        adapt(f, mid, b, tolerance: tolerance, depth: depth + 1, into: &panels)
    }

    static let kronrodNodes: [Double] = [
        0.991455371120812639206854697526329, 0.949107912342758524526189684047851,
        0.864864423359769072789712788640926, 0.741531185599394439863864773280788,
        0.586087235467691130294144845693013, 0.405845151377397166906606412076961,
        0.207784955007898467600689403773245, 0.000000000000000000000000000000000
    ]
    static let kronrodWeights: [Double] = [
        0.022935322010529224963732008058970, 0.063092092629978553290700663189204,
        0.104790010322250183839876322541518, 0.140653259715525918745189590510238,
        0.169004726639267902826583426598550, 0.190350578064785409913256402421014,
        0.204432940075298892414161999234649, 0.209482141084727828012999174891714
    ]
    /// The 7-point Gauss weights, on the Kronrod nodes 1, 3, 5, 7 (0-based: the odd ones).
    static let gaussWeights: [Double] = [
        0.129484966168869693270611432679082, 0.279705391489276667901467771423780,
        0.381830050505118944950369775488975, 0.417959183673469387755102040816327
    ]

    /// ∫_a^b f by Kronrod-15, with |K15 − G7| as the error estimate.
    static func kronrod(_ f: (Double) -> Double, _ a: Double, _ b: Double) -> (value: Double, error: Double) {
        let half = 0.5 * (b - a)
        let centre = 0.5 * (a + b)
        var k = kronrodWeights[7] * f(centre)
        var g = gaussWeights[3] * f(centre)
        for i in 0..<7 {
            let sum = f(centre - half * kronrodNodes[i]) + f(centre + half * kronrodNodes[i])
            k += kronrodWeights[i] * sum
            if i % 2 == 1 { g += gaussWeights[i / 2] * sum }
        }
        return (k * half, abs(k - g) * half)
    }

    /// ∫_a^b f by 15-point Gauss–Kronrod's Kronrod rule (exact for degree 22 polynomials): used inside a panel
    /// that the adaptive split already resolves.
    static func legendre(_ f: (Double) -> Double, _ a: Double, _ b: Double) -> Double {
        a == b ? 0 : kronrod(f, a, b).value
    }
}
