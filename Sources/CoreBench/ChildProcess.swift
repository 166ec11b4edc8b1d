import Foundation
import StyleCore

/// A benchmark's child process: each configuration runs in a process of its own, so its peak RSS and its BLAS
/// kernel are its own.
public enum ChildProcess {
    /// Runs `arguments` (through /usr/bin/env) with the variables in `unset` removed from its environment and returns
    /// its standard output, trimmed; standard error passes through.
    public static func output(_ arguments: [String], unset: [String] = []) throws -> String {
        let process = Process(), pipe = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = unset.flatMap { ["-u", $0] } + arguments
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The value a child printed as its last line of JSON (`BenchRecord.print`).
    public static func decode<T: Decodable>(_ type: T.Type, from output: String) throws -> T {
        guard let line = output.split(separator: "\n").last(where: { $0.hasPrefix("{") }) else {
            throw BenchError("the child printed no result: \(output)")
        }
        return try JSONDecoder().decode(T.self, from: Data(line.utf8))
    }

    /// Prints `value` as one line of JSON, what a parent decodes with `decode`.
    public static func emit<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }
}

/// A benchmark that could not run, and why.
public struct BenchError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Measuring wall time and memory.
public enum Stopwatch {
    /// Seconds `body` takes.
    public static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = ContinuousClock.now
        try body()
        return start.elapsedSeconds
    }

    /// The median of `repeats` timed runs of `body`, after one untimed warm-up.
    public static func median(repeats: Int, _ body: () -> Void) -> Double {
        body()
        let samples = (0 ..< max(1, repeats)).map { _ in seconds(body) }.sorted()
        return samples[samples.count / 2]
    }

    /// This process's peak resident memory, MiB.
    public static func peakRSSMiB() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024
    }
}
