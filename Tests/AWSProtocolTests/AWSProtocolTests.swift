import Foundation
import JSONCore
import Testing

@testable import AWSProtocol

@Suite struct SigV4Tests {
    @Test func readsTheCredentialScope() throws {
        let header =
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240102/eu-west-1/states/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc123"
        let credential = try #require(try SigV4Credential.parse(authorization: header))
        #expect(
            credential
                == SigV4Credential(
                    accessKeyId: "AKIDEXAMPLE", date: "20240102", region: "eu-west-1", service: "states",
                    signedHeaders: ["host", "x-amz-date"], signature: "abc123"))
    }

    @Test func absentHeaderIsAnonymous() throws {
        #expect(try SigV4Credential.parse(authorization: nil) == nil)
    }

    @Test(arguments: [
        "Basic dXNlcjpwYXNz",
        "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=abc",
        "AWS4-HMAC-SHA256 Credential=AKID/2024/us-east-1/states/aws4_request, SignedHeaders=host, Signature=a",
        "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/states, SignedHeaders=host, Signature=a",
    ])
    func malformedHeadersAreIncompleteSignatures(_ header: String) {
        #expect {
            try SigV4Credential.parse(authorization: header)
        } throws: { ($0 as? AWSError)?.code == "IncompleteSignatureException" }
    }

    @Test func readsPresignedQueries() throws {
        let credential = try SigV4Credential.parse(presignedQuery: [
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Credential": "AKID/20240101/us-west-2/ecs/aws4_request",
        ])
        #expect(credential?.region == "us-west-2")
        #expect(credential?.service == "ecs")
    }
}

@Suite struct ValidationTests {
    enum Kind: ModeledEnum {
        case a, b
        case unmodeled(String)
        static let allCases: [Kind] = [.a, .b]
        init(rawValue: String) { self = rawValue == "A" ? .a : rawValue == "B" ? .b : .unmodeled(rawValue) }
        var rawValue: String {
            switch self {
            case .a: "A"
            case .b: "B"
            case .unmodeled(let value): value
            }
        }
    }

    struct Sample: ShapeDecodable {
        var name: String
        var count: Int?
        var kind: Kind?
        var tags: [String]?
        static var empty: Sample { Sample(name: "") }
        init(name: String, count: Int? = nil, kind: Kind? = nil, tags: [String]? = nil) {
            self.name = name
            self.count = count
            self.kind = kind
            self.tags = tags
        }
        init(json: JSON, decoder d: inout ShapeDecoder, path: String) throws(AWSError) {
            let o = try d.object(json, path: path)
            let rawName = try d.string(o["name"], path: "name")
            d.length(rawName, min: 1, max: 5, path: "name")
            name = d.required(rawName, path: "name", empty: "")
            count = try d.integer(o["count"], path: "count")
            d.range(count, min: 1, max: 10, path: "count")
            kind = try d.enumeration(o["kind"], as: Kind.self, path: "kind")
            tags = try d.list(o["tags"], path: "tags") { v, d, p throws(AWSError) in try d.string(v, path: p) }
        }
    }

    func decode(_ text: String) throws -> Sample {
        var decoder = ShapeDecoder()
        let value = try Sample(json: try JSON(parsing: text), decoder: &decoder, path: "")
        if let error = decoder.report.error { throw error }
        return value
    }

