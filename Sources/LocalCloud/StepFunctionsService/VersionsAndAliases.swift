import AWSProtocol
import Foundation
import JSONCore
import LocalCloud

/// Published versions (immutable snapshots of a state machine, `…:stateMachine:name:3`) and aliases
/// (`…:stateMachine:name:prod`, routing executions to one or two versions by weight).
extension StepFunctionsService {
    /// What a state machine ARN names: the machine itself, one of its versions, or one of its aliases.
    enum MachineQualifier: Equatable {
        case none
        case version(Int)
        case alias(String)
    }

    /// Splits `arn:aws:states:region:account:stateMachine:name[:qualifier]`.
    static func splitMachineArn(_ arn: String) throws -> (machineArn: String, qualifier: MachineQualifier) {
        // Every request on a machine splits its ARN: the colons are found in one pass over the bytes, and the
        // machine's ARN is the ARN itself unless it is qualified (no split into strings, no join).
        let bytes = arn.utf8
        var colons = 0
        var typeStart = bytes.startIndex, nameStart = typeStart, qualifierColon = bytes.endIndex
        for index in bytes.indices where bytes[index] == UInt8(ascii: ":") {
            colons += 1
            switch colons {
            case 5: typeStart = bytes.index(after: index)
            case 6: nameStart = bytes.index(after: index)
            case 7: qualifierColon = index
            default: break
            }
        }
        guard arn.hasPrefix("arn:aws:states:"), colons == 6 || colons == 7,
            bytes[typeStart..<bytes.index(before: nameStart)].elementsEqual("stateMachine".utf8),
            nameStart < qualifierColon
        else {
            throw SFNAPI.Errors.invalidArn("Invalid Arn: 'Resource type not valid in this context: \(arn)'")
        }
        guard colons == 7 else { return (arn, .none) }
        let machineArn = String(arn[..<qualifierColon])
        let qualifier = arn[bytes.index(after: qualifierColon)...]
        if let number = Int(qualifier), number > 0 { return (machineArn, .version(number)) }
        return (machineArn, .alias(String(qualifier)))
    }

    /// What an execution of a state machine ARN runs.
    struct ExecutionTarget {
        var machine: StepFunctionsStore.Machine
        var definition: String
        var roleArn: String
        var versionArn: String?
        var aliasArn: String?
        var revisionId: String
    }

    /// The definition an execution of `arn` runs: the machine's current one, a version's, or the version an
    /// alias routes this execution to. A machine being deleted starts no execution.
    func resolveForExecution(_ arn: String, _ context: RequestContext) async throws -> ExecutionTarget {
        let (machineArn, qualifier) = try Self.splitMachineArn(arn)
        let machine = try await requireMachine(machineArn, context)
        if machine.status == .deleting {
            throw SFNAPI.Errors.stateMachineDeleting("State Machine is being deleted: '\(machineArn)'")
        }
        switch qualifier {
        case .none:
            return ExecutionTarget(
                machine: machine, definition: machine.definition, roleArn: machine.roleArn, revisionId: machine.revisionId)
        case .version:
            let version = try await requireVersion(arn, context, missing: .machine)
            return ExecutionTarget(
                machine: machine, definition: version.definition, roleArn: version.roleArn, versionArn: version.arn,
                revisionId: version.revisionId)
        case .alias:
            let alias = try await requireAlias(arn, context, missing: .machine)
            let versionArn = Self.route(alias.routing)
            let version = try await requireVersion(versionArn, context, missing: .machine)
            return ExecutionTarget(
                machine: machine, definition: version.definition, roleArn: version.roleArn, versionArn: version.arn,
                aliasArn: alias.arn, revisionId: version.revisionId)
        }
    }

    /// The error a missing version or alias is: operations on state machines (DescribeStateMachine,
    /// StartExecution) answer StateMachineDoesNotExist, as their error lists have no ResourceNotFound; the
    /// version and alias operations answer ResourceNotFound.
    enum MissingQualified { case machine, resource }

    func missing(_ arn: String, _ kind: MissingQualified) -> AWSError {
        switch kind {
        case .machine: SFNAPI.Errors.stateMachineDoesNotExist("State Machine Does Not Exist: '\(arn)'")
        case .resource: SFNAPI.Errors.resourceNotFound("Resource not found: '\(arn)'")
        }
    }

    /// Picks a version by the routing weights.
    static func route(_ routing: [(String, Int)]) -> String {
        var roll = Int.random(in: 0..<100)
        for (arn, weight) in routing {
            if roll < weight { return arn }
            roll -= weight
        }
        return routing.last?.0 ?? ""
    }

    /// A version of the caller's account and region.
    func requireVersion(
        _ arn: String, _ context: RequestContext, missing kind: MissingQualified = .resource
    ) async throws -> StepFunctionsStore.Version {
        guard Self.isOwn(arn, context), let version = try await store.version(arn) else { throw missing(arn, kind) }
        return version
    }

