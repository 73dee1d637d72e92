import Foundation

/// The threads executions run on: a small pool of its own, apart from the threads of Swift's global executor and
/// from the host's event loops.
///
/// Why: an execution runs what users wrote (JSONata, paths, intrinsic functions), and one expression may take
/// seconds of CPU. On an event loop it would hold every connection of the loop; on the global executor, whose
/// threads are as many as the cores, two such expressions hold every other task of the process (timers, schedules,
/// task supervision) until they end. Here they can only make other executions wait.
///
/// The threads start when the first job comes, so a process that runs no execution has none of them.
public final class ExecutionThreads: TaskExecutor, @unchecked Sendable {
    /// The pool every execution of the process runs on.
    public static let shared = ExecutionThreads(count: max(4, ProcessInfo.processInfo.activeProcessorCount * 2))

    public let count: Int
    /// Guards `jobs`, `head` and `started`; signalled when a job is queued.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var head = 0
    private var started = false

    public init(count: Int) {
        self.count = max(1, count)
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        if !started {
            started = true
            for index in 0..<count {
                // The threads keep the pool: it lives as long as the process. The name is set by the thread itself:
                // on Linux, Foundation gives the system a thread's name only from within it.
                Thread {
                    Thread.current.name = "skiff-execution-\(index)"
                    Thread.current.threadDictionary[Self.poolKey] = ObjectIdentifier(self)
                    self.work()
                }.start()
            }
        }
        condition.signal()
        condition.unlock()
    }

    private static let poolKey = "skiff.ExecutionThreads"

    /// Whether the calling code runs on one of this pool's threads.
    public var runsCallersThread: Bool {
        Thread.current.threadDictionary[Self.poolKey] as? ObjectIdentifier == ObjectIdentifier(self)
    }

    private func work() {
        let executor = asUnownedTaskExecutor()
        while true {
            condition.lock()
            while head == jobs.count { condition.wait() }
            let job = jobs[head]
            head += 1
            // The queue is emptied now and then rather than shifted at every job.
            if head == jobs.count {
                jobs.removeAll(keepingCapacity: true)
                head = 0
            }
            condition.unlock()
            job.runSynchronously(on: executor)
        }
    }
}
