import AdvProtocol
import AdvRobust
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Turns a complete spool file into a job, exactly once: a valid manifest is recorded as a queued job
/// and moved to `accepted/<id>-<name>`; an invalid one is moved to `rejected/<name>` with
/// `<name>.error` beside it saying what is wrong. The job row stores the file's identity (device,
/// inode, modification time, size, name) before the move, so a crash between recording and moving
/// finds the job at the next start and only finishes the move.
public final class SpoolIngestor: @unchecked Sendable {
    let store: JobStore
    public var admission: JobAdmission
    let outputFolder: @Sendable (Int64) -> String
    /// Called for every new job (to wake the scheduler) and every rejection (to log it).
    public var onAccepted: (Int64, String) -> Void = { _, _ in }
    public var onRejected: (String, String) -> Void = { _, _ in }

    public init(store: JobStore, admission: JobAdmission, outputFolder: @escaping @Sendable (Int64) -> String) {
        self.store = store
        self.admission = admission
        self.outputFolder = outputFolder
    }

    /// Handles `name` in `folder`; a file that is gone (already handled) is skipped.
    public func ingest(_ name: String, in folder: SpoolFolder) {
        let path = folder.path + "/" + name
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return }
        let key = "\(info.st_dev):\(info.st_ino):\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec):\(info.st_size):\(name)"
        guard let data = FileManager.default.contents(atPath: path) else {
            // the daemon's user cannot read it (a private umask); the spool's group can fix that
            return reject(name, in: folder, reason: "\(name): cannot read the file (\(String(cString: strerror(errno)))); make it readable by group advd (chmod g+r) and drop it again")
        }
        if let problem = JobLimits.problem(manifestBytes: data.count) { return reject(name, in: folder, reason: "\(name): \(problem)") }
        guard let text = String(data: data, encoding: .utf8) else {
            return reject(name, in: folder, reason: "\(name): not UTF-8 text; a manifest is YAML or JSON")
        }
        do {
            let jobs = try admission.admitAll(text: text, source: name)
                .recorded(ownerUID: info.st_uid, priority: folder.priority, labels: folder.labels, source: path, spoolKey: key)
            let (ids, _, isNew) = try store.submit(jobs, outputFolder: outputFolder)
            try move(path, to: folder.path + "/accepted/\(ids[0])-\(name)")
            if isNew { for id in ids { onAccepted(id, name) } }
        } catch let error as ManifestError {
            reject(name, in: folder, reason: error.description)
        } catch {
            // the database or the file system failed (a full disk): leave the file for the next rescan
            onRejected(name, "not recorded yet: \(error)")
        }
    }

    private func reject(_ name: String, in folder: SpoolFolder, reason: String) {
        let rejected = folder.path + "/rejected"
        var target = name
        var suffix = 1
        while FileManager.default.fileExists(atPath: rejected + "/" + target) {
            target = "\(name).\(suffix)"
            suffix += 1
        }
        do {
            try move(folder.path + "/" + name, to: rejected + "/" + target)
            try Data((reason + "\n").utf8).write(to: URL(fileURLWithPath: rejected + "/" + target + ".error"))
        } catch {
            onRejected(name, "\(reason) (and it could not be moved to rejected/: \(error))")
            return
        }
        onRejected(name, reason)
    }

    private func move(_ source: String, to destination: String) throws {
        let folder = (destination as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        guard rename(source, destination) == 0 else {
            throw DaemonError("cannot move \(source) to \(destination): \(String(cString: strerror(errno)))")
        }
    }
}