    @Test func acceptsValidInput() throws {
        let sample = try decode(#"{"name":"abc","count":3,"kind":"A","tags":["x"]}"#)
        #expect(sample.name == "abc")
        #expect(sample.kind == .a)
        #expect(sample.tags == ["x"])
    }

    @Test func reportsEveryViolationInAWSWording() {
        #expect {
            try decode(#"{"count":30,"kind":"C"}"#)
        } throws: { error in
            let error = error as! AWSError
            return error.code == "ValidationException"
                && error.message == "3 validation errors detected: "
                    + "Value null at 'name' failed to satisfy constraint: Member must not be null; "
                    + "Value '30' at 'count' failed to satisfy constraint: Member must have value less than or equal to 10; "
                    + "Value 'C' at 'kind' failed to satisfy constraint: Member must satisfy enum value set: [A, B]"
        }
    }

    @Test func reportsLengths() {
        #expect {
            try decode(#"{"name":"toolong"}"#)
        } throws: { error in
            (error as! AWSError).message
                == "1 validation error detected: Value 'toolong' at 'name' failed to satisfy constraint: Member must have length less than or equal to 5"
        }
    }

    @Test func wrongTypesAreSerializationErrors() {
        #expect { try decode(#"{"name":5}"#) } throws: { ($0 as! AWSError).code == "SerializationException" }
        #expect { try decode(#"{"name":"a","tags":"x"}"#) } throws: { ($0 as! AWSError).code == "SerializationException" }
        #expect { try decode(#"{"name":"a","count":1.5}"#) } throws: { ($0 as! AWSError).code == "SerializationException" }
    }

    /// The words of AWS's JSON front ends, which SDK users search for.
    @Test func wrongTypesAreWordedAsAWS() {
        func message(_ text: String) -> String? {
            do { _ = try decode(text); return nil } catch { return (error as? AWSError)?.message }
        }
        #expect(message(#"{"name":5}"#) == "NUMBER_VALUE can not be converted to a String")
        #expect(message(#"{"name":"a","count":"3"}"#) == "STRING_VALUE can not be converted to an Integer")
        #expect(message(#"{"name":"a","count":true}"#) == "TRUE_VALUE can not be converted to an Integer")
        #expect(message(#"{"name":"a","tags":{"x":1}}"#) == "Start of structure or map found where not expected.")
        #expect(message(#"{"name":["a"]}"#) == "Start of list found where not expected.")
    }

    @Test func lengthsCountUnicodeScalars() throws {
        // "é" written as e + combining acute is one Character but two scalars; Smithy counts scalars.
        #expect(throws: AWSError.self) { try decode(#"{"name":"abcde\u0301"}"#) }
        #expect(try decode(#"{"name":"abcd\u00e9"}"#).name == "abcdé")
    }

    @Test func patternsMatchTheWholeValue() {
        var decoder = ShapeDecoder()
        decoder.pattern("good-name_1.x", #"[\.\-_A-Za-z0-9]+"#, path: "name")
        #expect(decoder.report.isEmpty)
        decoder.pattern("bad name", #"[\.\-_A-Za-z0-9]+"#, path: "name")
        #expect(
            decoder.report.error?.message
                == #"1 validation error detected: Value 'bad name' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [\.\-_A-Za-z0-9]+"#
        )
    }
}

@Suite struct RestJSONCodecTests {
    struct Listing: ShapeDecodable {
        var name: String
        var maxResults: Int?
        var flag: Bool?
        var tagKeys: [String]?
        var window: Int?
        static let httpBindings = [
            HTTPBinding(member: "Name", location: .uri, name: "Name"),
            HTTPBinding(member: "MaxResults", location: .querystring, name: "MaxResults", kind: .integer),
            HTTPBinding(member: "Flag", location: .querystring, name: "flag", kind: .boolean),
            HTTPBinding(member: "TagKeys", location: .querystring, name: "TagKeys", kind: .list),
        ]
        static var empty: Listing { Listing(name: "") }
        init(name: String) { self.name = name }
        init(json: JSON, decoder d: inout ShapeDecoder, path: String) throws(AWSError) {
            let o = try d.object(json, path: path)
            name = d.required(try d.string(o["Name"], path: "name"), path: "name", empty: "")
            maxResults = try d.integer(o["MaxResults"], path: "maxResults")
            flag = try d.boolean(o["Flag"], path: "flag")
            tagKeys = try d.list(o["TagKeys"], path: "tagKeys") { v, d, p throws(AWSError) in try d.string(v, path: p) }
            window = try d.integer(o["Window"], path: "window")
        }
    }
    let descriptor = ServiceDescriptor(
        endpointPrefix: "t", signingName: "t", targetPrefix: nil, wireProtocol: .restJson, apiVersion: "1",
        xmlNamespace: nil, operations: [], routes: [])

    func decode(query: [String: [String]] = [:], body: String = "") throws -> Listing {
        var request = OperationRequest(method: "GET", path: "/things/a", query: query, body: Array(body.utf8))
        request.pathParameters = ["Name": "a"]
        return try ProtocolCodec.decode(Listing.self, from: request, descriptor: descriptor)
    }

    @Test func boundValuesTakeTheirMembersTypes() throws {
        let listing = try decode(query: ["MaxResults": ["5"], "flag": ["true"], "TagKeys": ["k"]])
        #expect(listing.name == "a")
        #expect(listing.maxResults == 5)
        #expect(listing.flag == true)
        #expect(listing.tagKeys == ["k"])
        #expect(try decode(query: ["TagKeys": ["k", "l"]]).tagKeys == ["k", "l"])
    }

    @Test func badBoundValuesAreRefused() {
        #expect { try decode(query: ["MaxResults": ["five"]]) } throws: {
            ($0 as? AWSError)?.message == "Value 'five' of query parameter 'MaxResults' can not be converted to an Integer"
        }
    }

    /// Only path, query and header values arrive as text: a body member of the wrong type is refused.
    @Test func theBodyStaysStrict() {
        #expect { try decode(body: #"{"Window":"5"}"#) } throws: {
            ($0 as? AWSError)?.message == "STRING_VALUE can not be converted to an Integer"
        }
    }
}

@Suite struct QueryFormTests {
    @Test func buildsATreeFromFlattenedNames() {
        let pairs = QueryForm.parse("Action=Tag&Version=1&Name=a+b&Tags.member.1.Key=k%3D1&Tags.member.1.Value=v&Tags.member.2.Key=z")
        let tree = QueryForm.tree(pairs)
        #expect(tree == ["Name": "a b", "Tags": ["member": ["1": ["Key": "k=1", "Value": "v"], "2": ["Key": "z"]]]])
    }

    @Test func lenientDecoderReadsQueryLists() throws {
        var decoder = ShapeDecoder(lenientScalars: true)
        let tree: JSON = ["member": ["2": "b", "1": "a"]]
        let list = try decoder.list(tree, path: "x") { v, d, p throws(AWSError) in try d.string(v, path: p) }
        #expect(list == ["a", "b"])
        #expect(try decoder.integer(.string("42"), path: "n") == 42)
    }
}

