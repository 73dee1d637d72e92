import AWSProtocol
import Foundation
import JSONCore
import LocalCloud
import TaskRunners

extension ECSService {
    public func runTask(_ input: ECSAPI.RunTaskRequest, context: RequestContext) async throws -> ECSAPI.RunTaskResponse {
        let count = input.count ?? 1
        guard (1...10).contains(count) else {
            throw ECSAPI.Errors.invalidParameterException("Count must be between 1 and 10.")
        }
        if let launchType = input.launchType, input.capacityProviderStrategy?.isEmpty == false {
            throw ECSAPI.Errors.invalidParameterException(
                "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again. (launchType: \(launchType))"
            )
        }
        let tasks = try await launch(
            clusterReference: input.cluster, taskDefinitionReference: input.taskDefinition, instances: Array(repeating: nil, count: count),
            overrides: input.overrides, launchType: input.launchType, startedBy: input.startedBy, group: input.group,
            tags: input.tags, enableExecuteCommand: input.enableExecuteCommand ?? false, propagateTags: input.propagateTags,
            platformVersion: input.platformVersion, networkConfiguration: input.networkConfiguration, context: context)
        return .init(tasks: tasks, failures: [])
    }

    /// StartTask places one task on each container instance named. The local machine stands in for every
    /// container instance: the task runs here and reports the instance it was given.
    public func startTask(_ input: ECSAPI.StartTaskRequest, context: RequestContext) async throws -> ECSAPI.StartTaskResponse {
        guard !input.containerInstances.isEmpty, input.containerInstances.count <= 10 else {
            throw ECSAPI.Errors.invalidParameterException("containerInstances must contain between 1 and 10 container instances.")
        }
        let tasks = try await launch(
            clusterReference: input.cluster, taskDefinitionReference: input.taskDefinition, instances: input.containerInstances,
            overrides: input.overrides, launchType: .ec2, startedBy: input.startedBy, group: input.group,
            tags: input.tags, enableExecuteCommand: input.enableExecuteCommand ?? false, propagateTags: input.propagateTags,
            platformVersion: nil, networkConfiguration: input.networkConfiguration, context: context)
        return .init(tasks: tasks, failures: [])
    }

