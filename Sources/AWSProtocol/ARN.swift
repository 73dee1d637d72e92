/// An Amazon Resource Name, `arn:partition:service:region:account-id:resource`: one reading and one writing of
/// it for every service, so that no service splits ARNs on colons in its own way. The resource part keeps its
/// own colons and slashes (`stateMachine:name:alias`, `task/cluster/id`, `log-group:name:*`).
public struct ARN: Hashable, Sendable, CustomStringConvertible {
    public var partition: String
    public var service: String
    /// Empty for global services (IAM) and for Step Functions' integration ARNs (`arn:aws:states:::ecs:runTask`).
    public var region: String
    public var account: String
    public var resource: String

    public init(partition: String = "aws", service: String, region: String, account: String, resource: String) {
        self.partition = partition
        self.service = service
        self.region = region
        self.account = account
        self.resource = resource
    }

    /// Reads `text` as an ARN; nil when it is none: not six colon-separated parts starting with `arn`, or no
    /// partition, service or resource.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0] == "arn", !parts[1].isEmpty, !parts[2].isEmpty, !parts[5].isEmpty else { return nil }
        self.init(
            partition: String(parts[1]), service: String(parts[2]), region: String(parts[3]), account: String(parts[4]),
            resource: String(parts[5]))
    }

    public var description: String {
        "arn:\(partition):\(service):\(region):\(account):\(resource)"
    }

    /// The resource's type: what precedes its first `/` or `:` (`task` of `task/cluster/id`, `stateMachine` of
    /// `stateMachine:name`), or the whole resource when it has neither.
    public var resourceType: Substring {
        resource.prefix { $0 != "/" && $0 != ":" }
    }

    /// The parts of the resource after its type, split on `separator` (`["cluster", "id"]` of
    /// `task/cluster/id` with "/"; `["name", "alias"]` of `stateMachine:name:alias` with ":").
    public func resourceParts(separatedBy separator: Character) -> [Substring] {
        let rest = resource.dropFirst(resourceType.count)
        guard !rest.isEmpty else { return [] }
        return rest.dropFirst().split(separator: separator, omittingEmptySubsequences: false)
    }
}
