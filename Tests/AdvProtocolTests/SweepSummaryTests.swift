import AdvProtocol
import Foundation
import Testing

/// `advctl results --group`: a sweep's jobs become one row per point of its grid, with the mean and
/// sample standard deviation over the seeds of the jobs that succeeded.
@Suite struct SweepSummaryTests {
    static func job(_ id: Int64, method: String, seed: Int, state: JobState = .succeeded, clean: Double = 0, worst: Double = 0) -> JobInfo {
        var job = JobInfo(id: id, name: "grid-\(method)-seed\(seed)", ownerUID: 0, priority: 0, labels: [], state: state, attempts: 1,
                          source: "advctl", submittedAt: Date(), outputFolder: "/jobs/\(id)")
        job.group = "grid-1"
        job.sweepPoint = [SweepCoordinate(key: "train.method", value: method), SweepCoordinate(key: "seed", value: String(seed))]
        if state == .succeeded { job.outcome = ResultOutcome(cleanAccuracy: clean, worstCaseRobustAccuracy: worst, warnings: 0) }
        return job
    }

    @Test func rowsPerPointWithMeanAndStandardDeviationOverSeeds() {
        let summary = SweepSummary(jobs: [
            Self.job(2, method: "standard", seed: 2, clean: 0.90, worst: 0.10),
            Self.job(1, method: "standard", seed: 1, clean: 0.88, worst: 0.06),
            Self.job(3, method: "pgd-at", seed: 1, clean: 0.80, worst: 0.64),
            Self.job(4, method: "pgd-at", seed: 2, state: .running),
        ])
        #expect(summary.keys == ["train.method"])
        #expect(summary.rows.map(\.values) == [["standard"], ["pgd-at"]])
        let standard = summary.rows[0]
        #expect(standard.jobs == [1, 2] && standard.seeds == ["1", "2"] && standard.unfinished.isEmpty)
        #expect(abs(standard.clean!.mean - 0.89) < 1e-12 && standard.clean!.count == 2)
        #expect(abs(standard.clean!.standardDeviation! - 0.0141421356) < 1e-9)   // sample deviation: (0.01² · 2 / 1)^½
        #expect(standard.worstCase!.percentText == "8.00 ± 2.83%")
        let adversarial = summary.rows[1]
        #expect(adversarial.unfinished == [.running: 1])
        #expect(adversarial.clean!.count == 1 && adversarial.clean!.standardDeviation == nil && adversarial.clean!.percentText == "80.00%")
    }

    @Test func nothingSucceededYetAndJobsOutsideASweep() {
        let summary = SweepSummary(jobs: [Self.job(1, method: "trades", seed: 1, state: .queued)])
        #expect(summary.rows.count == 1 && summary.rows[0].clean == nil && summary.rows[0].unfinished == [.queued: 1])
        let plain = JobInfo(id: 9, name: "x", ownerUID: 0, priority: 0, labels: [], state: .succeeded, attempts: 1, source: "advctl",
                            submittedAt: Date(), outputFolder: "/jobs/9")
        #expect(SweepSummary(jobs: [plain]).rows.isEmpty)
    }
}
