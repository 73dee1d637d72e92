import Crypto
import Foundation
import JSONCore

/// One message of an AWS Systems Manager Session Manager data channel (the "MGS" protocol that ECS Exec's sessions
/// speak between `session-manager-plugin` and the SSM agent), as binary WebSocket frames carry it:
///
/// ```
/// | header length (4) | message type (32, space-padded) | schema version (4) | created date (8, epoch ms) |
/// | sequence number (8) | flags (8) | message id (16) | payload digest (32, SHA-256) | payload type (4) |
/// | payload length (4) | payload |
/// ```
///
/// Integers are big-endian. The message id is a UUID whose two halves are swapped (the least significant eight bytes
/// first), as the plugin writes it. The local cloud's sessions and Skiff's own plugin both use this type, so that the
/// AWS CLI's `session-manager-plugin` (AWS's or Skiff's) talks to the local cloud as it talks to AWS.
public struct SessionMessage: Sendable, Equatable {
    public var messageType: String
    public var schemaVersion: UInt32
    /// Milliseconds since 1970.
    public var createdDate: UInt64
    public var sequenceNumber: Int64
    public var flags: UInt64
    public var messageId: UUID
    public var payloadType: UInt32
    public var payload: [UInt8]

    public init(
        messageType: String, sequenceNumber: Int64 = 0, flags: UInt64 = 0, payloadType: UInt32 = 0, payload: [UInt8] = [],
        messageId: UUID = UUID(), createdDate: UInt64 = UInt64(Date().timeIntervalSince1970 * 1000), schemaVersion: UInt32 = 1
    ) {
        self.messageType = messageType
        self.schemaVersion = schemaVersion
        self.createdDate = createdDate
        self.sequenceNumber = sequenceNumber
        self.flags = flags
        self.messageId = messageId
        self.payloadType = payloadType
        self.payload = payload
    }

    /// The length of the header before the payload length: what the header-length field holds.
    static let headerLength = 116
    static let messageTypeLength = 32

    // MARK: Message types

    public static let inputStreamData = "input_stream_data"
    public static let outputStreamData = "output_stream_data"
    public static let acknowledge = "acknowledge"
    public static let channelClosed = "channel_closed"
    public static let startPublication = "start_publication"
    public static let pausePublication = "pause_publication"

    /// What a stream data message's payload is.
    public enum PayloadType: UInt32, Sendable {
        case output = 1, error = 2, size = 3, parameter = 4
        case handshakeRequest = 5, handshakeResponse = 6, handshakeComplete = 7
        case encryptionChallengeRequest = 8, encryptionChallengeResponse = 9
        case flag = 10, standardError = 11, exitCode = 12
    }

    /// The values of a `flag` payload (a big-endian 32-bit integer).
    public enum Flag: UInt32, Sendable {
        case disconnectToPort = 1, terminateSession = 2, connectToPortError = 3
        /// Skiff's own: the client's input ended (`skiff exec -i` reading a file), so the command's input pipe closes.
        case endOfInput = 100
    }

    // MARK: Encoding

