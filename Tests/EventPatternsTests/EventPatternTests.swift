import JSONCore
import Testing

@testable import EventPatterns

@Suite struct EventPatternTests {
    static let event: JSON = [
        "version": "0", "id": "e1", "source": "aws.ecs", "detail-type": "ECS Task State Change", "account": "000000000000",
        "region": "us-east-1", "time": "2026-11-24T10:00:00Z", "resources": ["arn:aws:ecs:us-east-1:000000000000:task/c/1"],
        "detail": [
            "lastStatus": "STOPPED", "exitCode": 42, "ratio": 0.5, "group": "family:nightly", "tags": ["a", "b"],
            "sourceIPAddress": "10.0.1.17", "v6": "2001:db8::1", "file": "logs/2026/app.PNG", "owner": .null, "ok": true,
            "empty": "", "none": [],
            "containers": [["name": "app", "exitCode": 0], ["name": "sidecar", "exitCode": 137]],
        ],
    ]

    func m(_ pattern: String) throws -> Bool { try EventPattern(pattern).matches(Self.event) }

    @Test(arguments: [
        // Exact values, and arrays in events matching any element.
        (#"{"source":["aws.ecs"]}"#, true),
        (#"{"source":["aws.states"]}"#, false),
        (#"{"source":["aws.states","aws.ecs"],"detail-type":["ECS Task State Change"]}"#, true),
        (#"{"detail":{"tags":["b"]}}"#, true),
        (#"{"detail":{"exitCode":[42]}}"#, true),
        (#"{"detail":{"exitCode":[42.0]}}"#, true),
        (#"{"detail":{"exitCode":["42"]}}"#, false),
        (#"{"detail":{"owner":[null]}}"#, true),
        (#"{"detail":{"ok":[true]}}"#, true),
        (#"{"detail":{"empty":[""]}}"#, true),
        (#"{"detail":{"missing":["x"]}}"#, false),
        // prefix / suffix / equals-ignore-case, plain and ignoring case.
        (#"{"detail":{"group":[{"prefix":"family:"}]}}"#, true),
        (#"{"detail":{"group":[{"prefix":"FAMILY:"}]}}"#, false),
        (#"{"detail":{"group":[{"prefix":{"equals-ignore-case":"FAMILY:"}}]}}"#, true),
        (#"{"detail":{"file":[{"suffix":".png"}]}}"#, false),
        (#"{"detail":{"file":[{"suffix":{"equals-ignore-case":".png"}}]}}"#, true),
        (#"{"detail":{"lastStatus":[{"equals-ignore-case":"stopped"}]}}"#, true),
        (#"{"detail":{"exitCode":[{"prefix":"4"}]}}"#, false),
        // wildcard.
        (#"{"detail-type":[{"wildcard":"ECS * Change"}]}"#, true),
        (#"{"detail":{"file":[{"wildcard":"logs/*/app.*"}]}}"#, true),
        (#"{"detail":{"file":[{"wildcard":"logs/*/db.*"}]}}"#, false),
        // anything-but: values, lists, and the nested forms.
        (#"{"detail":{"lastStatus":[{"anything-but":"RUNNING"}]}}"#, true),
        (#"{"detail":{"lastStatus":[{"anything-but":["RUNNING","STOPPED"]}]}}"#, false),
        (#"{"detail":{"exitCode":[{"anything-but":[0,1]}]}}"#, true),
        (#"{"detail":{"exitCode":[{"anything-but":42}]}}"#, false),
        (#"{"region":[{"anything-but":{"prefix":"us-"}}]}"#, false),
        (#"{"region":[{"anything-but":{"prefix":["eu-","ap-"]}}]}"#, true),
        (#"{"detail":{"file":[{"anything-but":{"suffix":".PNG"}}]}}"#, false),
        (#"{"detail":{"lastStatus":[{"anything-but":{"equals-ignore-case":["running","pending"]}}]}}"#, true),
        (#"{"detail":{"lastStatus":[{"anything-but":{"equals-ignore-case":"stopped"}}]}}"#, false),
        (#"{"detail":{"file":[{"anything-but":{"wildcard":"*/2026/*"}}]}}"#, false),
        (#"{"detail":{"missing":[{"anything-but":"x"}]}}"#, false),
        // numeric.
        (#"{"detail":{"exitCode":[{"numeric":[">",0,"<=",255]}]}}"#, true),
        (#"{"detail":{"exitCode":[{"numeric":["=",0]}]}}"#, false),
        (#"{"detail":{"ratio":[{"numeric":[">=",0.5]}]}}"#, true),
        (#"{"detail":{"ratio":[{"numeric":["<",0.5]}]}}"#, false),
        // exists: leaf values only.
        (#"{"detail":{"lastStatus":[{"exists":true}],"missing":[{"exists":false}]}}"#, true),
        (#"{"detail":{"missing":[{"exists":true}]}}"#, false),
        (#"{"detail":{"owner":[{"exists":true}]}}"#, true),
        (#"{"detail":{"none":[{"exists":false}]}}"#, true),
        (#"{"detail":{"containers":[{"exists":true}]}}"#, false),
        (#"{"nothing":{"below":[{"exists":false}]}}"#, true),
        // cidr.
        (#"{"detail":{"sourceIPAddress":[{"cidr":"10.0.0.0/16"}]}}"#, true),
        (#"{"detail":{"sourceIPAddress":[{"cidr":"10.0.0.0/24"}]}}"#, false),
        (#"{"detail":{"sourceIPAddress":[{"cidr":"10.0.1.17"}]}}"#, true),
        (#"{"detail":{"v6":[{"cidr":"2001:db8::/32"}]}}"#, true),
        (#"{"detail":{"v6":[{"cidr":"2001:db9::/32"}]}}"#, false),
        (#"{"detail":{"v6":[{"cidr":"10.0.0.0/8"}]}}"#, false),
        // Nested patterns over arrays of objects: all fields within one element.
        (#"{"detail":{"containers":{"name":["sidecar"],"exitCode":[137]}}}"#, true),
        (#"{"detail":{"containers":{"name":["app"],"exitCode":[137]}}}"#, false),
        // $or, at any level and nested.
        (#"{"$or":[{"source":["x"]},{"detail-type":[{"wildcard":"ECS * Change"}]}]}"#, true),
        (#"{"source":["aws.ecs"],"$or":[{"detail":{"exitCode":[0]}},{"detail":{"lastStatus":["RUNNING"]}}]}"#, false),
        (#"{"detail":{"$or":[{"exitCode":[{"numeric":[">",100]}]},{"ok":[false]}]}}"#, false),
        (#"{"detail":{"$or":[{"exitCode":[{"numeric":[">",10]}]},{"ok":[false]}]}}"#, true),
    ])
    func matching(_ pattern: String, _ expected: Bool) throws {
        #expect(try m(pattern) == expected, "\(pattern)")
    }

    @Test(arguments: [
        ("[1]", "Filter is not an object"),
        ("{", "not valid JSON"),
        (#"{"source":"aws.ecs"}"#, "Match value must be String, number, true, false, or null"),
        (#"{"source":[]}"#, "Empty arrays are not allowed"),
        (#"{"source":[["a"]]}"#, "Match value must be"),
        (#"{"source":[{"bogus":1}]}"#, "Unrecognized match type bogus"),
        (#"{"source":[{"prefix":1}]}"#, "prefix match pattern must be a string"),
        (#"{"source":[{"exists":"yes"}]}"#, "exists match pattern must be either true or false."),
        (#"{"n":[{"numeric":">"}]}"#, "Value of numeric must be an array."),
        (#"{"n":[{"numeric":["~",1]}]}"#, "Unrecognized numeric range operator"),
        (#"{"n":[{"numeric":[">",10,"<",5]}]}"#, "Bottom must be less than top"),
        (#"{"n":[{"numeric":[">",1,">",2]}]}"#, "Too many elements"),
        (#"{"n":[{"anything-but":[true]}]}"#, "Inside anything but list"),
        (#"{"n":[{"anything-but":{"numeric":[">",1]}}]}"#, "Unsupported anything-but pattern: numeric"),
        (#"{"n":[{"wildcard":"a**b"}]}"#, "Consecutive wildcard characters at pos 2"),
        (#"{"n":[{"cidr":"10.0.0.0/33"}]}"#, "Nonstandard IP address"),
        (#"{"n":[{"cidr":"300.0.0.1"}]}"#, "Nonstandard IP address"),
        (#"{"$or":[{"a":["b"]}]}"#, "at least two objects"),
        (#"{"detail":{}}"#, "Empty objects are not allowed"),
    ])
    func refusals(_ pattern: String, _ reason: String) {
        do {
            _ = try EventPattern(pattern)
            Issue.record("\(pattern) was accepted")
        } catch {
            #expect(error.reason.contains(reason), "\(error.reason)")
        }
    }

    @Test func ipv6Forms() {
        #expect(IPAddress("::1")?.bytes == Array(repeating: 0, count: 15) + [1])
        #expect(IPAddress("::ffff:10.0.0.1")?.bytes.suffix(4) == [10, 0, 0, 1])
        #expect(IPAddress("1:2:3:4:5:6:7:8:9") == nil)
        #expect(IPAddress("1::2::3") == nil)
        #expect(IPAddress("010.0.0.1") == nil)
        #expect(CIDRBlock("fe80::/10")?.contains(IPAddress("fe80::1")!) == true)
        #expect(CIDRBlock("fe80::/10")?.contains(IPAddress("fec0::1")!) == false)
        #expect(CIDRBlock("0.0.0.0/0")?.contains(IPAddress("8.8.8.8")!) == true)
    }
}
