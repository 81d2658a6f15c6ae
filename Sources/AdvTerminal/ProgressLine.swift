#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A progress line that fits where it is written. On a terminal it is redrawn in place, cut to the
/// terminal's width (a wrapped line cannot be redrawn, and 80 columns would otherwise fill with
/// hundreds of copies); into a pipe or a file every update is one plain line, and an update that
/// repeats the last one is left out.
///
/// It writes to standard output through `print`, so its lines stay in order with the command's own.
public final class ProgressLine {
    private let isTerminal: Bool
    private var last = ""
    private var drawn = false

    public init() {
        isTerminal = isatty(STDOUT_FILENO) == 1
    }

    /// The terminal's width in columns (its window size, else $COLUMNS, else 80).
    public static func width(of descriptor: Int32) -> Int {
        var size = winsize()
        if ioctl(descriptor, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        if let columns = ProcessInfo.processInfo.environment["COLUMNS"].flatMap(Int.init), columns > 0 { return columns }
        return 80
    }

    /// `line` cut to `width` characters, ending in "…" when cut.
    public static func fitted(_ line: String, width: Int) -> String {
        guard line.count > width else { return line }
        return width <= 1 ? String(line.prefix(width)) : String(line.prefix(width - 1)) + "…"
    }

    /// Shows `line` as the current progress.
    public func update(_ line: String) {
        if isTerminal {
            // one column is kept free: a line that fills the last column wraps on some terminals
            Swift.print("\r" + Self.fitted(line, width: Self.width(of: STDOUT_FILENO) - 1) + "\u{1B}[K", terminator: "")
            drawn = true
        } else if line != last {
            Swift.print(line)
        }
        last = line
        fflush(nil)
    }

    /// Writes `message` as a line of its own, above the progress line on a terminal.
    public func print(_ message: String) {
        if isTerminal && drawn { Swift.print("\r\u{1B}[K", terminator: "") }
        Swift.print(message)
        if isTerminal && drawn {
            Swift.print("\r" + Self.fitted(last, width: Self.width(of: STDOUT_FILENO) - 1) + "\u{1B}[K", terminator: "")
        }
        fflush(nil)
    }

    /// Ends the progress line (on a terminal, moves below it).
    public func finish() {
        if isTerminal && drawn { Swift.print("") }
        drawn = false
        fflush(nil)
    }
}
