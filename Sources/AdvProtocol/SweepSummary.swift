import Foundation

/// A sweep's grid as `advctl results --group` shows it: one row per point of the grid (the swept
/// values without the seed), with the mean and standard deviation over its seeds of the clean and
/// worst-case robust accuracy of the jobs that succeeded.
public struct SweepSummary: Sendable, Equatable {
    /// The swept key paths, in the sweep's order (`seed` left out).
    public var keys: [String]
    public var rows: [Row]

    public struct Row: Sendable, Equatable {
        /// The values of `keys` at this point.
        public var values: [String]
        /// Its jobs, one per seed, in id order.
        public var jobs: [Int64]
        public var seeds: [String]
        /// Jobs not (yet) succeeded, by state: `1 running`.
        public var unfinished: [JobState: Int]
        public var clean: Statistic?
        public var worstCase: Statistic?
    }

    /// A mean over seeds, with the sample standard deviation (n − 1; nil for one seed).
    public struct Statistic: Sendable, Equatable {
        public var mean: Double
        public var standardDeviation: Double?
        public var count: Int

        public init?(_ values: [Double]) {
            guard !values.isEmpty else { return nil }
            count = values.count
            mean = values.reduce(0, +) / Double(count)
            let mean = self.mean
            standardDeviation = count > 1
                ? (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(count - 1)).squareRoot() : nil
        }

        /// `81.23 ± 0.45%` (percent), or `81.23%` for one seed.
        public var percentText: String {
            let mean = String(format: "%.2f", self.mean * 100)
            guard let deviation = standardDeviation else { return mean + "%" }
            return mean + " ± " + String(format: "%.2f", deviation * 100) + "%"
        }
    }

    /// The summary of a group's jobs (as `list --group` returns them); jobs without a sweep point are left out.
    public init(jobs: [JobInfo]) {
        let swept = jobs.filter { $0.sweepPoint != nil }.sorted { $0.id < $1.id }
        keys = swept.first?.sweepPoint?.map(\.key).filter { $0 != "seed" } ?? []
        var order: [[String]] = []
        var members: [[String]: [JobInfo]] = [:]
        for job in swept {
            let values = job.sweepPoint!.filter { $0.key != "seed" }.map(\.value)
            if members[values] == nil { order.append(values) }
            members[values, default: []].append(job)
        }
        rows = order.map { values in
            let group = members[values]!
            let succeeded = group.compactMap(\.outcome)
            var unfinished: [JobState: Int] = [:]
            for job in group where job.state != .succeeded { unfinished[job.state, default: 0] += 1 }
            return Row(values: values, jobs: group.map(\.id),
                       seeds: group.compactMap { $0.sweepPoint?.first { $0.key == "seed" }?.value },
                       unfinished: unfinished,
                       clean: Statistic(succeeded.map(\.cleanAccuracy)), worstCase: Statistic(succeeded.map(\.worstCaseRobustAccuracy)))
        }
    }
}