    func launch(
        clusterReference: String?, taskDefinitionReference: String, instances: [String?], overrides: ECSAPI.TaskOverride?,
        launchType: ECSAPI.LaunchType?, startedBy: String?, group: String?, tags: [ECSAPI.Tag]?, enableExecuteCommand: Bool,
        propagateTags: ECSAPI.PropagateTags?, platformVersion: String?, networkConfiguration: ECSAPI.NetworkConfiguration?,
        context: RequestContext
    ) async throws -> [ECSAPI.Task] {
        let cluster = try await activeCluster(clusterReference, context: context)
        if let startedBy, startedBy.count > 128 {
            throw ECSAPI.Errors.invalidParameterException("startedBy must be at most 128 characters.")
        }
        let reference = try Self.taskDefinitionReference(taskDefinitionReference)
        guard
            let (definition, definitionTags) = try await store.taskDefinition(
                account: context.accountId, region: context.region, family: reference.family, revision: reference.revision)
        else {
            throw ECSAPI.Errors.invalidParameterException("TaskDefinition not found.")
        }
        guard definition.status == .active else {
            throw ECSAPI.Errors.invalidParameterException("TaskDefinition is inactive")
        }
        if definition.networkMode == .awsvpc {
            guard let vpc = networkConfiguration?.awsvpcConfiguration else {
                throw ECSAPI.Errors.invalidParameterException(
                    "Network Configuration must be provided when networkMode 'awsvpc' is specified.")
            }
            guard !vpc.subnets.isEmpty else {
                throw ECSAPI.Errors.invalidParameterException("subnets can not be empty.")
            }
        }
        let containers = definition.containerDefinitions ?? []
        for override in overrides?.containerOverrides ?? [] {
            guard let name = override.name, !name.isEmpty else {
                throw ECSAPI.Errors.invalidParameterException("Container Overrides must have a name.")
            }
            guard containers.contains(where: { $0.name == name }) else {
                throw ECSAPI.Errors.invalidParameterException(
                    "Override for container named \(name) is not a container in the TaskDefinition.")
            }
        }
        if let overrides, let memory = overrides.memory, Int(memory) == nil {
            throw ECSAPI.Errors.invalidParameterException("Invalid 'memory' setting in task overrides: \(memory)")
        }
        if let overrides, let cpu = overrides.cpu, Int(cpu) == nil {
            throw ECSAPI.Errors.invalidParameterException("Invalid 'cpu' setting in task overrides: \(cpu)")
        }
        try ECSStore.tagRules.check(ECSStore.resourceTags(tags ?? []))
        var taskTags = tags ?? []
        if propagateTags == .taskDefinition {
            taskTags += definitionTags.filter { tag in !taskTags.contains { $0.key == tag.key } }
        }
        let fargate = definition.requiresCompatibilities?.contains(.fargate) ?? false
        let resolvedLaunchType = launchType ?? (fargate ? .fargate : .ec2)
        let clusterName = cluster.clusterName ?? "default"
        var launched: [ECSAPI.Task] = []
        for instance in instances {
            let id = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
            let taskArn = context.arn(service: "ecs", resource: "task/\(clusterName)/\(id)")
            var task = ECSAPI.Task.empty
            task.taskArn = taskArn
            task.clusterArn = cluster.clusterArn
            task.taskDefinitionArn = definition.taskDefinitionArn
            task.containerInstanceArn = instance
            task.overrides = ECSAPI.TaskOverride(containerOverrides: overrides?.containerOverrides ?? [], inferenceAcceleratorOverrides: [])
            task.overrides?.cpu = overrides?.cpu
            task.overrides?.memory = overrides?.memory
            task.overrides?.taskRoleArn = overrides?.taskRoleArn
            task.overrides?.executionRoleArn = overrides?.executionRoleArn
            task.lastTaskStatus = .provisioning
            task.desiredTaskStatus = .running
            task.cpu = overrides?.cpu ?? definition.cpu
            task.memory = overrides?.memory ?? definition.memory
            task.createdAt = Date()
            task.startedBy = startedBy
            task.group = group ?? "family:\(definition.family ?? "")"
            task.launchType = resolvedLaunchType
            task.platformVersion = resolvedLaunchType == .fargate ? (platformVersion ?? "1.4.0") : nil
            task.platformFamily = resolvedLaunchType == .fargate ? "Linux" : nil
            task.availabilityZone = "\(context.region)a"
            task.connectivity = .connected
            task.connectivityAt = task.createdAt
            task.enableExecuteCommand = enableExecuteCommand
            task.healthStatus = .unknown
            task.attachments = definition.networkMode == .awsvpc ? [Self.networkInterface(networkConfiguration)] : []
            task.version = 1
            task.containers = containers.map { container in
                var shape = ECSAPI.Container.empty
                shape.containerArn = context.arn(service: "ecs", resource: "container/\(clusterName)/\(id)/\(RandomUUID.make())")
                shape.taskArn = taskArn
                shape.name = container.name
                shape.image = container.image
                shape.lastContainerStatus = .pending
                shape.networkInterfaces = []
                shape.healthStatus = .unknown
                shape.cpu = String(container.cpu ?? 0)
                shape.memory = container.memory.map(String.init)
                shape.memoryReservation = container.memoryReservation.map(String.init)
                return shape
            }
            try await store.saveTask(account: context.accountId, region: context.region, cluster: clusterName, task, tags: taskTags)
            launched.append(task)
        }
        for task in launched {
            await supervisor.start(task: task, cluster: clusterName, definition: definition, context: context)
        }
        // The tags are kept apart from the task (see ``ECSStore``); RunTask answers them with it.
        return launched.map { task in
            var tagged = task
            tagged.tags = taskTags
            return tagged
        }
    }

    /// The elastic network interface attachment of an awsvpc task, as DescribeTasks shows it. The task's process
    /// shares the host's network, so its address is the loopback address.
    static func networkInterface(_ configuration: ECSAPI.NetworkConfiguration?) -> ECSAPI.Attachment {
        var details: [ECSAPI.KeyValuePair] = []
        if let subnet = configuration?.awsvpcConfiguration?.subnets.first {
            details.append(ECSAPI.KeyValuePair(name: "subnetId", value: subnet))
        }
        details.append(ECSAPI.KeyValuePair(name: "privateIPv4Address", value: "127.0.0.1"))
        return ECSAPI.Attachment(id: RandomUUID.make(), type: "ElasticNetworkInterface", status: "ATTACHED", details: details)
    }

