import ArgumentParser
import LocalCloud

/// The `skiff` command: the local cloud and the operations tools.
@main
struct Skiff: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "skiff",
        abstract: "A local AWS cloud, platform as code in Swift, and operations tools.",
        version: LocalCloud.version,
        subcommands: [Up.self, JSONataCommand.self, ExecCommand.self, CrontabCommand.self, ScheduleCommand.self, SynthCommand.self]
    )
}
