import DLNCore
import Foundation

/// The table printed after a run: final train loss per grid point over its seeds.
enum Summary {
    static func table(_ result: RunResult, experiment: Experiment) -> String {
        let seeds = experiment.configuration.seeds
        var lines = ["point  alpha        lambda       eta          final loss: median      min           max"]
        for (g, p) in experiment.gridPoints.enumerated() {
            let final = (0..<seeds).map { result.trainLoss.last![g * seeds + $0] }.sorted()
            let median = final.count % 2 == 1 ? final[final.count / 2] : 0.5 * (final[final.count / 2 - 1] + final[final.count / 2])
            lines.append(String(format: "%5d  %-11.4g  %-11.4g  %-11.4g  %-22.6g  %-12.4g  %-12.4g",
                                g, p.alpha, p.weightDecay, p.learningRate, median, final.first!, final.last!))
        }
        return lines.joined(separator: "\n")
    }
}