    /// An alias of the caller's account and region.
    func requireAlias(
        _ arn: String, _ context: RequestContext, missing kind: MissingQualified = .resource
    ) async throws -> StepFunctionsStore.Alias {
        guard Self.isOwn(arn, context), let alias = try await store.alias(arn) else { throw missing(arn, kind) }
        return alias
    }

    // MARK: Versions

    public func publishStateMachineVersion(
        _ input: SFNAPI.PublishStateMachineVersionInput, context: RequestContext
    ) async throws -> SFNAPI.PublishStateMachineVersionOutput {
        let machine = try await requireMachine(input.stateMachineArn, context)
        let version = try await publish(machine, revisionId: input.revisionId, description: input.description)
        return .init(creationDate: version.created, stateMachineVersionArn: version.arn)
    }

    /// Publishes the machine's current revision, or answers the version already published from it (as AWS,
    /// publishing an unchanged revision twice is idempotent).
    func publish(
        _ machine: StepFunctionsStore.Machine, revisionId: String?, description: String?
    ) async throws -> StepFunctionsStore.Version {
        if let revisionId, revisionId != machine.revisionId {
            throw SFNAPI.Errors.conflictException(
                "Failed to publish the State Machine version: the revision ID \(revisionId) is not the current revision \(machine.revisionId)."
            )
        }
        if let latest = try await store.versions(of: machine.arn).first, latest.revisionId == machine.revisionId {
            if let description, description != latest.description {
                throw SFNAPI.Errors.conflictException(
                    "Failed to publish the State Machine version: the current revision is already published as \(latest.arn) with another description."
                )
            }
            return latest
        }
        return try await store.publishVersion(of: machine, description: description, at: Date())
    }

    public func listStateMachineVersions(
        _ input: SFNAPI.ListStateMachineVersionsInput, context: RequestContext
    ) async throws -> SFNAPI.ListStateMachineVersionsOutput {
        let machine = try await requireMachine(input.stateMachineArn, context)
        // Newest version first.
        let versions = try await store.versions(of: machine.arn)
        let page = try Self.pages.page(versions, maxResults: input.maxResults, nextToken: input.nextToken, descending: true) {
            PageKey(PageKey.number($0.number))
        }
        return .init(
            stateMachineVersions: page.items.map { .init(stateMachineVersionArn: $0.arn, creationDate: $0.created) },
            nextToken: page.nextToken)
    }

    public func deleteStateMachineVersion(
        _ input: SFNAPI.DeleteStateMachineVersionInput, context: RequestContext
    ) async throws -> SFNAPI.DeleteStateMachineVersionOutput {
        let (machineArn, qualifier) = try Self.splitMachineArn(input.stateMachineVersionArn)
        guard case .version = qualifier else {
            throw SFNAPI.Errors.validationException("Invalid version ARN: '\(input.stateMachineVersionArn)'")
        }
        // Another account's or region's version is not the caller's to delete (deleting a missing one succeeds).
        guard Self.isOwn(input.stateMachineVersionArn, context) else { return .init() }
        for alias in try await store.aliases(of: machineArn) where alias.routing.contains(where: { $0.0 == input.stateMachineVersionArn }) {
            throw SFNAPI.Errors.conflictException(
                "Version to be deleted must not be referenced by an alias. Current list of aliases referencing this version: [\(alias.name)]"
            )
        }
        try await store.deleteVersion(input.stateMachineVersionArn)
        return .init()
    }

    // MARK: Aliases

    static let aliasNamePattern = try! NSRegularExpression(pattern: "^(?=.*[a-zA-Z_\\-\\.])[a-zA-Z0-9_\\-\\.]+$")

    /// Routing must name one or two distinct versions of the same machine, with weights adding up to 100.
    func validateRouting(
        _ routing: [SFNAPI.RoutingConfigurationListItem], machineArn: String, context: RequestContext
    ) async throws -> [(String, Int)] {
        guard (1...2).contains(routing.count) else {
            throw SFNAPI.Errors.validationException(
                "1 validation error detected: Value at 'routingConfiguration' failed to satisfy constraint: Member must have length between 1 and 2"
            )
        }
        if routing.count == 2 && routing[0].stateMachineVersionArn == routing[1].stateMachineVersionArn {
            throw SFNAPI.Errors.validationException("Routing configuration must contain distinct state machine version ARNs.")
        }
        guard routing.reduce(0, { $0 + $1.weight }) == 100 else {
            throw SFNAPI.Errors.validationException("Sum of routing configuration weights must be equal to 100.")
        }
        for item in routing {
            let (versionMachine, qualifier) = try Self.splitMachineArn(item.stateMachineVersionArn)
            guard case .version = qualifier, versionMachine == machineArn else {
                throw SFNAPI.Errors.validationException(
                    "Routing configuration must contain state machine version ARNs of one state machine: '\(item.stateMachineVersionArn)'")
            }
            _ = try await requireVersion(item.stateMachineVersionArn, context)
        }
        return routing.map { ($0.stateMachineVersionArn, $0.weight) }
    }