    public func serialized() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.headerLength + 4 + payload.count)
        Self.append(UInt32(Self.headerLength), to: &bytes)
        var type = Array(messageType.utf8.prefix(Self.messageTypeLength))
        type += Array(repeating: UInt8(ascii: " "), count: Self.messageTypeLength - type.count)
        bytes += type
        Self.append(schemaVersion, to: &bytes)
        Self.append(createdDate, to: &bytes)
        Self.append(UInt64(bitPattern: sequenceNumber), to: &bytes)
        Self.append(flags, to: &bytes)
        let id = Self.bytes(of: messageId)
        bytes += id[8..<16]
        bytes += id[0..<8]
        bytes += Array(SHA256.hash(data: payload))
        Self.append(payloadType, to: &bytes)
        Self.append(UInt32(payload.count), to: &bytes)
        bytes += payload
        return bytes
    }

    public struct Malformed: Error, CustomStringConvertible {
        public var description: String
    }

    /// Parses a message, checking its lengths and its payload's digest.
    public init(parsing bytes: [UInt8]) throws(Malformed) {
        guard bytes.count >= Self.headerLength + 4 else {
            throw Malformed(description: "a session message has at least \(Self.headerLength + 4) bytes; this one has \(bytes.count)")
        }
        let headerLength = Int(Self.integer(bytes, at: 0, size: 4))
        guard headerLength >= Self.headerLength, headerLength + 4 <= bytes.count else {
            throw Malformed(description: "the header length \(headerLength) does not fit the message")
        }
        let typeBytes = bytes[4..<(4 + Self.messageTypeLength)].filter { $0 != 0 }
        messageType = String(decoding: typeBytes, as: UTF8.self).trimmingCharacters(in: .whitespaces)
        schemaVersion = UInt32(Self.integer(bytes, at: 36, size: 4))
        createdDate = Self.integer(bytes, at: 40, size: 8)
        sequenceNumber = Int64(bitPattern: Self.integer(bytes, at: 48, size: 8))
        flags = Self.integer(bytes, at: 56, size: 8)
        let id = Array(bytes[72..<80]) + Array(bytes[64..<72])
        messageId = UUID(
            uuid: (id[0], id[1], id[2], id[3], id[4], id[5], id[6], id[7], id[8], id[9], id[10], id[11], id[12], id[13], id[14], id[15]))
        let digest = Array(bytes[80..<112])
        payloadType = UInt32(Self.integer(bytes, at: 112, size: 4))
        let length = Int(Self.integer(bytes, at: headerLength, size: 4))
        let start = headerLength + 4
        guard length == bytes.count - start else {
            throw Malformed(description: "the payload length \(length) is not the \(bytes.count - start) bytes that follow")
        }
        payload = Array(bytes[start...])
        guard
            messageType == Self.startPublication || messageType == Self.pausePublication || payload.isEmpty
                || Array(SHA256.hash(data: payload)) == digest
        else {
            throw Malformed(description: "the payload's digest does not match it")
        }
    }

    private static func append<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    private static func integer(_ bytes: [UInt8], at offset: Int, size: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in offset..<(offset + size) { value = value << 8 | UInt64(bytes[index]) }
        return value
    }

    private static func bytes(of id: UUID) -> [UInt8] {
        withUnsafeBytes(of: id.uuid) { Array($0) }
    }

    // MARK: Messages of the protocol

    /// The id as the plugin writes it in acknowledgements: lower case, with hyphens.
    public var messageIdText: String { messageId.uuidString.lowercased() }

    /// The acknowledgement of a stream data message (`acknowledge`, flags 3), which each side sends for each such
    /// message of the other's it has taken.
    public static func acknowledgement(of message: SessionMessage) -> SessionMessage {
        let content: JSON = [
            "AcknowledgedMessageType": .string(message.messageType),
            "AcknowledgedMessageId": .string(message.messageIdText),
            "AcknowledgedMessageSequenceNumber": .number(Double(message.sequenceNumber)),
            "IsSequentialMessage": true,
        ]
        return SessionMessage(messageType: acknowledge, flags: 3, payload: content.serializedBytes())
    }

    /// The sequence number an `acknowledge` message acknowledges.
    public var acknowledgedSequenceNumber: Int64? {
        guard messageType == Self.acknowledge, let content = try? JSON(parsing: payload),
            let number = content["AcknowledgedMessageSequenceNumber"]?.numberValue
        else { return nil }
        return Int64(exactly: number)
    }

    /// The flag a `flag` payload carries.
    public var flag: Flag? {
        guard payloadType == PayloadType.flag.rawValue, payload.count == 4 else { return nil }
        return Flag(rawValue: UInt32(Self.integer(payload, at: 0, size: 4)))
    }

    /// A `flag` payload.
    public static func flagPayload(_ flag: Flag) -> [UInt8] {
        var bytes: [UInt8] = []
        append(flag.rawValue, to: &bytes)
        return bytes
    }
}
