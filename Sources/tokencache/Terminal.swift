import Foundation

/// What the CLI may draw: colour on standard output and progress on standard error, each
/// only when that stream is a terminal (and `NO_COLOR` is unset, `TERM` is not `dumb`).
enum Terminal {
    private static let environment = ProcessInfo.processInfo.environment
    private static let capable = environment["TERM"] != "dumb"

    /// Whether standard output takes colour.
    static let colorsOutput = isatty(STDOUT_FILENO) == 1 && capable && environment["NO_COLOR"] == nil

    /// Whether standard error takes progress lines.
    static let showsProgress = isatty(STDERR_FILENO) == 1 && capable

    /// `text` in red (a problem) on a colour terminal, plain otherwise.
    static func problem(_ text: String) -> String {
        colorsOutput ? "\u{1B}[31m\(text)\u{1B}[0m" : text
    }
}

/// Progress of a long operation (copy, rekey, bench): one line on standard error that is
/// redrawn in place on a terminal, nothing otherwise. Each step is also logged with its
/// duration under `--verbose`.
struct Progress {
    private let title: String
    private var lastDraw = ContinuousClock.now - .seconds(1)

    init(_ title: String) {
        self.title = title
    }

    /// Runs one step of the operation, showing `step` while it runs.
    static func step<T>(_ step: String, _ body: () throws -> T) rethrows -> T {
        draw("\(step)…")
        let started = ContinuousClock.now
        defer {
            clear()
            VerboseLog.debug("\(step): done", ["elapsed": "\(ContinuousClock.now - started)"])
        }
        return try body()
    }

    /// Shows `done` of `total`, at most ten times a second.
    mutating func update(_ done: Int, of total: Int) {
        guard Terminal.showsProgress, done == total || ContinuousClock.now - lastDraw > .milliseconds(100) else { return }
        lastDraw = ContinuousClock.now
        let percent = total > 0 ? done * 100 / total : 100
        Progress.draw("\(title): \(done)/\(total) (\(percent)%)")
    }

    /// Removes the progress line.
    func finish() {
        Progress.clear()
    }

    private static func draw(_ text: String) {
        guard Terminal.showsProgress else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K\(text)".utf8))
    }

    private static func clear() {
        guard Terminal.showsProgress else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
