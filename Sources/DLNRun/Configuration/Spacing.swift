import Foundation

/// `logspace(a, b, k)` (k values from 10^a to 10^b, evenly spaced in the exponent) and `linspace(a, b, k)` (k values
/// from a to b), accepted where a configuration takes a list of numbers. The endpoints are exact: 10^a is the
/// double nearest to it when a is whole (1e-3, not pow's result), and the last value is b (10^b) itself.
struct Spacing {
    let logarithmic: Bool
    let arguments: String

    /// Nil when the text is not a `logspace(…)` or `linspace(…)` call.
    init?(_ text: String) {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t.hasPrefix("logspace(") {
            logarithmic = true
        } else if t.hasPrefix("linspace(") {
            logarithmic = false
        } else {
            return nil
        }
        arguments = t
    }

    /// The values, or what is wrong with the arguments.
    var values: Spaced {
        let name = logarithmic ? "logspace" : "linspace"
        let range = logarithmic ? "from 10^a to 10^b" : "from a to b"
        let usage = "\(name)(a, b, k) takes two numbers and a count k ≥ 1 (k values \(range)), got '\(arguments)'"
        guard arguments.hasSuffix(")") else {
            // In a flow mapping or list, the commas end the value: `{alpha: logspace(-3, 0, 4)}` gives 'logspace(-3'.
            return .failure(usage + (arguments.contains(",") ? "" : "; inside {…} or […], write it in quotes"))
        }
        let inner = arguments.dropFirst(name.count + 1).dropLast()
        let parts = inner.split(separator: ",", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        guard parts.count == 3, let a = Double(parts[0]), let b = Double(parts[1]), a.isFinite, b.isFinite,
            let kd = Double(parts[2])
        else { return .failure(usage) }
        guard kd == kd.rounded(), kd >= 1, kd <= 1_000_000 else {
            return .failure("\(name)(a, b, k): k must be a whole number from 1 to 1000000, got \(parts[2])")
        }
        if logarithmic && (max(a, b) > 308 || min(a, b) < -307) {
            return .failure(
                "\(name)(a, b, k): 10^a and 10^b must be finite, positive doubles (|a|, |b| ≤ 307), got '\(arguments)'")
        }
        let k = Int(kd)
        let exponents = (0..<k).map { i -> Double in
            i == 0 ? a : i == k - 1 ? b : a + (b - a) * Double(i) / Double(k - 1)
        }
        return .success(logarithmic ? exponents.map(Self.power) : exponents)
    }

    /// The values of a call, or what is wrong with it.
    enum Spaced {
        case success([Double])
        case failure(String)
    }

    /// 10^e: the nearest double for whole e, pow otherwise.
    static func power(_ e: Double) -> Double {
        e == e.rounded() ? Double("1e\(Int(e))")! : pow(10, e)
    }
}
