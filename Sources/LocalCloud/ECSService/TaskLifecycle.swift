import AWSProtocol

/// The statuses of a task's lifecycle as ECS reports them (a task's `lastStatus` and `desiredStatus`, a
/// container's `lastStatus`), in the order a task goes through them. The model types these members as strings;
/// the service reads and sets them through this enum, so that no status is compared as a literal.
enum TaskStatus: String, Sendable {
    case provisioning = "PROVISIONING"
    case pending = "PENDING"
    case activating = "ACTIVATING"
    case running = "RUNNING"
    case deactivating = "DEACTIVATING"
    case stopping = "STOPPING"
    case deprovisioning = "DEPROVISIONING"
    case stopped = "STOPPED"

    /// Counted as a cluster's pending tasks: started, not yet running.
    var isPending: Bool { self == .provisioning || self == .pending || self == .activating }
}

/// A cluster's status, a string in the model.
enum ClusterStatus: String, Sendable {
    case active = "ACTIVE"
    case provisioning = "PROVISIONING"
    case deprovisioning = "DEPROVISIONING"
    case failed = "FAILED"
    case inactive = "INACTIVE"
}

extension ECSAPI.Task {
    var lastTaskStatus: TaskStatus? {
        get { lastStatus.flatMap(TaskStatus.init(rawValue:)) }
        set { lastStatus = newValue?.rawValue }
    }

    var desiredTaskStatus: TaskStatus? {
        get { desiredStatus.flatMap(TaskStatus.init(rawValue:)) }
        set { desiredStatus = newValue?.rawValue }
    }
}

extension ECSAPI.Container {
    var lastContainerStatus: TaskStatus? {
        get { lastStatus.flatMap(TaskStatus.init(rawValue:)) }
        set { lastStatus = newValue?.rawValue }
    }
}

extension ECSAPI.Cluster {
    var clusterStatus: ClusterStatus? {
        get { status.flatMap(ClusterStatus.init(rawValue:)) }
        set { status = newValue?.rawValue }
    }
}
