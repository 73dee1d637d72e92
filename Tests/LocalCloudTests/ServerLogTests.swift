import Foundation
import JSONCore
import Logging
import Testing

@testable import LocalCloud

/// The server log's two forms: a readable line (message, then logfmt pairs) and one JSON object per line.
@Suite struct ServerLogTests {
    let time = Date(timeIntervalSince1970: 1_796_683_201.123)  // 2026-12-07T22:40:01.123Z

    @Test func textLineIsMessageThenPairsWithTheSubjectFirst() {
        let line = ServerLogHandler.line(
            format: .text, time: time, level: .info, message: "ECS task stopped",
            metadata: [
                "region": "us-east-1", "exit-codes": "app:0", "task": "3f2a", "service": "ecs", "zone": "z", "alpha": "a",
            ])
        #expect(
            line
                == "2026-12-07T22:40:01.123Z info     ECS task stopped service=ecs task=3f2a exit-codes=app:0 region=us-east-1 alpha=a zone=z\n"
        )
    }

    @Test func textValuesWithSpacesQuotesOrControlsAreQuoted() {
        let line = ServerLogHandler.line(
            format: .text, time: time, level: .error, message: "m",
            metadata: [
                "reason": "Essential container exited", "error": "say \"no\"\nnow", "empty": "", "eq": "a=b",
            ])
        #expect(line.hasSuffix(#" m error="say \"no\"\nnow" reason="Essential container exited" empty="" eq="a=b""# + "\n"))
        #expect(!line.dropLast().contains("\n"), "one event, one line")
    }

    @Test func jsonLineIsOneObjectWithTimeLevelMessageAndMetadata() throws {
        let line = ServerLogHandler.line(
            format: .json, time: time, level: .notice, message: "execution ended",
            metadata: [
                "status": "SUCCEEDED", "containers": .array(["app", "sidecar"]), "message": "not the message",
            ])
        #expect(line.hasSuffix("\n") && line.filter { $0 == "\n" }.count == 1)
        let object = try JSON(parsing: String(line.dropLast()))
        #expect(object["time"] == "2026-12-07T22:40:01.123Z")
        #expect(object["level"] == "notice")
        #expect(object["message"] == "execution ended", "metadata never overwrites the line's own fields")
        #expect(object["status"] == "SUCCEEDED")
        #expect(object["containers"] == ["app", "sidecar"])
    }

    @Test func timestampsKeepMillisecondsAndPadThem() {
        #expect(ServerLogHandler.timestamp(Date(timeIntervalSince1970: 0.007)) == "1970-01-01T00:00:00.007Z")
        #expect(ServerLogHandler.timestamp(Date(timeIntervalSince1970: 951_782_400.05)) == "2000-02-29T00:00:00.050Z")
    }

    @Test func handlerWritesWholeLinesToItsDescriptor() throws {
        var descriptors: [Int32] = [0, 0]
        #expect(pipe(&descriptors) == 0)
        defer { close(descriptors[0]) }
        var handler = ServerLogHandler(format: .text, output: ServerLogOutput(descriptor: descriptors[1]))
        handler[metadataKey: "request-id"] = "r1"
        let logger = Logger(label: "test") { _ in handler }
        logger.info("request", metadata: ["service": "ecs"])
        logger.debug("not written: below the level")
        close(descriptors[1])
        var bytes = [UInt8](repeating: 0, count: 4096)
        let count = read(descriptors[0], &bytes, bytes.count)
        let text = String(decoding: bytes[0..<max(0, count)], as: UTF8.self)
        #expect(text.hasSuffix(" info     request service=ecs request-id=r1\n"))
        #expect(text.filter { $0 == "\n" }.count == 1)
    }
}
