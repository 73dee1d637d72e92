import ArgumentParser
import Dispatch
import LocalCloud

/// The `skiff` command: the local cloud and the operations tools.
struct Skiff: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "skiff",
        abstract: "A local AWS cloud, platform as code in Swift, and operations tools.",
        version: LocalCloud.version,
        subcommands: [Up.self, JSONataCommand.self, ExecCommand.self, CrontabCommand.self, ScheduleCommand.self, SynthCommand.self]
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
