import AdvNN
import Foundation

/// The L2 Square attack (Andriushchenko et al. 2020, §3.2). Perturbations are built from "bumps" whose
/// mass decays like 1/r² from their centre; each iteration redraws a random s×s window as a fresh
/// two-lobed bump added to what the window held, takes its L2 mass from a second random window (which is
/// zeroed) plus whatever budget is left, and rescales the whole perturbation to norm ε. Accepted when
/// it lowers the margin. Images (N, C, H, W) with sides of at least 5.
extension SquareAttack {
    /// A unit-norm bump over a rows×cols rectangle: nested rectangles around the centre, the k-th
    /// weighted 1/(k+1)², as in the paper's code.
    static func bump(rows: Int, columns: Int) -> [Float] {
        var values = [Float](repeating: 0, count: rows * columns)
        let centreRow = rows / 2 + 1, centreColumn = columns / 2 + 1
        var top = centreRow - 1, left = centreColumn - 1
        for ring in 0..<max(centreRow, centreColumn) {
            let weight = 1 / Float((ring + 1) * (ring + 1))
            for r in max(top, 0)..<min(top + 2 * ring + 1, rows) {
                for c in max(left, 0)..<min(left + 2 * ring + 1, columns) { values[r * columns + c] += weight }
            }
            top -= 1
            left -= 1
        }
        return normalised(values)
    }

    /// A unit-norm s×s patch with a positive bump on its top half and a negative one below, transposed
    /// with probability ½.
    public static func twoLobedBump(side s: Int, rng: inout RandomStream) -> [Float] {
        let upper = bump(rows: s / 2, columns: s), lower = bump(rows: s - s / 2, columns: s)
        var patch = upper + lower.map { -$0 }
        patch = normalised(patch)
        guard rng.next() & 1 == 0 else { return patch }
        return (0..<s * s).map { patch[($0 % s) * s + $0 / s] }
    }

    static func normalised(_ values: [Float]) -> [Float] {
        let norm = values.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return norm > 0 ? values.map { $0 / norm } : values
    }

    func perturbL2(_ inputs: Tensor, labels: [Int], against classifier: any Classifier,
                   using rng: inout RandomStream) -> AttackResult {
        precondition(inputs.shape.rank == 4 && inputs.shape[2] >= 5 && inputs.shape[3] >= 5,
                     "the L2 Square attack needs images (N, C, H, W) of at least 5×5, got \(inputs.shape)")
        let N = labels.count, C = inputs.shape[1], H = inputs.shape[2], W = inputs.shape[3], D = C * H * W
        let eps = threatModel.epsilon
        // initial perturbation: a grid of bumps with random signs per example and channel, scaled to ε
        let delta = Tensor(zeros: inputs.shape)
        let tile = H / 5, offset = (H - 5 * tile) / 2
        let tileBump = Self.twoLobedBump(side: tile, rng: &rng)
        for n in 0..<N {
            for c in 0..<C {
                for tileRow in 0..<(H / tile) {
                    for tileColumn in 0..<(W / tile) {
                        let sign: Float = rng.next() & 1 == 0 ? -1 : 1
                        let top = offset + tileRow * tile, left = offset + tileColumn * tile
                        guard top + tile <= H, left + tile <= W else { continue }
                        for r in 0..<tile {
                            for col in 0..<tile { delta[n * D + (c * H + top + r) * W + left + col] += sign * tileBump[r * tile + col] }
                        }
                    }
                }
            }
        }
        let best = Tensor(zeros: inputs.shape), candidate = Tensor(zeros: inputs.shape)
        /// x + δ·ε/‖δ‖ per example, clipped to the valid range (the threat model's projection).
        func place(_ perturbation: Tensor, into result: Tensor) {
            for n in 0..<N {
                var squared: Float = 0
                for i in n * D..<(n + 1) * D { squared += perturbation[i] * perturbation[i] }
                let scale = squared > 0 ? eps / squared.squareRoot() : 0
                for i in n * D..<(n + 1) * D { result[i] = inputs[i] + perturbation[i] * scale }
            }
            threatModel.project(result, around: inputs)
        }
        place(delta, into: best)
        var margin = margins(best, labels: labels, classifier: classifier)
        let current = Tensor(zeros: inputs.shape)
        for iteration in 0..<max(queries - 1, 0) {
            let active = (0..<N).filter { margin[$0] > 0 }
            guard !active.isEmpty else { break }
            var side = max(Int((Float(H * W) * squareFraction(iteration: iteration)).squareRoot().rounded()), 3)
            if side % 2 == 0 { side += 1 }
            side = min(side, min(H, W) - 1)
            let top1 = rng.nextIndex(below: H - side), left1 = rng.nextIndex(below: W - side)
            let top2 = rng.nextIndex(below: H - side), left2 = rng.nextIndex(below: W - side)
            let patch = Self.twoLobedBump(side: side, rng: &rng)
            func inWindow(_ h: Int, _ w: Int, _ top: Int, _ left: Int) -> Bool {
                h >= top && h < top + side && w >= left && w < left + side
            }
            // δ of the current best point
            for i in 0..<inputs.count { current[i] = best[i] - inputs[i] }
            for n in active {
                var imageNorm: Float = 0
                for i in n * D..<(n + 1) * D { imageNorm += current[i] * current[i] }
                for c in 0..<C {
                    let plane = n * D + c * H * W
                    var windowNorm: Float = 0, unionNorm: Float = 0
                    for h in 0..<H {
                        for w in 0..<W {
                            let value = current[plane + h * W + w]
                            let first = inWindow(h, w, top1, left1)
                            if first { windowNorm += value * value }
                            if first || inWindow(h, w, top2, left2) { unionNorm += value * value }
                        }
                    }
                    // the fresh bump plus the window's old content (as a unit direction), rescaled to the
                    // mass of both windows plus the unused budget
                    let sign: Float = rng.next() & 1 == 0 ? -1 : 1
                    let oldScale = 1 / (1e-10 + windowNorm.squareRoot())
                    var update = [Float](repeating: 0, count: side * side)
                    for r in 0..<side {
                        for col in 0..<side {
                            update[r * side + col] = sign * patch[r * side + col] + current[plane + (top1 + r) * W + left1 + col] * oldScale
                        }
                    }
                    let budget = (max(eps * eps - imageNorm, 0) / Float(C) + unionNorm).squareRoot()
                    update = Self.normalised(update).map { $0 * budget }
                    for r in 0..<side { for col in 0..<side { current[plane + (top2 + r) * W + left2 + col] = 0 } }
                    for r in 0..<side { for col in 0..<side { current[plane + (top1 + r) * W + left1 + col] = update[r * side + col] } }
                }
            }
            place(current, into: candidate)
            let candidateMargin = margins(candidate, labels: labels, classifier: classifier)
            for n in active where candidateMargin[n] < margin[n] {
                margin[n] = candidateMargin[n]
                (best.data + n * D).update(from: candidate.data + n * D, count: D)
            }
        }
        return AttackResult(adversarial: best, success: margin.map { $0 < 0 })
    }
}
