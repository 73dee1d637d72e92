import AWSProtocol
import Testing

@Suite struct ARNTests {
    @Test func readsEveryPartAndKeepsTheResourcesColonsAndSlashes() throws {
        let alias = try #require(ARN("arn:aws:states:eu-west-1:123456789012:stateMachine:nightly:prod"))
        #expect(alias.partition == "aws")
        #expect(alias.service == "states")
        #expect(alias.region == "eu-west-1")
        #expect(alias.account == "123456789012")
        #expect(alias.resource == "stateMachine:nightly:prod")
        #expect(alias.resourceType == "stateMachine")
        #expect(alias.resourceParts(separatedBy: ":") == ["nightly", "prod"])
        let task = try #require(ARN("arn:aws:ecs:us-east-1:000000000000:task/default/0a1b"))
        #expect(task.resourceType == "task")
        #expect(task.resourceParts(separatedBy: "/") == ["default", "0a1b"])
        #expect(ARN("arn:aws:logs:us-east-1:000000000000:log-group:/aws/ecs/batch:*")?.resource == "log-group:/aws/ecs/batch:*")
    }

    @Test func writesWhatItReads() {
        for text in [
            "arn:aws:iam::000000000000:root", "arn:aws-cn:events:cn-north-1:000000000000:rule/bus/name",
            "arn:aws:states:::ecs:runTask.sync",
        ] {
            #expect(ARN(text)?.description == text)
        }
        #expect(
            ARN(service: "iam", region: "", account: "111111111111", resource: "user/ops").description
                == "arn:aws:iam::111111111111:user/ops")
        #expect(ARN("arn:aws:sqs:us-east-1:1:q")?.resourceParts(separatedBy: "/") == [])
    }

    @Test func refusesWhatIsNoARN() {
        for text in [
            "", "arn", "arn:aws:states", "arn:aws:states:us-east-1:1", "urn:aws:s3:::bucket", "arn::s3:::bucket",
            "arn:aws::us-east-1:1:x", "arn:aws:s3:::",
        ] {
            #expect(ARN(text) == nil, "\(text)")
        }
    }
}
