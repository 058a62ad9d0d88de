import Foundation

/// Where Swift concurrency runs jobs (`SLUICE_EXECUTOR`): on Swift's own cooperative pool
/// (`swift`, the default) or on NIO's event loops (`nio`: no thread hop between I/O and the code
/// awaiting it). Measured on 2 cores (bench/README.md → executor), `nio` costs more instructions
/// per request (every job becomes an event loop task, with its lock and wake-up) and has a far
/// worse tail under load, so it is an option, not the default.
public enum ExecutorChoice: String, Sendable, CaseIterable {
    case nio
    case swift

    /// Read before the command line is parsed (the executor is installed before any task
    /// exists): `--executor X` / `--executor=X` win over `SLUICE_EXECUTOR`. An invalid value picks
    /// the default here; the parser then refuses it with the usual message.
    public static func fromEnvironmentAndArguments(
        environment: [String: String] = ProcessInfo.processInfo.environment, arguments: [String] = CommandLine.arguments
    ) -> ExecutorChoice {
        var text = environment["SLUICE_EXECUTOR"]
        for (index, argument) in arguments.enumerated() {
            if argument == "--executor", index + 1 < arguments.count { text = arguments[index + 1] }
            if argument.hasPrefix("--executor=") { text = String(argument.dropFirst("--executor=".count)) }
        }
        return text.flatMap(ExecutorChoice.init(rawValue:)) ?? .swift
    }
}
