import AWSProtocol
import Foundation
import GRDB
import JSONCore
import LocalCloud
import TaskRunners

/// Amazon Elastic Container Service: clusters, task definitions and tasks that really run, through a
/// ``TaskRunner`` (local processes by default), with their output in CloudWatch Logs and their state changes
/// on EventBridge.
public struct ECSService: LocalService, ECSAPIHandler {
    let store: ECSStore
    let environment: ServiceEnvironment
    let supervisor: TaskSupervisor

    public init(environment: ServiceEnvironment, runner: any TaskRunner) {
        self.environment = environment
        self.store = ECSStore(database: environment.database)
        self.supervisor = TaskSupervisor(store: store, runner: runner, environment: environment)
    }

    public var descriptor: ServiceDescriptor { ECSAPI.descriptor }

    public func handle(operation: String, request: OperationRequest, context: RequestContext) async throws -> OperationResponse {
        // ExecuteCommand's stream URL names the host the client reached the local cloud at.
        if operation == "ExecuteCommand" {
            return try await Self.$requestHost.withValue(request.headers["host"]) {
                try await ECSAPI.dispatch(self, operation: operation, request: request, context: context)
            }
        }
        return try await ECSAPI.dispatch(self, operation: operation, request: request, context: context)
    }

    public func registerMigrations(_ migrator: inout DatabaseMigrator) {
        ECSStore.registerMigrations(&migrator)
    }

