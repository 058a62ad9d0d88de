import Testing
@testable import SluiceCore

/// SLUICE_EXECUTOR is read before the command line is parsed (the executor must be installed
/// before any task exists); flags win over the environment, and a bad value is left for the
/// parser to refuse.
@Suite struct ExecutorChoiceTests {
    @Test func flagsWinOverTheEnvironmentAndTheDefaultIsSwiftsPool() throws {
        #expect(ExecutorChoice.fromEnvironmentAndArguments(environment: [:], arguments: ["sluice", "serve"]) == .swift)
        #expect(ExecutorChoice.fromEnvironmentAndArguments(environment: ["SLUICE_EXECUTOR": "nio"], arguments: ["sluice"]) == .nio)
        #expect(ExecutorChoice.fromEnvironmentAndArguments(environment: ["SLUICE_EXECUTOR": "nio"], arguments: ["sluice", "--executor", "swift"]) == .swift)
        #expect(ExecutorChoice.fromEnvironmentAndArguments(environment: [:], arguments: ["sluice", "serve", "--executor=nio"]) == .nio)
        #expect(ExecutorChoice.fromEnvironmentAndArguments(environment: [:], arguments: ["sluice", "--executor"]) == .swift)
        #expect(ExecutorChoice.fromEnvironmentAndArguments(environment: ["SLUICE_EXECUTOR": "fast"], arguments: ["sluice"]) == .swift)
        #expect(throws: ConfigurationError.self) { try SluiceConfiguration.load(environment: ["SLUICE_EXECUTOR": "fast"], overrides: [:]) }
        #expect(try SluiceConfiguration.load(environment: ["SLUICE_EXECUTOR": "nio"], overrides: [:]).executor == .nio)
    }
}
