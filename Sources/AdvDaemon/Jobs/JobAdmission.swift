import AdvNN
import AdvProtocol
import AdvRobust
import Foundation

/// Whether a manifest may become a job: it must parse (every error names the key path and line), and
/// every file it reads must be an absolute path under the configured dataset roots — a job runs as
/// the daemon's user, so a manifest must not be a way to read that user's other files.
public struct JobAdmission: Sendable {
    public let configuration: DaemonConfiguration

    public init(configuration: DaemonConfiguration) {
        self.configuration = configuration
    }

    /// A manifest's jobs as they are admitted: one experiment, or every point of its sweep.
    public struct Admitted: Sendable {
        /// Each job's name, manifest text and place in the sweep's grid (nil without a sweep).
        public var jobs: [(name: String, text: String, sweepPoint: [SweepCoordinate]?)]
        /// The sweep's name; nil for a single experiment.
        public var sweepName: String?

        /// The jobs as the store records them, all from `source`; a spool file's key goes with the first
        /// job, by which the store finds the whole manifest again.
        func recorded(ownerUID: UInt32, priority: Int, labels: [String], source: String, spoolKey: String?) -> JobStore.ManifestJobs {
            let submissions = jobs.enumerated().map { index, job in
                JobStore.Submission(name: job.name, ownerUID: ownerUID, priority: priority, labels: labels, manifest: job.text,
                                    source: source, spoolKey: index == 0 ? spoolKey : nil, sweepPoint: job.sweepPoint)
            }
            return JobStore.ManifestJobs(jobs: submissions, sweepName: sweepName)
        }
    }

    /// Admits the manifest, or, when it holds a `sweep:` block, every point of its grid: all of them
    /// or none, an error naming the point (`tiny.yaml [train.method=fgsm-at, seed=2]`).
    /// - Throws: `ManifestError` naming the source, key path and line.
    public func admitAll(text: String, source: String) throws -> Admitted {
        guard let sweep = try ManifestSweep.expand(yaml: text, source: source) else {
            let manifest = try admit(text: text, source: source)
            return Admitted(jobs: [(manifest.name, text, nil)], sweepName: nil)
        }
        let jobs = try sweep.points.map { point in
            let coordinates = zip(sweep.keys, point.values).map { SweepCoordinate(key: $0, value: $1) }
            let label = coordinates.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
            let manifest = try admit(text: point.manifest, source: "\(source) [\(label)]")
            return (name: manifest.name, text: point.manifest, sweepPoint: Optional(coordinates))
        }
        return Admitted(jobs: jobs, sweepName: sweep.name)
    }

    /// The parsed manifest.
    /// - Parameter source: the file name errors mention.
    /// - Throws: `ManifestError` naming the source, key path and line.
    public func admit(text: String, source: String) throws -> ExperimentManifest {
        let defaultName = (source as NSString).deletingPathExtension
        let manifest = try ExperimentManifest.parse(yaml: text, source: source, defaultName: defaultName)
        var reads: [(key: String, path: String)] = []
        if let path = manifest.dataset.optionalString("path") { reads.append(("dataset.path", path)) }
        if let weights = manifest.model.weights { reads.append(("model.weights", weights)) }
        if let teacher = manifest.selfTraining?.teacherWeights { reads.append(("train.self_training.teacher.weights", teacher)) }
        if case .images(let path)? = manifest.selfTraining?.pool { reads.append(("train.self_training.pool.images", path)) }
        for (key, value) in reads {
            var path = value
            if let job = WeightsReference.jobID(value) {
                path = WeightsReference.path(job: job, jobsFolder: configuration.jobsFolder)
                guard FileManager.default.fileExists(atPath: path) else {
                    throw ManifestError(source: source, path: key, line: nil,
                                        message: "job \(job) has no trained model (it has not succeeded, or its files were removed)")
                }
                continue
            }
            guard path.hasPrefix("/") else {
                throw ManifestError(source: source, path: key, line: nil,
                                    message: "\"\(path)\" is relative; a job runs in the daemon's own folder, so give an absolute path")
            }
            guard configuration.allowsReading(path) else {
                throw ManifestError(source: source, path: key, line: nil,
                                    message: "\(path) is outside the folders the daemon may read (dataset_roots: \(configuration.datasetRoots.joined(separator: ", ")), and the jobs' model.safetensors in its state folder)")
            }
            guard FileManager.default.fileExists(atPath: path) else {
                let installHint = key == "dataset.path" ? (try? Registries.standard.datasets.make(manifest.dataset, context: NoContext()))?.installHint : nil
                let hint = installHint.map { " (\($0))" } ?? ""
                throw ManifestError(source: source, path: key, line: nil, message: "\(path) does not exist\(hint)")
            }
        }
        return manifest
    }
}
