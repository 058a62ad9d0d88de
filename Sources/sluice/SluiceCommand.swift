import ArgumentParser

@main
struct SluiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "A durable workflow runtime whose whole state lives in Redis.",
        subcommands: [ServeCommand.self, RunCommand.self, SweepCommand.self, TailCommand.self],
        defaultSubcommand: ServeCommand.self)
}
