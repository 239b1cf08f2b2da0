import Dispatch
import Foundation

/// The observables of every replica. Twin of Kernels/loss.cl and observe.cl.
extension CPUBatch {
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func observe() -> Observation {
        let K = observables.kernelCount
        let values = SharedSlots<Double>(count: K * layout.replicas)
        let decay: [T]
        if let fs = flow {
            let times = currentTimes
            flowMaterialize(flow: fs, times: times)
            decay =
                fs.adaptive
                ? decayAt(times.prefix(layout.replicas).map { Double($0) }).map { T($0) }
                : decayOf(stepsTaken).map { T($0) }
        } else {
            decay = decayOf(stepsTaken).map { T($0) }
        }
        let n = layout.samples
        forEachBlock { blk in
            self.residual(block: blk)
            var acc = V(repeating: 0)
            let base = blk * n * Layout.lanes
            for i in 0..<n {
                let ri = load(self.r, base + i * Layout.lanes)
                acc = acc.addingProduct(ri, ri)
            }
            acc = acc * V(repeating: self.lossScale)
            for lane in 0..<Layout.lanes where blk * Layout.lanes + lane < self.layout.replicas {
                let b = blk * Layout.lanes + lane
                values[b] = Double(acc[lane])
                let more = self.observables(replica: b, decay: decay[b])
                for k in 1..<K { values[k * self.layout.replicas + b] = Double(more[k - 1]) }
            }
        }
        let all = values.values
        let B = layout.replicas
        let kernelValues = (0..<K).map { Array(all[($0 * B)..<(($0 + 1) * B)]) }
        return Observation(names: observables.names, values: kernelValues + curvature())
    }

    /// Every observable but the train loss, for one replica. Twin of `dln_observe` (observe.cl).
    func observables(replica b: Int, decay: T) -> [T] {
        let d = layout.dimension
        let stride = layout.coordinateCount
        let depth = layout.layers
        let s = dataset[b]
        let ws = teacher + s * d
        let thresholds = observables.thresholds.map { T($0) }
        let nt = thresholds.count
        var dist: T = 0
        var ov: T = 0
        var nrm: T = 0
        var l1: T = 0
        var muv: T = 0
        var mq: T = 0
        var dev: T = 0
        var scale: T = 0
        var nstar: T = 0
        var esum: T = 0
        var emin = T.infinity
        var ew: T = 0
        let ia2 = inverseAlphaSquared[b]
        let effective = family.effectiveScale
        let hasUV = family.hasUVMoments
        let conservation = family.conservation
        var cnt = [T](repeating: 0, count: nt)
        var tp = [T](repeating: 0, count: nt)
        for j in 0..<d {
            let o = Layout.index(replica: b, element: j, length: d)
            let wj = w[o]
            let wsj = ws[j]
            let diff = wj - wsj
            dist = dist.addingProduct(diff, diff)
            ov = ov.addingProduct(wj, wsj)
            nrm = nrm.addingProduct(wj, wj)
            l1 = l1 + abs(wj)
            if hasUV {
                let u = layers[o]
                let v = layers[stride + o]
                muv = muv.addingProduct(u, v)
                mq = mq + (u * u + v * v) * 0.5
            }
            if let effective {
                let ej = effective(layers[o], layers[stride + o]) * ia2
                esum = esum + ej
                if ej < emin { emin = ej }
                ew = ew.addingProduct(abs(wj), ej)
            }
            conservation(layers, initial, o, stride, depth, decay, &dev, &scale)
            let star: T = wsj != 0 ? 1 : 0
            nstar = nstar + star
            for t in 0..<nt where abs(wj) > thresholds[t] {
                cnt[t] = cnt[t] + 1
                tp[t] = tp[t] + star
            }
        }
        let invD = T(1 / Double(d))
        let known = hasTeacher[s]
        var testError = T.nan
        if testSamples > 0, let xt = xTest, let yt = yTest {
            let nT = testSamples
            var sse: T = 0
            for i in 0..<nT {
                var acc: T = 0
                let row = xt + (s * nT + i) * d
                for j in 0..<d { acc = acc.addingProduct(row[j], w[Layout.index(replica: b, element: j, length: d)]) }
                let ri = acc - yt[s * nT + i]
                sse = sse.addingProduct(ri, ri)
            }
            testError = sse * T(1 / Double(nT))
        } else if known, let v = designVariance {
            testError = dist * T(v)
        }
        // Placed by the one list of observables, as observe.cl places them (`ObservableSet.kernelOptions`).
        var out = [T](repeating: 0, count: observables.kernelCount - 1)
        func put(_ o: Observable, _ value: T) { out[o.index - 1] = value }
        put(.testError, testError)
        put(.overlap, known ? ov * invD : .nan)
        put(.normSq, nrm * invD)
        put(.meanUV, hasUV ? muv * invD : .nan)
        put(.meanQ, hasUV ? mq * invD : .nan)
        put(.l1Norm, l1)
        put(.l2Norm, nrm.squareRoot())
        put(.distSq, known ? dist : .nan)
        put(.conservation, scale > 0 ? dev / scale : dev)
        let hasEffective = effective != nil
        put(.effectiveScaleSqMean, hasEffective ? esum * invD : .nan)
        put(.effectiveScaleSqMin, hasEffective ? emin : .nan)
        put(.effectiveScaleSqL1, hasEffective && l1 > 0 ? ew / l1 : .nan)
        let support = Observable.allCases.count - 1
        for t in 0..<nt {
            out[support + 3 * t] = cnt[t]
            out[support + 3 * t + 1] = known ? (cnt[t] > 0 ? tp[t] / cnt[t] : 1) : .nan
            out[support + 3 * t + 2] = known ? (nstar > 0 ? tp[t] / nstar : 1) : .nan
        }
        return out
    }

}