    public func createStateMachineAlias(
        _ input: SFNAPI.CreateStateMachineAliasInput, context: RequestContext
    ) async throws -> SFNAPI.CreateStateMachineAliasOutput {
        let name = input.name
        guard Self.aliasNamePattern.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)) != nil, name.count <= 80 else {
            throw SFNAPI.Errors.validationException(
                "Invalid alias name: '\(name)': an alias name has letters, digits, '-', '_' or '.', and not only digits.")
        }
        guard let first = input.routingConfiguration.first else {
            throw SFNAPI.Errors.validationException("Routing configuration must not be empty.")
        }
        let (machineArn, _) = try Self.splitMachineArn(first.stateMachineVersionArn)
        _ = try await requireMachine(machineArn, context)
        let routing = try await validateRouting(input.routingConfiguration, machineArn: machineArn, context: context)
        let arn = "\(machineArn):\(name)"
        if let existing = try await store.alias(arn) {
            // Idempotent with the same configuration, as AWS.
            let same =
                existing.description == input.description && existing.routing.map(\.0) == routing.map(\.0)
                && existing.routing.map(\.1) == routing.map(\.1)
            guard same else {
                throw SFNAPI.Errors.conflictException(
                    "Failed to create alias because an alias with the same name and a different routing configuration already exists.")
            }
            return .init(stateMachineAliasArn: arn, creationDate: existing.created)
        }
        let now = Date()
        try await store.save(
            .init(
                arn: arn, machineArn: machineArn, name: name, description: input.description, routing: routing, created: now, updated: now))
        return .init(stateMachineAliasArn: arn, creationDate: now)
    }

    public func describeStateMachineAlias(
        _ input: SFNAPI.DescribeStateMachineAliasInput, context: RequestContext
    ) async throws -> SFNAPI.DescribeStateMachineAliasOutput {
        let alias = try await requireAlias(input.stateMachineAliasArn, context)
        return .init(
            stateMachineAliasArn: alias.arn, name: alias.name, description: alias.description,
            routingConfiguration: alias.routing.map { .init(stateMachineVersionArn: $0.0, weight: $0.1) },
            creationDate: alias.created, updateDate: alias.updated)
    }

    /// The aliases of a state machine or, given a version ARN, the aliases that route to that version.
    public func listStateMachineAliases(
        _ input: SFNAPI.ListStateMachineAliasesInput, context: RequestContext
    ) async throws -> SFNAPI.ListStateMachineAliasesOutput {
        let (machineArn, qualifier) = try Self.splitMachineArn(input.stateMachineArn)
        let machine = try await requireMachine(machineArn, context)
        var aliases = try await store.aliases(of: machine.arn)
        switch qualifier {
        case .none: break
        case .version:
            _ = try await requireVersion(input.stateMachineArn, context)
            aliases = aliases.filter { $0.routing.contains { $0.0 == input.stateMachineArn } }
        case .alias:
            throw SFNAPI.Errors.invalidArn("Invalid Arn: 'Resource type not valid in this context: \(input.stateMachineArn)'")
        }
        let page = try Self.pages.page(aliases, maxResults: input.maxResults, nextToken: input.nextToken) {
            PageKey(PageKey.time($0.created), $0.name)
        }
        return .init(
            stateMachineAliases: page.items.map { .init(stateMachineAliasArn: $0.arn, creationDate: $0.created) }, nextToken: page.nextToken
        )
    }

    public func updateStateMachineAlias(
        _ input: SFNAPI.UpdateStateMachineAliasInput, context: RequestContext
    ) async throws -> SFNAPI.UpdateStateMachineAliasOutput {
        var alias = try await requireAlias(input.stateMachineAliasArn, context)
        guard input.description != nil || input.routingConfiguration != nil else {
            throw SFNAPI.Errors.validationException("Either the description or the RoutingConfiguration must be specified")
        }
        if let routing = input.routingConfiguration {
            alias.routing = try await validateRouting(routing, machineArn: alias.machineArn, context: context)
        }
        if let description = input.description { alias.description = description }
        alias.updated = Date()
        try await store.save(alias)
        return .init(updateDate: alias.updated)
    }

    public func deleteStateMachineAlias(
        _ input: SFNAPI.DeleteStateMachineAliasInput, context: RequestContext
    ) async throws -> SFNAPI.DeleteStateMachineAliasOutput {
        let (_, qualifier) = try Self.splitMachineArn(input.stateMachineAliasArn)
        guard case .alias = qualifier else { throw SFNAPI.Errors.validationException("Invalid alias ARN: '\(input.stateMachineAliasArn)'") }
        _ = try await requireAlias(input.stateMachineAliasArn, context)
        try await store.deleteAlias(input.stateMachineAliasArn)
        return .init()
    }
}