    public func stopTask(_ input: ECSAPI.StopTaskRequest, context: RequestContext) async throws -> ECSAPI.StopTaskResponse {
        let cluster = try await activeCluster(input.cluster, context: context)
        let clusterName = cluster.clusterName ?? "default"
        let id = Self.taskId(fromArn: input.task)
        guard let task = try await store.task(account: context.accountId, region: context.region, cluster: clusterName, id: id) else {
            throw ECSAPI.Errors.invalidParameterException("The referenced task was not found.")
        }
        if let reason = input.reason, reason.count > 255 {
            throw ECSAPI.Errors.invalidParameterException("Reason must be at most 255 characters.")
        }
        guard task.lastTaskStatus != .stopped else { return .init(task: task) }
        let stopped = try await supervisor.stop(
            taskArn: task.taskArn ?? input.task, cluster: clusterName, reason: input.reason ?? "Task stopped by user", context: context)
        return .init(task: stopped)
    }

    public func describeTasks(_ input: ECSAPI.DescribeTasksRequest, context: RequestContext) async throws -> ECSAPI.DescribeTasksResponse {
        guard !input.tasks.isEmpty else { throw ECSAPI.Errors.invalidParameterException("Tasks cannot be empty.") }
        guard input.tasks.count <= 100 else { throw ECSAPI.Errors.invalidParameterException("Tasks cannot have more than 100 elements") }
        let cluster = try await activeCluster(input.cluster, context: context)
        let clusterName = cluster.clusterName ?? "default"
        let includeTags = (input.include ?? []).contains(.tags)
        var tasks: [ECSAPI.Task] = []
        var failures: [ECSAPI.Failure] = []
        for reference in input.tasks {
            let id = Self.taskId(fromArn: reference)
            if var task = try await store.task(account: context.accountId, region: context.region, cluster: clusterName, id: id) {
                task.tags = includeTags ? try await store.tags(arn: task.taskArn ?? "") : nil
                tasks.append(task)
            } else {
                let arn =
                    reference.hasPrefix("arn:") ? reference : context.arn(service: "ecs", resource: "task/\(clusterName)/\(reference)")
                failures.append(ECSAPI.Failure(arn: arn, reason: "MISSING"))
            }
        }
        return .init(tasks: tasks, failures: failures)
    }

    public func listTasks(_ input: ECSAPI.ListTasksRequest, context: RequestContext) async throws -> ECSAPI.ListTasksResponse {
        let cluster = try await activeCluster(input.cluster, context: context)
        if input.family != nil && input.serviceName != nil {
            throw ECSAPI.Errors.invalidParameterException("Family and serviceName cannot be specified together.")
        }
        // Tasks started by this local cloud never belong to a service or a daemon.
        if input.serviceName != nil || input.daemonName != nil { return .init(taskArns: [], nextToken: nil) }
        var tasks = try await store.taskArns(
            account: context.accountId, region: context.region, cluster: cluster.clusterName ?? "default", family: input.family,
            startedBy: input.startedBy, desiredStatus: (input.desiredStatus ?? .running).rawValue, launchType: input.launchType?.rawValue)
        if input.containerInstance != nil {
            var filtered: [(arn: String, created: Date)] = []
            for listed in tasks {
                if let task = try await store.task(
                    account: context.accountId, region: context.region, cluster: cluster.clusterName ?? "default",
                    id: Self.taskId(fromArn: listed.arn)),
                    task.containerInstanceArn == input.containerInstance
                {
                    filtered.append(listed)
                }
            }
            tasks = filtered
        }
        // Oldest first, then by ARN.
        let page = try Self.page(tasks, token: input.nextToken, maxResults: input.maxResults) { PageKey(PageKey.time($0.created), $0.arn) }
        return .init(taskArns: page.items.map(\.arn), nextToken: page.nextToken)
    }
}
