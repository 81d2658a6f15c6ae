#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// What a valid configuration file can still get wrong on a given machine: a socket group that does
/// not exist, data folders that are missing or unreadable, a state folder or spool that cannot be
/// created or written. `advd check-config` lists these, and the daemon refuses to start on them rather
/// than degrade silently (a socket left to root's group, jobs that fail one by one).
extension DaemonConfiguration {
    /// Every problem, each naming its key, the path or group, and what to do; empty when there is none.
    public func problemsOnThisMachine() -> [String] {
        var problems: [String] = []
        if let group = socketGroup, getgrnam(group) == nil {
            problems.append("socket_group: the group \"\(group)\" does not exist; create it (systemd-sysusers creates advd's from systemd/advd.sysusers, or groupadd \(group)), or name another")
        }
        for root in datasetRoots {
            if let problem = Self.readableFolderProblem(root) { problems.append("dataset_roots: \(root): \(problem)") }
        }
        if let problem = Self.writableFolderProblem(stateFolder) { problems.append("state_folder: \(stateFolder): \(problem)") }
        for spool in spools {
            if let problem = Self.writableFolderProblem(spool.path) { problems.append("spools: \(spool.path): \(problem)") }
        }
        if executor == .slurm, let slurm {
            if let problem = Self.writableFolderProblem(slurm.sharedFolder) {
                problems.append("slurm.shared_folder: \(slurm.sharedFolder): \(problem)")
            }
            if let path = slurm.advdPath, !FileManager.default.isExecutableFile(atPath: path) {
                problems.append("slurm.advd_path: \(path) is not an executable file on this machine (the nodes need it at the same path)")
            }
            if let conf = slurm.slurmConf, !FileManager.default.isReadableFile(atPath: conf) {
                problems.append("slurm.slurm_conf: \(conf) does not exist or is not readable")
            }
        }
        return problems
    }

    /// Why the daemon could not read `path` as a folder, or nil.
    static func readableFolderProblem(_ path: String) -> String? {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else { return "does not exist" }
        guard isFolder.boolValue else { return "is not a folder" }
        guard access(path, R_OK | X_OK) == 0 else { return "is not readable by this user (uid \(getuid()))" }
        return nil
    }

    /// Why the daemon could not write in `path` (or create it, in its existing parent), or nil.
    static func writableFolderProblem(_ path: String) -> String? {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) {
            guard isFolder.boolValue else { return "is not a folder" }
            return access(path, W_OK | X_OK) == 0 ? nil : "is not writable by this user (uid \(getuid()))"
        }
        let parent = (path as NSString).deletingLastPathComponent
        guard FileManager.default.fileExists(atPath: parent, isDirectory: &isFolder), isFolder.boolValue else {
            return "does not exist, nor does its parent \(parent): create them"
        }
        return access(parent, W_OK | X_OK) == 0 ? nil : "does not exist, and this user (uid \(getuid())) cannot create it in \(parent)"
    }
}
