import AWSProtocol
import JSONCore
import LocalCloudTesting
import Testing

@testable import LocalCloud

/// A small awsJson 1.0 service, to test the protocol path every JSON service takes.
struct EchoService: LocalService {
    struct EchoInput: ShapeDecodable {
        var name: String
        var count: Int?
        static var empty: EchoInput { EchoInput(name: "", count: nil) }
        init(name: String, count: Int?) {
            self.name = name
            self.count = count
        }
        init(json: JSON, decoder d: inout ShapeDecoder, path: String) throws(AWSError) {
            let o = try d.object(json, path: path)
            let rawName = try d.string(o["name"], path: "name")
            d.length(rawName, min: 1, max: 80, path: "name")
            name = d.required(rawName, path: "name", empty: "")
            count = try d.integer(o["count"], path: "count")
        }
    }

    var descriptor: ServiceDescriptor {
        ServiceDescriptor(
            endpointPrefix: "echo", signingName: "echo", targetPrefix: "Echo_20240101", wireProtocol: .awsJson1_0,
            apiVersion: "2024-01-01", xmlNamespace: nil, operations: ["Echo", "Other"], routes: [])
    }
    func handle(operation: String, request: OperationRequest, context: RequestContext) async throws -> OperationResponse {
        switch operation {
        case "Echo":
            let input = try ProtocolCodec.decode(EchoInput.self, from: request, descriptor: descriptor)
            if input.name == "missing" { throw AWSError("EchoNotFound", "No echo named missing.", status: 404) }
            return .json(
                ["name": .string(input.name), "account": .string(context.accountId), "region": .string(context.region)],
                contentType: descriptor.wireProtocol.contentType)
        default:
            throw descriptor.operations.contains(operation)
                ? AWSError.notImplemented(operation, service: "echo") : AWSError.unknownOperation(operation, service: "echo")
        }
    }
}

@Suite struct AWSJsonProtocolTests {
    func call(_ cloud: Cloud, _ operation: String, _ body: String) async -> (Int, JSON) {
        await cloud.awsJson(
            "Echo_20240101.\(operation)", body: Array(body.utf8), signedFor: "echo", contentType: "application/x-amz-json-1.0",
            key: "AKIDPROD", region: "eu-west-1")
    }

    @Test func routesByTargetAndResolvesAccountAndRegion() async throws {
        let cloud = try makeCloud([EchoService()])
        let (status, body) = await call(cloud, "Echo", #"{"name":"a"}"#)
        #expect(status == 200)
        #expect(body == ["name": "a", "account": "111111111111", "region": "eu-west-1"])
    }

    @Test func malformedJSONIsASerializationException() async throws {
        let cloud = try makeCloud([EchoService()])
        let (status, body) = await call(cloud, "Echo", #"{"name": "#)
        #expect(status == 400)
        #expect(body["__type"] == "SerializationException")
    }

    @Test func validationUsesAWSWording() async throws {
        let cloud = try makeCloud([EchoService()])
        let (status, body) = await call(cloud, "Echo", "{}")
        #expect(status == 400)
        #expect(
            body == [
                "__type": "ValidationException",
                "message": "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null",
            ])
    }

    @Test func awsJsonIsOnlyPostToTheRoot() async throws {
        let cloud = try makeCloud([EchoService()])
        let response = await cloud.respond(
            to: OperationRequest(
                method: "GET", path: "/whatever",
                headers: ["x-amz-target": "Echo_20240101.Echo", "content-type": "application/x-amz-json-1.0"],
                body: Array(#"{"name":"a"}"#.utf8)))
        #expect(response.status == 404)
        #expect(try JSON(parsing: response.body)["__type"] == "UnknownOperationException")
        // Errors met before routing are still written as the awsJson version the request speaks.
        #expect(response.headers.contains { $0 == ("Content-Type", "application/x-amz-json-1.0") })
    }

    @Test func modelErrorsTakeTheirModelStatus() async throws {
        let cloud = try makeCloud([EchoService()])
        let (status, body) = await call(cloud, "Echo", #"{"name":"missing"}"#)
        #expect(status == 404)
        #expect(body["__type"] == "EchoNotFound")
    }

    @Test func unimplementedAndUnknownOperations() async throws {
        let cloud = try makeCloud([EchoService()])
        let (status, body) = await call(cloud, "Other", "{}")
        #expect(status == 501)
        #expect(body["message"]?.stringValue?.contains("Other") == true)
        let (unknownStatus, unknown) = await call(cloud, "Nope", "{}")
        #expect(unknownStatus == 400)
        #expect(unknown["__type"] == "UnknownOperationException")
    }

    @Test func directoryInvokesOperationsInternally() async throws {
        let cloud = try makeCloud([EchoService()])
        let context = RequestContext(accountId: "222222222222", region: "ap-northeast-1", requestId: "r")
        let output = try await cloud.environment.directory.invoke("echo", operation: "Echo", input: ["name": "x"], context: context)
        #expect(output == ["name": "x", "account": "222222222222", "region": "ap-northeast-1"])
        await #expect { try await cloud.environment.directory.invoke("echo", operation: "Echo", input: [:], context: context) } throws: {
            ($0 as? AWSError)?.code == "ValidationException"
        }
    }
}
