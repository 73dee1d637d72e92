import ArgumentParser
import Dispatch
import Foundation
import LocalCloud

/// The `skiff` command: the local cloud and the operations tools.
struct Skiff: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "skiff",
        abstract: "A local AWS cloud, platform as code in Swift, and operations tools.",
        version: Cloud.version,
        subcommands: [
            Up.self, ImageCommand.self, JSONataCommand.self, ExecCommand.self, CrontabCommand.self, ScheduleCommand.self, SynthCommand.self,
            DiffCommand.self, DeployCommand.self, InitCommand.self, SessionManagerPluginCommand.self,
        ]
    )
}

/// The program's entry point, synchronous on purpose.
///
/// An `async` main ends by handing the main thread to `dispatch_main()`, which retires it with `pthread_exit`. That
/// unwinds the main thread's stack, and the unwinder's binary searches through the binary's unwind tables
/// (`.eh_frame_hdr`, `.eh_frame`) leave about 600 KiB of them mapped for the whole life of `skiff up`. Here the
/// command runs as a task on the global executor while the main thread waits for it. Nothing in skiff is isolated to
/// the main actor, which is what would need the main thread to serve the main queue.
@main
enum SkiffMain {
    static func main() {
        // Installed as `session-manager-plugin` (a link to skiff), it is the plugin the AWS CLI runs for ECS Exec.
        if CommandLine.arguments.first.map({ ($0 as NSString).lastPathComponent }) == SessionManagerPlugin.programName {
            exit(SessionManagerPlugin.run(CommandLine.arguments))
        }
        let finished = DispatchSemaphore(value: 0)
        // Detached: the entry point is isolated to the main actor, and a task inheriting that would wait for the
        // main thread forever.
        Task.detached {
            await Skiff.main()
            finished.signal()
        }
        finished.wait()
    }
}
