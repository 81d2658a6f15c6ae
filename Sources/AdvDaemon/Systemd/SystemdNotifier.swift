import CSystemd
import Dispatch
import Foundation

/// The `Type=notify` protocol through libsystemd's `sd_notify`: READY=1 once the daemon can serve,
/// STATUS= lines for `systemctl status`, WATCHDOG=1 keep-alives at half the watchdog interval when
/// the unit sets `WatchdogSec=`, STOPPING=1 on shutdown. Without `NOTIFY_SOCKET` every call is a no-op.
public final class SystemdNotifier: @unchecked Sendable {
    private var watchdogTimer: DispatchSourceTimer?

    public init() {}

    public func ready(status: String) { notify("READY=1\nSTATUS=\(status)") }
    public func status(_ text: String) { notify("STATUS=\(text)") }
    public func stopping() { notify("STOPPING=1\nSTATUS=stopping: checkpointing running jobs") }
    public func reloading() { notify("RELOADING=1") }

    /// Starts keep-alives on `queue` if the service manager asked for them. The queue must be one the
    /// daemon's own work runs on, so that a wedged daemon stops sending them and systemd restarts it.
    /// Stops the keep-alives (the daemon is stopping).
    public func stopWatchdog() {
        watchdogTimer?.cancel()
        watchdogTimer = nil
    }

    public func startWatchdog(on queue: DispatchQueue) {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else { return }
        let interval = Double(microseconds) / 2e6
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + interval, repeating: interval)
        timer.setEventHandler { [weak self] in self?.notify("WATCHDOG=1") }
        timer.resume()
        watchdogTimer = timer
    }

    private func notify(_ state: String) {
        _ = sd_notify(0, state)
    }
}
