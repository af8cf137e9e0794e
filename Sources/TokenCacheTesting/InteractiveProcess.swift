public import Foundation

/// A helper process that answers one line on standard output for each line it is sent.
public final class InteractiveProcess: @unchecked Sendable {
    // @unchecked: used from one test at a time.
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private var buffer = Data()

    /// Starts `program` with `arguments`.
    public init(_ program: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        process.environment = env
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// Sends `line` and returns the next line of the answer.
    public func ask(_ line: String) throws -> String {
        input.fileHandleForWriting.write(Data((line + "\n").utf8))
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let answer = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex...newline)
                return answer
            }
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { throw PeerError(message: "the helper process ended without answering") }
            buffer.append(chunk)
        }
    }

    /// Closes its input and waits for it to end.
    public func finish() {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}

extension PythonPeer {
    /// Starts a Python helper that answers line by line.
    public static func startInteractive(_ arguments: [String]) throws -> InteractiveProcess {
        try InteractiveProcess(python, arguments)
    }
}
