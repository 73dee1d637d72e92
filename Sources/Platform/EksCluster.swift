import OrderedCollections
import JSONCore

/// An EKS cluster with add-ons and managed node groups. Every version is a declared value, so an upgrade
/// (control plane one minor version at a time, then add-ons, then node groups) is a change of values.
public struct EksCluster: Construct {
    public struct Addon: Sendable {
        public var name: String
        public var version: String
        public init(_ name: String, version: String) {
            self.name = name
            self.version = version
        }
    }

    public struct NodeGroup: Sendable {
        public var name: String
        public var instanceTypes: [String]
        /// The EKS-optimized AMI release, e.g. `1.31.3-20250103`.
        public var releaseVersion: String
        public var minSize: Int, desiredSize: Int, maxSize: Int
        public var amiType: String
        public init(
            _ name: String, instanceTypes: [String], releaseVersion: String, minSize: Int = 2, desiredSize: Int = 2,
            maxSize: Int = 4, amiType: String = "AL2023_x86_64_STANDARD"
        ) {
            self.name = name
            self.instanceTypes = instanceTypes
            self.releaseVersion = releaseVersion
            self.minSize = minSize
            self.desiredSize = desiredSize
            self.maxSize = maxSize
            self.amiType = amiType
        }
    }

    public var name: String
    public var version: String
    public var addons: [Addon]
    public var nodeGroups: [NodeGroup]
    public var network: Network
    /// Keep the API endpoint private (reachable only from the VPC); on by default.
    public var privateEndpointOnly: Bool

    public init(
        _ name: String, version: String, addons: [Addon], nodeGroups: [NodeGroup], network: Network,
        privateEndpointOnly: Bool = true
    ) {
        self.name = name
        self.version = version
        self.addons = addons
        self.nodeGroups = nodeGroups
        self.network = network
        self.privateEndpointOnly = privateEndpointOnly
    }

    /// Node groups must run the control plane's minor version (`1.31` → release `1.31.x-...`), add-on versions
    /// look like `v1.19.2-eksbuild.1`: the checks an upgrade's version bump most often misses.
    public func validate() throws(SynthesisError) {
        let parts = version.split(separator: ".")
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) }) else {
            throw SynthesisError("EKS cluster \(name): version \"\(version)\" is not MAJOR.MINOR like 1.31")
        }
        for g in nodeGroups where !g.releaseVersion.hasPrefix(version + ".") {
            throw SynthesisError("EKS cluster \(name): node group \(g.name) release \(g.releaseVersion) is not for Kubernetes \(version)")
        }
        for a in addons where !(a.version.hasPrefix("v") && a.version.contains("-eksbuild.")) {
            throw SynthesisError("EKS cluster \(name): add-on \(a.name) version \"\(a.version)\" is not like v1.19.2-eksbuild.1")
        }
    }

    public var prefix: String { logicalIdPart(name) }
    public var clusterId: String { prefix + "Cluster" }

    public var parts: StackParts {
        var p = StackParts()
        p.resources.append(
            role(
                prefix + "ClusterRole", service: "eks.amazonaws.com", policies: [],
                managedPolicies: ["AmazonEKSClusterPolicy"]))
        p.resources.append(
            role(
                prefix + "NodeRole", service: "ec2.amazonaws.com", policies: [],
                managedPolicies: ["AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly", "AmazonEKS_CNI_Policy"]))
        p.resources.append(
            Resource(
                clusterId, type: "AWS::EKS::Cluster",
                properties: [
                    "Name": .string(name),
                    "Version": .string(version),
                    "RoleArn": Fn.getAtt(prefix + "ClusterRole", "Arn"),
                    "ResourcesVpcConfig": [
                        "SubnetIds": network.privateSubnets,
                        "EndpointPrivateAccess": true,
                        "EndpointPublicAccess": .bool(!privateEndpointOnly),
                    ],
                    "AccessConfig": ["AuthenticationMode": "API", "BootstrapClusterCreatorAdminPermissions": true],
                    "Logging": [
                        "ClusterLogging": [
                            "EnabledTypes": [
                                ["Type": "api"], ["Type": "audit"], ["Type": "authenticator"], ["Type": "controllerManager"],
                                ["Type": "scheduler"],
                            ]
                        ]
                    ],
                ]))
        var nodeGroupIds: [String] = []
        for g in nodeGroups {
            let id = prefix + "NodeGroup" + logicalIdPart(g.name)
            nodeGroupIds.append(id)
            p.resources.append(
                Resource(
                    id, type: "AWS::EKS::Nodegroup",
                    properties: [
                        "ClusterName": Fn.ref(clusterId),
                        "NodegroupName": .string(g.name),
                        "NodeRole": Fn.getAtt(prefix + "NodeRole", "Arn"),
                        "Subnets": network.privateSubnets,
                        "AmiType": .string(g.amiType),
                        "InstanceTypes": .array(g.instanceTypes.map(JSON.string)),
                        "Version": .string(version),
                        "ReleaseVersion": .string(g.releaseVersion),
                        "ScalingConfig": [
                            "MinSize": .number(Double(g.minSize)), "DesiredSize": .number(Double(g.desiredSize)),
                            "MaxSize": .number(Double(g.maxSize)),
                        ],
                        "UpdateConfig": ["MaxUnavailable": 1],
                    ]))
        }
        for a in addons {
            // Add-ons like coredns need nodes to become active, so they follow the node groups.
            p.resources.append(
                Resource(
                    prefix + "Addon" + logicalIdPart(a.name), type: "AWS::EKS::Addon",
                    properties: [
                        "ClusterName": Fn.ref(clusterId),
                        "AddonName": .string(a.name),
                        "AddonVersion": .string(a.version),
                        "ResolveConflicts": "OVERWRITE",
                    ], dependsOn: nodeGroupIds))
        }
        p.outputs.append(Output(prefix + "ClusterName", value: Fn.ref(clusterId)))
        p.outputs.append(Output(prefix + "ClusterVersion", value: .string(version)))
        return p
    }
}