@Suite struct ErrorWriterTests {
    @Test func writesJSONErrors() throws {
        let response = ErrorWriter.response(for: AWSError("StateMachineDoesNotExist", "gone"), protocol: .awsJson1_0, requestId: "r1")
        #expect(response.status == 400)
        #expect(try JSON(parsing: response.body) == ["__type": "StateMachineDoesNotExist", "message": "gone"])
        #expect(response.headers.contains { $0 == ("x-amzn-ErrorType", "StateMachineDoesNotExist") })
        #expect(response.headers.contains { $0 == ("x-amzn-RequestId", "r1") })
    }

    @Test func writesQueryErrorsAsXML() {
        let response = ErrorWriter.response(
            for: AWSError("InvalidAction", "bad <action>"), protocol: .query, requestId: "r2", xmlNamespace: "https://x/")
        #expect(
            String(decoding: response.body, as: UTF8.self)
                == #"<ErrorResponse xmlns="https://x/"><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>bad &lt;action&gt;</Message></Error><RequestId>r2</RequestId></ErrorResponse>"#
        )
    }
}

@Suite struct RestRouteTests {
    @Test func matchesLabelsAndQueries() {
        let route = RestRoute(method: "GET", uri: "/schedules/{Name}", operation: "GetSchedule")
        #expect(route.match(method: "GET", path: "/schedules/nightly", query: [:]) == ["Name": "nightly"])
        #expect(route.match(method: "GET", path: "/schedules/a%3Ab", query: [:]) == ["Name": "a:b"])
        #expect(route.match(method: "DELETE", path: "/schedules/nightly", query: [:]) == nil)
        #expect(route.match(method: "GET", path: "/schedules", query: [:]) == nil)
        let tags = RestRoute(method: "GET", uri: "/tags/{ResourceArn+}?x", operation: "ListTags")
        #expect(tags.match(method: "GET", path: "/tags/arn/a/b", query: ["x": [""]]) == ["ResourceArn": "arn/a/b"])
        #expect(tags.match(method: "GET", path: "/tags/arn/a/b", query: [:]) == nil)
    }
}

/// Signatures checked against AWS's SigV4 test suite (get-vanilla) and against botocore's SigV4Auth for the
/// same requests (the expected values were computed by botocore).
@Suite struct SigV4SignerTests {
    let signer = { (service: String) in
        SigV4Signer(
            accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", region: "us-east-1", service: service)
    }
    let date = Date(timeIntervalSince1970: 1_440_938_160)  // 2015-08-30T12:36:00Z

    @Test func signsAWSsGetVanillaExample() {
        let headers = signer("service").signatureHeaders(
            method: "GET", path: "/", headers: ["Host": "example.amazonaws.com"], body: [], date: date)
        #expect(headers["X-Amz-Date"] == "20150830T123600Z")
        #expect(
            headers["Authorization"]
                == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        )
    }

    @Test func sortsTheQueryAsBotocoreDoes() {
        let headers = signer("service").signatureHeaders(
            method: "GET", path: "/", query: [("Param2", "value2"), ("Param1", "value1")],
            headers: ["Host": "example.amazonaws.com"], body: [], date: date)
        #expect(headers["Authorization"]?.hasSuffix("Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500") == true)
    }

    @Test func encodesAnEncodedPathOnceMoreAsBotocoreDoes() {
        let headers = signer("scheduler").signatureHeaders(
            method: "POST", path: "/schedules/nightly%20job", headers: ["Host": "127.0.0.1:4566"],
            body: Array(#"{"a":1}"#.utf8), date: date)
        #expect(
            headers["Authorization"]
                == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/scheduler/aws4_request, SignedHeaders=host;x-amz-date, Signature=94e5f497f3a7070168bd3e2adfed0fb413e9de3993518c9d9f3cd34ec24f995c"
        )
    }

    @Test func signsTheSessionToken() {
        var signer = signer("sts")
        signer.sessionToken = "token"
        let headers = signer.signatureHeaders(method: "POST", path: "/", headers: ["Host": "h"], body: [], date: date)
        #expect(headers["X-Amz-Security-Token"] == "token")
        #expect(headers["Authorization"]?.contains("SignedHeaders=host;x-amz-date;x-amz-security-token,") == true)
    }
}

@Suite struct ByteSearchTests {
    @Test func findsWhatContainsFinds() {
        let cases: [(String, String)] = [
            ("arn:aws:states:us-east-1:1:stateMachine:m", ":stateMachine:"), ("application/x-amz-json-1.0", "json-1.0"),
            ("abc", ""), ("", "a"), ("ab", "abc"), ("aab", "ab"), ("abab", "bab"), ("ab", "ba"), ("日本語", "本"),
            ("x:stateMachin", ":stateMachine:"),
        ]
        for (whole, part) in cases {
            #expect(whole.containsBytes(part) == (part.isEmpty || whole.contains(part)), "\(whole) / \(part)")
        }
    }
}
