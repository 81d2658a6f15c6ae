import AdvNN
import AdvProtocol
import AdvRobust
import Foundation

/// A failed job's report.html: why it failed and what it measured before, from the job store (the run
/// itself wrote no report). Written when the job fails for good.
enum FailureReport {
    /// Writes `<job folder>/report.html` for job `id`, which fails for `reason`.
    /// - Throws: the store's errors, or the file's when it cannot be written.
    static func write(job id: Int64, reason: String, store: JobStore) throws {
        guard let job = try store.job(id, details: true), !job.outputFolder.isEmpty else { return }
        let epochs = (job.epochs ?? []).map { epoch in
            EpochMetrics(epoch: epoch.epoch, trainLoss: epoch.trainLoss, trainAccuracy: epoch.trainAccuracy,
                         validationAccuracy: epoch.validationAccuracy, heldOutRobustAccuracy: epoch.heldOutRobustAccuracy,
                         learningRate: Float(epoch.learningRate), seconds: epoch.seconds, samplesPerSecond: 0)
        }
        let html = HTMLReport.failure(name: "job \(job.id): \(job.name)", reason: reason,
                                      manifest: job.manifest ?? "", epochs: epochs,
                                      events: (job.events ?? []).map { (at: $0.at, kind: $0.kind, message: $0.message) })
        try FileManager.default.createDirectory(atPath: job.outputFolder, withIntermediateDirectories: true)
        try AtomicFile.write(Array(html.utf8), to: job.outputFolder + "/report.html")
    }
}