    /// Tasks that were under way when the server last stopped have no process any more: they end STOPPED.
    /// At shutdown, running tasks are stopped (SIGTERM, then SIGKILL after their stop timeout) and recorded.
    public func run() async throws {
        await supervisor.reconcileAfterRestart()
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(3600))
        }
        // Outside the cancelled task: the database refuses work from a cancelled task.
        let supervisor = self.supervisor
        await Task { await supervisor.shutdown() }.value
    }

    /// Skiff's own endpoints of ECS, for `skiff exec` (signed as API calls; tasks are looked for in the caller's account):
    /// - `POST /_skiff/ecs/exec` with `{"task": ARN or id, "container": name?, "command": [...], "timeoutSeconds": n?}`
    ///   runs the command and answers `{"exitCode", "stdout", "stderr"}`;
    /// - `POST /_skiff/ecs/sessions` starts an interactive session (``startSession(_:context:)``);
    /// - `GET /_skiff/ecs/sessions/<id>` is a session's data channel, a WebSocket (``connectSession(_:)``).
    public func control(_ request: OperationRequest, path: String, context: RequestContext) async throws -> OperationResponse? {
        if path == "sessions" { return try await startSession(request, context: context) }
        if path.hasPrefix("sessions/") { return connectSession(String(path.dropFirst("sessions/".count))) }
        guard path == "exec" else { return nil }
        guard request.method == "POST" else {
            return .json(["message": "Use POST."], status: 405, contentType: "application/json")
        }
        let body = try JSON(parsing: request.body)
        guard let task = body["task"]?.stringValue, !task.isEmpty,
            let command = body["command"]?.arrayValue?.compactMap(\.stringValue), !command.isEmpty
        else {
            return .json(
                ["message": "The body must name a task and a non-empty command array."], status: 400, contentType: "application/json")
        }
        do {
            let result = try await supervisor.exec(
                task: task, account: context.accountId, container: body["container"]?.stringValue, command: command,
                timeoutSeconds: max(1, min(body["timeoutSeconds"]?.intValue ?? 300, 86_400)))
            return .json(
                [
                    "exitCode": .number(Double(result.exitCode)), "stdout": .string(result.output), "stderr": .string(result.errorOutput),
                ], contentType: "application/json")
        } catch let error as TaskSupervisor.ExecError {
            return Self.answer(error)
        }
    }

    static func answer(_ error: TaskSupervisor.ExecError) -> OperationResponse {
        let status: Int
        switch error {
        case .notRunning, .noContainer: status = 404;
        case .failed: status = 422
        }
        return .json(["message": .string(error.description)], status: status, contentType: "application/json")
    }

    /// `skiff exec`: runs a command in a running task's environment (see ``TaskSupervisor/exec``).
    public var tasks: TaskSupervisor { supervisor }

    // MARK: Names and ARNs

    static func clusterName(_ reference: String?) -> String {
        guard let reference, !reference.isEmpty else { return "default" }
        if reference.hasPrefix("arn:"), let slash = reference.lastIndex(of: "/") {
            return String(reference[reference.index(after: slash)...])
        }
        return reference
    }

    static func clusterArn(_ name: String, context: RequestContext) -> String {
        context.arn(service: "ecs", resource: "cluster/\(name)")
    }

    static func taskId(fromArn reference: String) -> String {
        reference.split(separator: "/").last.map(String.init) ?? reference
    }

    static func family(fromArn reference: String) -> String {
        let last = reference.split(separator: "/").last.map(String.init) ?? reference
        return last.split(separator: ":").first.map(String.init) ?? last
    }

    static func clusterNotFound() -> AWSError { ECSAPI.Errors.clusterNotFoundException("Cluster not found.") }

    /// The ACTIVE cluster a request names (`default` when it names none).
    func activeCluster(_ reference: String?, context: RequestContext) async throws -> ECSAPI.Cluster {
        let name = Self.clusterName(reference)
        guard let cluster = try await store.cluster(account: context.accountId, region: context.region, name: name),
            cluster.clusterStatus == .active
        else {
            throw Self.clusterNotFound()
        }
        return cluster
    }

    /// Parses `family`, `family:revision` or a task definition ARN.
    static func taskDefinitionReference(_ reference: String) throws -> (family: String, revision: Int?) {
        var text = reference
        if text.hasPrefix("arn:") {
            guard let slash = text.range(of: ":task-definition/") else {
                throw ECSAPI.Errors.invalidParameterException("Invalid task definition ARN: \(reference)")
            }
            text = String(text[slash.upperBound...])
        }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard let family = parts.first, !family.isEmpty, parts.count <= 2 else {
            throw ECSAPI.Errors.clientException("Unable to describe task definition.")
        }
        if parts.count == 2 {
            guard let revision = Int(parts[1]), revision > 0 else {
                throw ECSAPI.Errors.invalidParameterException("Invalid revision number. Number: \(parts[1])")
            }
            return (String(family), revision)
        }
        return (String(family), nil)
    }

    /// The pages of the list operations.
    static let pages = Paginator(invalidToken: ECSAPI.Errors.invalidParameterException("Invalid nextToken."))

    /// One page of a list operation, whose `maxResults` ECS takes from 1 to 100.
    static func page<T>(
        _ items: [T], token: String?, maxResults: Int?, descending: Bool = false, key: (T) -> PageKey
    ) throws -> Page<T> {
        if let maxResults, !(1...100).contains(maxResults) {
            throw ECSAPI.Errors.invalidParameterException("maxResults must be between 1 and 100.")
        }
        return try pages.page(items, maxResults: maxResults, nextToken: token, descending: descending, key: key)
    }

    // MARK: Clusters

    public func createCluster(_ input: ECSAPI.CreateClusterRequest, context: RequestContext) async throws -> ECSAPI.CreateClusterResponse {
        let name = input.clusterName ?? "default"
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
        guard !name.isEmpty, name.count <= 255, name.allSatisfy({ allowed.contains($0) }) else {
            throw ECSAPI.Errors.invalidParameterException(
                "Cluster name can have up to 255 characters. Valid characters are letters (uppercase and lowercase), numbers, underscores and hyphens."
            )
        }
        if let existing = try await store.cluster(account: context.accountId, region: context.region, name: name),
            existing.clusterStatus == .active
        {
            return .init(cluster: try await withCounts(existing, context: context))
        }
        var cluster = ECSAPI.Cluster.empty
        cluster.clusterArn = Self.clusterArn(name, context: context)
        cluster.clusterName = name
        cluster.clusterStatus = .active
        cluster.tags = input.tags ?? []
        cluster.settings = input.settings ?? [ECSAPI.ClusterSetting(name: .containerInsights, value: "disabled")]
        cluster.configuration = input.configuration
        cluster.capacityProviders = input.capacityProviders ?? []
        cluster.defaultCapacityProviderStrategy = input.defaultCapacityProviderStrategy ?? []
        cluster.registeredContainerInstancesCount = 0
        cluster.runningTasksCount = 0
        cluster.pendingTasksCount = 0
        cluster.activeServicesCount = 0
        cluster.statistics = []
        try await store.saveCluster(account: context.accountId, region: context.region, cluster, tags: cluster.tags)
        return .init(cluster: cluster)
    }

    func withCounts(
        _ cluster: ECSAPI.Cluster, context: RequestContext, include: [ECSAPI.ClusterField] = [.tags, .settings]
    ) async throws -> ECSAPI.Cluster {
        var cluster = cluster
        let counts = try await store.taskCounts(account: context.accountId, region: context.region, cluster: cluster.clusterName ?? "")
        cluster.runningTasksCount = counts.running
        cluster.pendingTasksCount = counts.pending
        cluster.tags = include.contains(.tags) ? try await store.tags(arn: cluster.clusterArn ?? "") : nil
        if !include.contains(.settings) { cluster.settings = nil }
        if include.contains(.statistics) {
            cluster.statistics = [
                ECSAPI.KeyValuePair(name: "runningFargateTasksCount", value: String(counts.running)),
                ECSAPI.KeyValuePair(name: "pendingFargateTasksCount", value: String(counts.pending)),
            ]
        }
        return cluster
    }

    public func deleteCluster(_ input: ECSAPI.DeleteClusterRequest, context: RequestContext) async throws -> ECSAPI.DeleteClusterResponse {
        var cluster = try await activeCluster(input.cluster, context: context)
        let counts = try await store.taskCounts(account: context.accountId, region: context.region, cluster: cluster.clusterName ?? "")
        guard counts.active == 0 else {
            throw ECSAPI.Errors.clusterContainsTasksException("The Cluster cannot be deleted while Tasks are active.")
        }
        cluster.clusterStatus = .inactive
        try await store.saveCluster(account: context.accountId, region: context.region, cluster)
        cluster.tags = try await store.tags(arn: cluster.clusterArn ?? "")
        return .init(cluster: cluster)
    }

    public func describeClusters(
        _ input: ECSAPI.DescribeClustersRequest, context: RequestContext
    ) async throws -> ECSAPI.DescribeClustersResponse {
        let references = input.clusters ?? ["default"]
        guard references.count <= 100 else {
            throw ECSAPI.Errors.invalidParameterException("Clusters cannot have more than 100 elements")
        }
        let include = input.include ?? []
        var clusters: [ECSAPI.Cluster] = []
        var failures: [ECSAPI.Failure] = []
        for reference in references {
            let name = Self.clusterName(reference)
            if let cluster = try await store.cluster(account: context.accountId, region: context.region, name: name) {
                clusters.append(try await withCounts(cluster, context: context, include: include))
            } else {
                failures.append(ECSAPI.Failure(arn: Self.clusterArn(name, context: context), reason: "MISSING"))
            }
        }
        return .init(clusters: clusters, failures: failures)
    }

    public func listClusters(_ input: ECSAPI.ListClustersRequest, context: RequestContext) async throws -> ECSAPI.ListClustersResponse {
        let names = try await store.activeClusterNames(account: context.accountId, region: context.region)
        let page = try Self.page(names, token: input.nextToken, maxResults: input.maxResults) { PageKey($0) }
        return .init(clusterArns: page.items.map { Self.clusterArn($0, context: context) }, nextToken: page.nextToken)
    }

    // MARK: Task definitions

    public func registerTaskDefinition(
        _ input: ECSAPI.RegisterTaskDefinitionRequest, context: RequestContext
    ) async throws -> ECSAPI.RegisterTaskDefinitionResponse {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
        guard !input.family.isEmpty, input.family.count <= 255, input.family.allSatisfy({ allowed.contains($0) }) else {
            throw ECSAPI.Errors.clientException(
                "Family contains invalid characters. Up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores are allowed."
            )
        }
        guard !input.containerDefinitions.isEmpty else {
            throw ECSAPI.Errors.clientException("Container list cannot be empty.")
        }
        let fargate = input.requiresCompatibilities?.contains(.fargate) ?? false
        if fargate {
            guard input.cpu != nil else { throw ECSAPI.Errors.clientException("Fargate requires that 'cpu' be defined at the task level.") }
            guard input.memory != nil else {
                throw ECSAPI.Errors.clientException("Fargate requires that 'memory' be defined at the task level.")
            }
            if let mode = input.networkMode, mode != .awsvpc {
                throw ECSAPI.Errors.clientException("Fargate only supports network mode \u{2018}awsvpc\u{2019}.")
            }
        }
        var names = Set<String>()
        for container in input.containerDefinitions {
            guard let name = container.name, !name.isEmpty else {
                throw ECSAPI.Errors.clientException("Container.name should not be null or empty.")
            }
            guard let image = container.image, !image.isEmpty else {
                throw ECSAPI.Errors.clientException("Container.image should not be null or empty.")
            }
            guard names.insert(name).inserted else {
                throw ECSAPI.Errors.clientException(
                    "Duplicate container name found: \(name). Container names must be unique within a task definition.")
            }
            if input.memory == nil && container.memory == nil && container.memoryReservation == nil {
                throw ECSAPI.Errors.clientException(
                    "Invalid setting for container '\(name)'. At least one of 'memory' or 'memoryReservation' must be specified.")
            }
            if let memory = container.memory, let reservation = container.memoryReservation, reservation > memory {
                throw ECSAPI.Errors.clientException(
                    "Invalid setting for container '\(name)'. The memory reservation must be less than or equal to the memory limit.")
            }
            if let log = container.logConfiguration, log.logDriver == .awslogs {
                guard let group = log.options?["awslogs-group"], !group.isEmpty else {
                    throw ECSAPI.Errors.clientException("Log driver awslogs option 'awslogs-group' should not be null or empty.")
                }
                if fargate && (log.options?["awslogs-stream-prefix"] ?? "").isEmpty {
                    throw ECSAPI.Errors.clientException("Log driver awslogs requires options: awslogs-stream-prefix")
                }
            }
        }
        if !input.containerDefinitions.contains(where: { $0.essential ?? true }) {
            throw ECSAPI.Errors.clientException("A task definition must have at least one essential container.")
        }
        let arnPrefix = context.arn(service: "ecs", resource: "task-definition/\(input.family)")
        let containers = input.containerDefinitions.map { container -> ECSAPI.ContainerDefinition in
            var container = container
            if container.essential == nil { container.essential = true }
            container.cpu = container.cpu ?? 0
            container.portMappings = container.portMappings ?? []
            container.environment = container.environment ?? []
            container.mountPoints = container.mountPoints ?? []
            container.volumesFrom = container.volumesFrom ?? []
            return container
        }
        let definition = try await store.registerTaskDefinition(
            account: context.accountId, region: context.region, family: input.family, tags: input.tags ?? []
        ) { revision in
            var definition = ECSAPI.TaskDefinition.empty
            definition.taskDefinitionArn = "\(arnPrefix):\(revision)"
            definition.containerDefinitions = containers
            definition.family = input.family
            definition.taskRoleArn = input.taskRoleArn
            definition.executionRoleArn = input.executionRoleArn
            definition.networkMode = input.networkMode ?? (fargate ? .awsvpc : .bridge)
            definition.revision = revision
            definition.volumes = input.volumes ?? []
            definition.status = .active
            definition.placementConstraints = input.placementConstraints ?? []
            definition.compatibilities = fargate ? [.ec2, .fargate] : [.external, .ec2]
            definition.requiresCompatibilities = input.requiresCompatibilities
            definition.runtimePlatform = input.runtimePlatform
            definition.cpu = input.cpu
            definition.memory = input.memory
            definition.pidMode = input.pidMode
            definition.ipcMode = input.ipcMode
            definition.ephemeralStorage = input.ephemeralStorage
            definition.registeredAt = Date()
            definition.registeredBy =
                context.accessKeyId.isEmpty
                ? context.arn(service: "iam", resource: "root", global: true)
                : context.arn(service: "iam", resource: "user/\(context.accessKeyId)", global: true)
            definition.enableFaultInjection = input.enableFaultInjection ?? false
            return definition
        }
        return .init(taskDefinition: definition, tags: input.tags ?? [])
    }

    /// The task definition a request names; `family` alone means its latest ACTIVE revision.
    func taskDefinition(_ reference: String, context: RequestContext) async throws -> (ECSAPI.TaskDefinition, [ECSAPI.Tag])? {
        let (family, revision) = try Self.taskDefinitionReference(reference)
        return try await store.taskDefinition(account: context.accountId, region: context.region, family: family, revision: revision)
    }

    public func deregisterTaskDefinition(
        _ input: ECSAPI.DeregisterTaskDefinitionRequest, context: RequestContext
    ) async throws -> ECSAPI.DeregisterTaskDefinitionResponse {
        let (family, revision) = try Self.taskDefinitionReference(input.taskDefinition)
        guard let revision else { throw ECSAPI.Errors.clientException("Revision is missing.") }
        guard
            var (definition, _) = try await store.taskDefinition(
                account: context.accountId, region: context.region, family: family, revision: revision)
        else {
            throw ECSAPI.Errors.clientException("The specified task definition does not exist.")
        }
        if definition.status != .inactive {
            definition.status = .inactive
            definition.deregisteredAt = Date()
            try await store.updateTaskDefinition(account: context.accountId, region: context.region, definition)
        }
        return .init(taskDefinition: definition)
    }

    public func describeTaskDefinition(
        _ input: ECSAPI.DescribeTaskDefinitionRequest, context: RequestContext
    ) async throws -> ECSAPI.DescribeTaskDefinitionResponse {
        guard let (definition, tags) = try await taskDefinition(input.taskDefinition, context: context) else {
            throw ECSAPI.Errors.clientException("Unable to describe task definition.")
        }
        return .init(taskDefinition: definition, tags: (input.include ?? []).contains(.tags) ? tags : nil)
    }

    public func listTaskDefinitions(
        _ input: ECSAPI.ListTaskDefinitionsRequest, context: RequestContext
    ) async throws -> ECSAPI.ListTaskDefinitionsResponse {
        let rows = try await store.taskDefinitionArns(
            account: context.accountId, region: context.region, familyPrefix: nil, exactFamily: input.familyPrefix,
            status: (input.status ?? .active).rawValue, descending: input.sort == .desc)
        let page = try Self.page(rows, token: input.nextToken, maxResults: input.maxResults, descending: input.sort == .desc) {
            PageKey($0.family, PageKey.number($0.revision))
        }
        return .init(
            taskDefinitionArns: page.items.map { context.arn(service: "ecs", resource: "task-definition/\($0.family):\($0.revision)") },
            nextToken: page.nextToken)
    }

    public func listTaskDefinitionFamilies(
        _ input: ECSAPI.ListTaskDefinitionFamiliesRequest, context: RequestContext
    ) async throws -> ECSAPI.ListTaskDefinitionFamiliesResponse {
        let families = try await store.families(
            account: context.accountId, region: context.region, prefix: input.familyPrefix, status: input.status ?? .all)
        let page = try Self.page(families, token: input.nextToken, maxResults: input.maxResults) { PageKey($0) }
        return .init(families: page.items, nextToken: page.nextToken)
    }

    // MARK: Tags

    /// The ARN, as ECS answers it, of the cluster, task definition or task of the caller's that `arn` names: the key
    /// of its tags.
    func taggedResource(_ arn: String, context: RequestContext) async throws -> String {
        guard let parsed = ARN(arn), parsed.service == "ecs" else {
            throw ECSAPI.Errors.invalidParameterException("The ARN provided is invalid.")
        }
        let resource = parsed.resource
        let notFound = ECSAPI.Errors.resourceNotFoundException("The specified resource could not be found.")
        if resource.hasPrefix("cluster/") {
            guard
                let cluster = try await store.cluster(
                    account: context.accountId, region: context.region, name: String(resource.dropFirst(8))),
                cluster.clusterStatus == .active, let arn = cluster.clusterArn
            else { throw notFound }
            return arn
        }
        if resource.hasPrefix("task-definition/") {
            guard let (definition, _) = try await taskDefinition(arn, context: context), let arn = definition.taskDefinitionArn else {
                throw notFound
            }
            return arn
        }
        if resource.hasPrefix("task/") {
            let pieces = resource.split(separator: "/")
            guard pieces.count == 3,
                let task = try await store.task(
                    account: context.accountId, region: context.region, cluster: String(pieces[1]), id: String(pieces[2])),
                let arn = task.taskArn
            else {
                throw notFound
            }
            return arn
        }
        throw ECSAPI.Errors.invalidParameterException("The ARN provided is invalid.")
    }

    public func tagResource(_ input: ECSAPI.TagResourceRequest, context: RequestContext) async throws -> ECSAPI.TagResourceResponse {
        try ECSStore.tagRules.check(ECSStore.resourceTags(input.tags))
        try await store.addTags(arn: try await taggedResource(input.resourceArn, context: context), input.tags)
        return .init()
    }

    public func untagResource(_ input: ECSAPI.UntagResourceRequest, context: RequestContext) async throws -> ECSAPI.UntagResourceResponse {
        try await store.removeTags(arn: try await taggedResource(input.resourceArn, context: context), keys: input.tagKeys)
        return .init()
    }

    public func listTagsForResource(
        _ input: ECSAPI.ListTagsForResourceRequest, context: RequestContext
    ) async throws -> ECSAPI.ListTagsForResourceResponse {
        .init(tags: try await store.tags(arn: try await taggedResource(input.resourceArn, context: context)))
    }
}
