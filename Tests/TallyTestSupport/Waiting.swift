import Foundation

/// Polls `condition` until it holds or `seconds` pass.
public func eventually(within seconds: Double = 5, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}

/// Runs a program and returns its exit status and standard output.
@discardableResult
public func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: output, as: UTF8.self))
}

/// Reads `handle` until a whole line has arrived (or the writer closes it): a child process's
/// first line, such as a server's banner or a trainer's first report.
public func readFirstLine(of handle: FileHandle) -> String {
    var text = ""
    while !text.contains("\n") {
        let data = handle.availableData
        if data.isEmpty { break }
        text += String(decoding: data, as: UTF8.self)
    }
    return text
}

/// The Python environment `make test` prepares (.build-python/test, pinned in
/// Tests/requirements.txt: transformers, safetensors, numpy, scipy, ...) for the checks against
/// other implementations.
public let checkerPython: String = {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return root.appendingPathComponent(".build-python/test/bin/python").path
}()

/// What a checker script did: its exit status, what it printed, and what it wrote to its
/// standard error (the complaint to show when it failed).
public struct CheckerRun: Sendable {
    public let status: Int32
    public let output: Data
    public let errors: String
    /// The output read as one JSON value (the checkers print one object).
    public var json: Any? { try? JSONSerialization.jsonObject(with: output) }
}

/// Runs a checker script (`Tools/NAME.py` beside `testFile`) under `checkerPython` with
/// `arguments`, to its end; both streams are read as they come, so neither can fill and block it.
public func runChecker(_ name: String, besides testFile: String, _ arguments: [String], environment: [String: String]? = nil) throws -> CheckerRun {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: checkerPython)
    process.arguments = [URL(fileURLWithPath: testFile).deletingLastPathComponent().appendingPathComponent("Tools/" + name).path] + arguments
    if let environment { process.environment = environment }
    let output = Pipe(), errors = Pipe()
    (process.standardOutput, process.standardError) = (output, errors)
    try process.run()
    let complaint = Guarded(Data()), read = DispatchSemaphore(value: 0)
    Thread {
        complaint.withLock { $0 = errors.fileHandleForReading.readDataToEndOfFile() }
        read.signal()
    }.start()
    let printed = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    read.wait()
    return CheckerRun(status: process.terminationStatus, output: printed, errors: String(decoding: complaint.withLock { $0 }, as: UTF8.self))
}
