import ArgumentParser

struct SluiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "A durable workflow runtime whose whole state lives in Redis.",
        subcommands: [
            ServeCommand.self, RunCommand.self, SweepCommand.self, TailCommand.self, ApprovalsCommand.self, ApproveCommand.self, CheckCommand.self,
        ],
        defaultSubcommand: ServeCommand.self)
}
